"""Operator settings: environment and `.env`, prefix LOVEBANK_."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.kernel.clock import zone

LOCALES = ("zh-CN", "en")


def data_folder() -> Path:
    """The per-user data folder (XDG base directories): $XDG_DATA_HOME/lovebank, else
    ~/.local/share/lovebank. One place, whatever folder a command runs in."""
    base = os.environ.get("XDG_DATA_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / "lovebank"


def default_database_url() -> str:
    return f"sqlite:///{data_folder() / 'lovebank.db'}"


def make_data_folder(settings: Settings) -> None:
    """Create the per-user data folder when the default database is used (reading the settings
    creates nothing). A folder that cannot be made is reported as SQLite cannot open the file."""
    if settings.database_url == default_database_url():
        try:
            data_folder().mkdir(parents=True, exist_ok=True)
        except OSError:
            pass


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOVEBANK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(default_factory=default_database_url)  # LOVEBANK_DATABASE_URL overrides it
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    timezone: str = "Asia/Shanghai"
    locale: str = "zh-CN"
    # Bootstrap admins as channel identities, e.g. "telegram:123456,console:admin".
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    wechat_token: SecretStr | None = None
    # The EncodingAESKey: when set, only safe-mode (encrypted) messages are accepted, or compatible
    # mode's when wechat_mode says so (then only the encrypted part is read). The previous key is
    # accepted beside it during a change; a reply goes out under the key its message came in.
    wechat_aes_key: SecretStr | None = None
    wechat_aes_key_previous: SecretStr | None = None
    wechat_mode: Literal["safe", "compatible"] = "safe"
    # Seconds a WeChat request's timestamp may be from our clock; each (timestamp, nonce) once.
    wechat_timestamp_window: int = Field(300, ge=10, le=3600)
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_api_url: str = "https://api.weixin.qq.com"
    # Retired (one template with first/remark, before May 2023): WeChat setup refuses to start with it.
    wechat_template_id: str | None = None
    # A TOML or JSON file: each kind of notification → its template id and fields (README).
    wechat_templates: str | None = None
    # Customer-service messages WeChat lets the account push within 48 hours of a person's message.
    wechat_cs_budget: int = Field(5, ge=0, le=1000)
    # The address people reach `lovebank serve` at, for download links (default: the origin of
    # LOVEBANK_WEBHOOK_URL).
    public_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)  # 0: any free port (the log says which)
    concurrency: int = Field(8, ge=1, le=256)  # updates of different people handled at once (PostgreSQL)
    lease_seconds: float = Field(30.0, gt=0)  # how long a crashed process's inbox/outbox work waits
    # Messages a second one process sends to Telegram (its flood limit is about 30 a bot): with
    # several processes give each its share; 0 turns the limit off (a local Bot API, benchmarks).
    telegram_max_rate: int = Field(30, ge=0)
    # A platform that is down pauses its channel's sending: the first probe after this many
    # seconds, then twice as long each time, at most the second (tests shorten both).
    outage_probe_seconds: float = Field(2.0, gt=0)
    outage_probe_max_seconds: float = Field(300.0, gt=0)
    # Every configured channel checks its credentials at start and this often (/readyz shows it).
    health_check_seconds: float = Field(300.0, gt=0)
    # One person's updates: this many at once, then this many a minute (0: no limit); the rest
    # wait, in order, and the person is asked once to slow down. One a second is what Telegram
    # lets a bot send into one chat anyway.
    inbox_burst: int = Field(100, ge=1)
    inbox_per_minute: int = Field(60, ge=0)
    # Handled updates (with the texts and replies in them) are deleted after this many days.
    inbox_keep_days: int = Field(7, ge=1)
    # `GET /metrics` (Prometheus) is served on this port of LOVEBANK_HTTP_HOST, never on the
    # public app; unset: no metrics.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    log_format: Literal["text", "json"] = "text"
    hold_expiry_days: int = Field(7, ge=1)
    # Fernet keys for ID numbers at rest, comma-separated: the first encrypts, every one decrypts
    # (a new key goes first, `lovebank data-key rotate` re-encrypts, then the old one can go).
    # Unset: ID numbers are refused, never stored in plain text. Back it up: without it they are lost.
    data_key: SecretStr | None = None
    # Signs the QR codes printed on paper (event sign-in sheets). Unset, each sheet's random
    # secret kept in the database alone makes its code unguessable; set, a copy of the database
    # is not enough to forge one either. Changing it voids the codes already printed.
    signing_key: SecretStr | None = None
    # Elders' visit records older than this lose their note, photo and place (a daily job).
    visit_retention_years: int = Field(3, ge=1, le=30)
    service_log_max_age_days: int = Field(31, ge=0)
    # The privacy notice's version: a volunteer who consented to another is asked again.
    privacy_notice_version: str = Field("2026-12", min_length=1, max_length=16)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        # The async driver names of earlier versions still work: bot.kernel.db maps them to psycopg/sqlite3.
        if not value.startswith(("sqlite://", "sqlite+", "postgresql://", "postgresql+")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                channel, _, ident = str(item).partition(":")
                if channel not in ("telegram", "wechat", "console") or not ident:
                    raise ValueError(f"{item!r} is not channel:id (telegram, wechat or console)")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


def public_base(settings: Settings) -> str | None:
    """Where people reach `lovebank serve` (download links, a certificate's QR code):
    LOVEBANK_PUBLIC_URL, else the origin of LOVEBANK_WEBHOOK_URL."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if settings.webhook_url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.webhook_url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


class SettingsError(SystemExit):
    """Raised at start-up with one line naming the bad setting."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LOVEBANK_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"lovebank: bad setting {name}: {first['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


if __name__ == "__main__":  # pragma: no cover - handy for operators
    print(get_settings().model_dump_json(indent=2), file=sys.stdout)
