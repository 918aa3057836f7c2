"""A benchmark that meets a refusal or an error exits non-zero (`python -m bench`), and
`bench ledger` checks that what it timed happened (end balances against its plan)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from bench import ledger
from bench.__main__ import main
from bench.common import Refused, check


def test_a_refused_benchmark_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = types.ModuleType("bench_refusing")

    def refusing(argv: list[str]) -> int:
        check(False, "approve met nothing pending")
        return 0

    fake.main = refusing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bench_refusing", fake)
    monkeypatch.setitem(main.__globals__["BENCHMARKS"], "refusing", "bench_refusing")
    assert main(["refusing"]) == 1
    assert "approve met nothing pending" in capsys.readouterr().err
    with pytest.raises(Refused):
        check(0, "nothing")


def test_ledger_bench_reports_ratio_and_checks_the_end_state(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["ledger", "--ops", "40", "--repeats", "1", "--warmup", "10", "--slice", "10", "--no-postgres"]
    assert main(args) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["sqlite"]["ratio"] > 0 and figures["sqlite"]["balances_checked"]
    assert sum(figures["mix_ran_total"].values()) == 40

    # A plan that says one more point was earned than the run made: the check must catch it.
    honest = ledger.expected_balances

    def one_more(plans: list[list[ledger.Op]]) -> dict[int, tuple[int, int]]:
        found = honest(plans)
        posted, pending = found[0]
        return {**found, 0: (posted + 1, pending)}

    monkeypatch.setattr(ledger, "expected_balances", one_more)
    assert main(args) == 1
    assert "balances differ from the plan" in capsys.readouterr().err
