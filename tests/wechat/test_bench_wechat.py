"""`python -m bench wechat` still runs end to end (a few people, SQLite only) and ends with one
JSON object carrying the figures the README quotes: latency, and the shares of the day's
notifications by how they reached people."""

from __future__ import annotations

import json

import pytest

from bench import wechat

pytestmark = pytest.mark.slow


def test_bench_prints_its_figures_as_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert wechat.main(["--people", "4", "--per-person", "3", "--concurrency", "2", "--no-postgres"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    assert sqlite["messages"] == 12 + 2 and sqlite["passive_replies"] == 12 + 2  # and the two workers, once
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"] <= sqlite["max_ms"]
    assert figures["postgresql"] == "skipped (--no-postgres)"
    notes = sqlite["notifications"]  # the day's notifications, every one accounted for
    assert notes["total"] > 0
    assert sum(
        notes[k] for k in ("by_message", "by_template", "by_reply", "waiting_for_next_message")
    ) == pytest.approx(1.0, abs=0.01)
