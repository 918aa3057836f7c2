"""`python -m bench updates` still runs end to end (a few updates, SQLite only) and ends with
one JSON object carrying the figures the README quotes."""

from __future__ import annotations

import json

import pytest

from bench import updates

pytestmark = pytest.mark.slow


def test_bench_prints_its_figures_as_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert updates.main(["--updates", "40", "--warmup", "10", "--no-postgres"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = json.loads(last)
    for backend in ("sqlite", "echo_bot"):
        assert figures[backend]["updates"] == 40
        assert figures[backend]["updates_per_s"] > 0 and figures[backend]["p99_ms"] >= figures[backend]["p50_ms"]
    assert set(figures["sqlite"]["by_kind"]) <= set(updates.MIX) and figures["sqlite"]["by_kind"]
    assert figures["postgresql"] == {"skipped": "--no-postgres"}
