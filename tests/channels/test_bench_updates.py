"""`python -m bench updates` still runs end to end (a few updates on a small district, SQLite
only), ends with one JSON object carrying the figures the README quotes, and is honest: every
statement counted, BEGIN and COMMIT included, the notifications delivered, and an update that
did not get its reply fails the run."""

from __future__ import annotations

import json

import pytest

from bench import updates

pytestmark = pytest.mark.slow

SMALL = ["--updates", "60", "--warmup", "10", "--scale", "0.03", "--no-postgres"]


def test_bench_prints_its_figures_as_the_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert updates.main(SMALL) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    for backend in (sqlite, figures["echo_bot"]):
        assert backend["updates"] == 60
        assert backend["updates_per_s"] > 0 and backend["p99_ms"] >= backend["p50_ms"]
    assert sqlite["ratio_to_echo"] == round(sqlite["updates_per_s"] / figures["echo_bot"]["updates_per_s"], 3)
    assert set(sqlite["by_kind"]) <= set(updates.MIX) and sqlite["by_kind"]
    assert sum(sqlite["mix_ran"]["updates"].values()) == 60
    # Writes show their transaction statements; every update sends at least one statement.
    assert sqlite["sql_by_verb"]["BEGIN"] > 0 and sqlite["sql_by_verb"]["COMMIT"] == sqlite["sql_by_verb"]["BEGIN"]
    assert all(kind["sql_per_update"] >= 1 for kind in sqlite["by_kind"].values())
    assert sqlite["failures"] == 0 and sqlite["notifications_waiting"] == 0
    assert 0 <= sqlite["gc_pause_max_ms"] < 1000
    if "approve" in sqlite["by_kind"]:
        assert sqlite["notifications_sent"] > 0  # an approval tells the volunteer, inside the run
    assert sqlite["district"]["transfers"] == 30_000 and sqlite["district"]["volunteers"] == 300
    assert figures["postgresql"] == {"skipped": "--no-postgres"}


def test_an_update_without_its_reply_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /balance answered with anything but the balance is a failure, not a fast update.
    monkeypatch.setitem(updates.EXPECTED, "balance", "history.page")
    assert updates.main(["--updates", "30", "--warmup", "0", "--scale", "0.02", "--no-postgres"]) == 1
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["sqlite"]["failures"] > 0
    assert figures["sqlite"]["failed"][0]["kind"] == "balance"
