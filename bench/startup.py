"""`python -m bench startup`: how long `lovebank chat --as volunteer1` takes to show its first
reply, as a person starting it would see it.

A demo community is seeded once (`lovebank demo --seed-only`) in a temporary directory; then the
real command runs as a fresh process, `--runs` times, with `/balance` on its standard input (the
issue's `</dev/null` prints nothing to check; this does that start-up plus one reply). A run
counts only when it exits 0 and its first line is the balance reply, so a failure is never a
fast run. The runs use a bytecode cache in the temporary directory, as an installed package has
one (the seed writes most of it); one untimed chat run comes first, its time reported as
`first_run`. The last line printed is one JSON object: `runs` in seconds, their `median`,
`target` and `met`; a run that fails stops the benchmark with a non-zero exit."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit, machine, median, sqlite_url
from bot.kernel.i18n import DEFAULT_LOCALE, catalogue

TARGET_SECONDS = 1.0
PERSON = "volunteer1"


class StartupError(Exception):
    """A run that failed: the benchmark stops and exits non-zero."""


def lovebank_command() -> list[str]:
    """The `lovebank` console script next to this interpreter (what `pip install` makes), else
    the same entry point through `python -m bot`."""
    script = Path(sys.executable).with_name("lovebank")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def child_env(directory: Path) -> dict[str, str]:
    # Only this run's settings (no LOVEBANK_* of the caller's shell, no .env: cwd is the temp
    # directory), and a bytecode cache the way an installed package has one, kept out of the tree.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        LOVEBANK_DATABASE_URL=sqlite_url(directory, "startup.db"),
        LOVEBANK_LOCALE=DEFAULT_LOCALE,
        PYTHONPYCACHEPREFIX=str(directory / "pycache"),
    )
    return env


def run_lovebank(args: list[str], directory: Path, stdin: str = "") -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        lovebank_command() + args,
        input=stdin,
        capture_output=True,
        text=True,
        env=child_env(directory),
        cwd=directory,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise StartupError(f"`lovebank {' '.join(args)}` exited {done.returncode}: {done.stderr.strip()[-1000:]}")
    return seconds, done.stdout


def check_reply(stdout: str, expected_start: str) -> None:
    lines = stdout.splitlines()
    if not lines or not lines[0].startswith(expected_start) or not lines[0][len(expected_start) :].isdigit():
        raise StartupError(f"expected the balance reply ({expected_start}N) first, got: {stdout[:300]!r}")


def measure(runs: int) -> dict[str, Any]:
    # The reply's first line up to its first number, from the catalogue the chat renders with.
    expected_start = catalogue(DEFAULT_LOCALE)["balance.show"].split("{", 1)[0]
    directory = Path(tempfile.mkdtemp(prefix="lovebank-startup-"))
    try:
        seed_seconds, _ = run_lovebank(["demo", "--seed-only"], directory)
        first_run, first_out = run_lovebank(["chat", "--as", PERSON], directory, "/balance\n")
        check_reply(first_out, expected_start)
        times = []
        for _ in range(runs):
            seconds, out = run_lovebank(["chat", "--as", PERSON], directory, "/balance\n")
            check_reply(out, expected_start)
            if out != first_out:  # the same question about the same data: the same answer
                raise StartupError(f"the reply changed between runs: {first_out!r} then {out!r}")
            times.append(seconds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    middle = median(times)
    return {
        "bench": "startup",
        "command": f"lovebank chat --as {PERSON} (stdin: /balance)",
        "runs": [round(t, 3) for t in times],
        "median": round(middle, 3),
        "target": TARGET_SECONDS,
        "met": middle < TARGET_SECONDS,
        "first_run": round(first_run, 3),
        "seed_seconds": round(seed_seconds, 3),
        "machine": machine(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs (after one untimed run)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        result = measure(args.runs)
    except (StartupError, subprocess.TimeoutExpired) as exc:
        print(f"bench startup: {exc}", file=sys.stderr)
        return 1
    emit(result)
    return 0
