"""Where the bank lives when nothing says otherwise: one place per user (the XDG data folder), the
same from every working directory, named by `lovebank demo`; LOVEBANK_DATABASE_URL still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.kernel.settings import default_database_url, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _lovebank(cwd: Path, env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
        check=False,
    )


def test_the_demo_and_the_chat_meet_in_one_place_from_any_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOVEBANK_")}
    env.update(XDG_DATA_HOME=str(data), HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    seeded = _lovebank(here, env, "demo", "--seed-only")
    assert seeded.returncode == 0, seeded.stderr
    bank = data / "lovebank" / "lovebank.db"
    assert f"数据库：{bank}" in seeded.stdout and bank.exists()
    chat = _lovebank(elsewhere, env, "chat", "--as", "volunteer1", stdin="/balance\n")
    assert chat.returncode == 0, chat.stderr
    assert "可用积分" in chat.stdout and "还没有加入社区" not in chat.stdout
    assert list(here.iterdir()) == [] and list(elsewhere.iterdir()) == []  # nothing left where it ran


def test_the_per_user_folder_and_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LOVEBANK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'xdg' / 'lovebank' / 'lovebank.db'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = f"sqlite:///{tmp_path / 'home' / '.local' / 'share' / 'lovebank' / 'lovebank.db'}"
    assert default_database_url() == expected
    assert load_settings(_env_file=None).database_url == expected
    assert not (tmp_path / "home").exists()  # reading the settings creates nothing
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", f"sqlite:///{tmp_path / 'mine.db'}")
    assert load_settings(_env_file=None).database_url == f"sqlite:///{tmp_path / 'mine.db'}"


def test_the_suite_never_writes_into_a_real_home_folder() -> None:
    # tests/conftest.py points the per-user data folder at a temporary one for every test and for
    # every process a test starts.
    assert "lovebank-test-data-" in os.environ["XDG_DATA_HOME"]
    assert default_database_url().startswith(f"sqlite:///{os.environ['XDG_DATA_HOME']}/")
