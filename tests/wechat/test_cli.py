"""`lovebank wechat menu` and `lovebank invite-poster`, as an operator runs them, against the
WeChat API stand-in."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from bot.kernel.settings import get_settings
from bot.runtime.cli import main
from handlers.wechat.menu import MENU
from tests.db.test_report_cli import _seed
from tests.wechat.standin import APP_ID, APP_SECRET, APIServer


@pytest.fixture
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[APIServer]:
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        monkeypatch.delenv(f"LOVEBANK_{name}", raising=False)
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'bank.db'}")
    monkeypatch.setenv("LOVEBANK_LOCALE", "en")  # the operator's lines in English here
    get_settings.cache_clear()
    asyncio.run(_seed(get_settings().database_url))
    with APIServer() as server:
        monkeypatch.setenv("LOVEBANK_WECHAT_API_URL", server.url)
        yield server
    get_settings.cache_clear()


def configure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOVEBANK_WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("LOVEBANK_WECHAT_APP_SECRET", APP_SECRET)
    get_settings.cache_clear()


def test_menu(operator: APIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wechat", "menu"]) == 2
    assert "LOVEBANK_WECHAT_APP_ID" in capsys.readouterr().err
    configure(monkeypatch)
    assert main(["wechat", "menu"]) == 0
    assert operator.api.menus == [MENU] and "记录时长" in capsys.readouterr().out
    operator.api.fail_next.append(40018)  # WeChat refuses: one line, exit 1, no traceback
    assert main(["wechat", "menu"]) == 1
    assert capsys.readouterr().err.startswith("lovebank: WeChat refused the menu")


def test_invite_poster(
    operator: APIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch)
    assert main(["invite-poster", "-o", "poster.png"]) == 2  # two communities: which one?
    assert "幸福社区" in capsys.readouterr().err  # which one: the names are listed
    assert main(["invite-poster", "--community", "幸福社区", "-o", "poster.png"]) == 0
    out = capsys.readouterr().out
    code = out.split("invite code ")[1].split(",")[0]
    assert "QR codes: 1" in out
    assert list(operator.api.qr.values()) == [code]  # WeChat's QR code carries the invite as its scene
    assert Image.open(io.BytesIO((tmp_path / "poster.png").read_bytes())).format == "PNG"


def test_invite_poster_with_the_telegram_deep_link_too(
    operator: APIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.e2e.standin import TOKEN, BotAPI, serve

    bot_api = BotAPI()
    server = serve(bot_api)
    try:
        monkeypatch.setenv("LOVEBANK_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("LOVEBANK_TELEGRAM_API_URL", f"http://127.0.0.1:{server.server_address[1]}/bot")
        configure(monkeypatch)
        assert main(["invite-poster", "--community", "幸福社区", "-o", "poster.png"]) == 0
        assert "QR codes: 2" in capsys.readouterr().out
        assert any(c.method == "getMe" for c in bot_api.calls)
    finally:
        server.shutdown()
        server.server_close()


def test_templates_lists_the_account_and_checks_the_mapping(
    operator: APIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(monkeypatch)
    assert main(["wechat", "templates"]) == 0  # nothing mapped: listed, and what that means
    out = capsys.readouterr().out
    assert "TPL-HOURS · 服务时长审核结果 · fields: thing1, time2, number3, phrase4" in out
    assert "LOVEBANK_WECHAT_TEMPLATES is not set" in out
    good = tmp_path / "good.toml"
    good.write_text(
        '[hours_approved]\ntemplate_id = "TPL-HOURS"\n'
        'fields = { thing1 = "category", time2 = "date", number3 = "points", phrase4 = "status" }\n'
    )
    monkeypatch.setenv("LOVEBANK_WECHAT_TEMPLATES", str(good))
    get_settings.cache_clear()
    assert main(["wechat", "templates"]) == 0
    out = capsys.readouterr().out
    assert "✓ hours_approved → TPL-HOURS" in out and "· help_alert: no template" in out
    bad = tmp_path / "bad.json"  # a missing id, a field the template lacks, a type that cannot fit
    bad.write_text(
        '{"hours_approved": {"template_id": "TPL-HOURS", "fields": {"thing1": "category", '
        '"time2": "summary", "thing9": "hours"}}, "help_alert": {"template_id": "TPL-GONE", '
        '"fields": {"thing1": "name"}}}'
    )
    monkeypatch.setenv("LOVEBANK_WECHAT_TEMPLATES", str(bad))
    get_settings.cache_clear()
    assert main(["wechat", "templates"]) == 1
    captured = capsys.readouterr()
    for line in (
        "✗ hours_approved: field time2 cannot take summary",
        "✗ hours_approved: the template has no field thing9 (its fields: thing1, time2, number3, phrase4)",
        "✗ hours_approved: template field number3 has no value configured",
        "✗ help_alert: template TPL-GONE is not among the account's templates",
    ):
        assert line in captured.out
    assert "problems in the template mapping" in captured.err and "Traceback" not in captured.err
    # A mapping WeChat would refuse: told at once, in one line naming the setting.
    bad.write_text('[hours_approved]\ntemplate_id = "TPL-HOURS"\nfields = { first = "summary" }\n')
    bad.rename(tmp_path / "bad.toml")
    monkeypatch.setenv("LOVEBANK_WECHAT_TEMPLATES", str(tmp_path / "bad.toml"))
    get_settings.cache_clear()
    assert main(["wechat", "templates"]) == 2
    assert "LOVEBANK_WECHAT_TEMPLATES" in capsys.readouterr().err
    # The single template of earlier versions: a clear word about the new setting.
    monkeypatch.setenv("LOVEBANK_WECHAT_TEMPLATE_ID", "OLD-1")
    get_settings.cache_clear()
    assert main(["wechat", "templates"]) == 2
    assert "LOVEBANK_WECHAT_TEMPLATE_ID is no longer used" in capsys.readouterr().err


def test_door_cards_for_a_grid(
    operator: APIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lovebank print cards`: one A6 page per elder of the grid, each QR code WeChat's
    permanent parametric code for the card's token."""
    from pypdf import PdfReader

    from tests.visits_world import GOOD, HEADER

    (tmp_path / "roster.csv").write_text("\n".join((HEADER.rsplit(",", 2)[0], *(r.rsplit(",", 2)[0] for r in GOOD))))
    assert main(["import", "elders", "roster.csv", "--community", "幸福社区"]) == 0
    configure(monkeypatch)
    assert main(["print", "cards", "--community", "幸福社区", "--grid", "九网格", "-o", "cards.pdf"]) == 2
    assert "九网格" in capsys.readouterr().err
    assert main(["print", "cards", "--community", "幸福社区", "--grid", "一网格", "-o", "cards.pdf"]) == 0
    assert "2 door cards of 幸福社区" in capsys.readouterr().out
    scenes = list(operator.api.qr.values())
    assert len(scenes) == 2 and all(s.startswith("ck-") and len(s) <= 64 for s in scenes)
    pages = PdfReader(tmp_path / "cards.pdf").pages
    assert len(pages) == 2 and "王秀英" in pages[1].extract_text().replace("\x00", "").replace(" ", "")
