"""Operator settings: LOVEBANK_ environment variables and .env, secrets
never shown, and a bad value stops start-up with one line naming the variable."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from bot.kernel.settings import Settings, SettingsError, default_database_url, load_settings

TOKEN = "123456:very-secret-token"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the developer's shell or a .env in the working directory leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("LOVEBANK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def load(**overrides: object) -> Settings:
    return load_settings(_env_file=None, **overrides)


def test_defaults_need_no_environment() -> None:
    s = load()
    assert s.database_url == default_database_url()  # the per-user data folder (tests/conftest.py: a temporary one)
    assert (s.timezone, s.locale, s.http_host, s.http_port) == ("Asia/Shanghai", "zh-CN", "127.0.0.1", 8080)
    assert (s.admins, s.telegram_token, s.hold_expiry_days, s.service_log_max_age_days) == ([], None, 7, 31)
    assert s.tz == ZoneInfo("Asia/Shanghai")


def test_settings_come_from_lovebank_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "LOVEBANK_DATABASE_URL": "postgresql+asyncpg://bank@db.example:5432/lovebank",
        "LOVEBANK_TELEGRAM_TOKEN": TOKEN,
        "LOVEBANK_TELEGRAM_API_URL": "http://127.0.0.1:8081/bot",
        "LOVEBANK_TIMEZONE": "Europe/Berlin",
        "LOVEBANK_LOCALE": "en",
        "LOVEBANK_HTTP_PORT": "9000",
        "LOVEBANK_HOLD_EXPIRY_DAYS": "3",
        "LOVEBANK_WECHAT_APP_ID": "wx123",
        "LOVEBANK_WECHAT_TEMPLATE_ID": "tmpl-1",
        "LOVEBANK_WECHAT_API_URL": "http://127.0.0.1:9999",
        # Unprefixed and unknown names are not settings.
        "DATABASE_URL": "sqlite+aiosqlite:///wrong.db",
        "LOVEBANK_NO_SUCH_THING": "ignored",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load()
    assert s.database_url == env["LOVEBANK_DATABASE_URL"]
    assert s.telegram_token.get_secret_value() == TOKEN
    assert (s.telegram_api_url, s.timezone, s.locale) == ("http://127.0.0.1:8081/bot", "Europe/Berlin", "en")
    assert (s.http_port, s.hold_expiry_days, s.wechat_app_id) == (9000, 3, "wx123")
    assert (s.wechat_template_id, s.wechat_api_url) == ("tmpl-1", "http://127.0.0.1:9999")


def test_a_dotenv_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("LOVEBANK_LOCALE=en\nLOVEBANK_HTTP_PORT=8443\n", encoding="utf-8")
    monkeypatch.setenv("LOVEBANK_HTTP_PORT", "9443")
    s = load_settings(_env_file=env_file)
    assert (s.locale, s.http_port) == ("en", 9443)


@pytest.mark.parametrize(
    "name",
    [
        "telegram_token",
        "wechat_token",
        "wechat_aes_key",
        "wechat_aes_key_previous",
        "wechat_app_secret",
        "webhook_secret",
    ],
)
def test_secrets_are_never_shown(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(f"LOVEBANK_{name.upper()}", TOKEN)
    s = load()
    value = getattr(s, name)
    assert isinstance(value, SecretStr) and value.get_secret_value() == TOKEN
    for shown in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump()), f"{value}"):
        assert TOKEN not in shown
        assert "very-secret" not in shown


def test_admins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOVEBANK_ADMINS", " telegram:123456, console:admin ,,wechat:oAbC-9 ")
    assert load().admins == ["telegram:123456", "console:admin", "wechat:oAbC-9"]


def test_admins_may_be_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOVEBANK_ADMINS", "")
    assert load().admins == []


def _error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load()
    message = str(caught.value)
    # SystemExit with a string prints it and exits 1: the operator sees exactly this one line.
    assert caught.value.code == message
    assert "\n" not in message and message.startswith("lovebank: bad setting ")
    return message


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LOVEBANK_TIMEZONE", "Mars/Olympus_Mons", "time zone"),
        ("LOVEBANK_TIMEZONE", "../../etc/passwd", "time zone"),
        ("LOVEBANK_LOCALE", "fr", "zh-CN, en"),
        ("LOVEBANK_DATABASE_URL", "mysql://root@localhost/lovebank", "sqlite://"),
        ("LOVEBANK_HTTP_PORT", "70000", "65535"),
        ("LOVEBANK_HTTP_PORT", "-1", "0"),
        ("LOVEBANK_HTTP_PORT", "eighty", "integer"),
        ("LOVEBANK_ADMINS", "telegram:1,bob", "'bob'"),
        ("LOVEBANK_ADMINS", "facebook:1", "'facebook:1'"),
        ("LOVEBANK_HOLD_EXPIRY_DAYS", "0", "1"),
        ("LOVEBANK_WECHAT_MODE", "plaintext", "'safe' or 'compatible'"),
        ("LOVEBANK_WECHAT_TIMESTAMP_WINDOW", "0", "10"),
    ],
)
def test_a_bad_value_names_its_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    message = _error(monkeypatch, name, value)
    assert f" {name}: " in message
    assert says in message


def test_a_bad_value_next_to_a_secret_does_not_show_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOVEBANK_TELEGRAM_TOKEN", TOKEN)
    message = _error(monkeypatch, "LOVEBANK_LOCALE", "xx")
    assert "LOVEBANK_LOCALE" in message and TOKEN not in message


def test_overrides_are_validated_too() -> None:
    with pytest.raises(SettingsError, match="LOVEBANK_TIMEZONE"):
        load(timezone="Nowhere/Special")
    assert load(timezone="UTC").tz == ZoneInfo("UTC")
