"""`python -m bench wechat` still runs end to end (a few people, SQLite only) and ends with one
JSON object carrying the figures the README quotes."""

from __future__ import annotations

import json

import pytest

from bench import wechat

pytestmark = pytest.mark.slow


def test_bench_prints_its_figures_as_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert wechat.main(["--people", "4", "--per-person", "3", "--concurrency", "2", "--no-postgres"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    assert sqlite["messages"] == 12 and sqlite["passive_replies"] == 12
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"] <= sqlite["max_ms"]
    assert figures["postgresql"] == "skipped (--no-postgres)"
