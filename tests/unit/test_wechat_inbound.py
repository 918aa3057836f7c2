"""WeChat's messages and events as dialog inputs, and the custom menu within WeChat's limits."""

from __future__ import annotations

import copy

from handlers.wechat.inbound import Incoming, incoming, platform_id
from handlers.wechat.menu import MENU, check_menu


def fields(**extra: str) -> dict[str, str]:
    return {"ToUserName": "gh_1", "FromUserName": "oUser1234", "CreateTime": "1700000000", **extra}


def test_text_taps_and_typed_numbers() -> None:
    typed = incoming(fields(MsgType="text", Content="/balance", MsgId="1"), "1")
    assert isinstance(typed, Incoming) and typed.inp.text == "/balance" and typed.caller.channel == "wechat"
    assert typed.caller.external_id == "oUser1234" and typed.caller.display_name.endswith("1234")
    tapped = incoming(fields(MsgType="text", Content="今天", MsgId="2", bizmsgmenuid="2"), "2")
    assert tapped.inp.text == "2"  # the engine takes it as the second option shown
    forged = incoming(fields(MsgType="text", Content="今天", MsgId="3", bizmsgmenuid="/approve H1"), "3")
    assert forged.inp.text == "今天"  # a menu id is a number or nothing


def test_events_join_click_and_ignore() -> None:
    scanned = incoming(fields(MsgType="event", Event="subscribe", EventKey="qrscene_ABCD2345"), "k")
    assert scanned.inp.text == "/start ABCD2345"
    assert incoming(fields(MsgType="event", Event="subscribe"), "k").inp.text == "/start"
    assert incoming(fields(MsgType="event", Event="SCAN", EventKey="ABCD2345"), "k").inp.text == "/start ABCD2345"
    assert incoming(fields(MsgType="event", Event="CLICK", EventKey="balance"), "k").inp.text == "/balance"
    assert incoming(fields(MsgType="event", Event="CLICK", EventKey="/approve all"), "k") is None
    assert incoming(fields(MsgType="event", Event="unsubscribe"), "k") is None
    assert incoming(fields(MsgType="voice", MediaId="m", MsgId="9"), "k") == "wechat.text_only"
    assert incoming(fields(MsgType="location", Location_X="31.2", Location_Y="121.4", MsgId="8"), "k").inp.location == (
        31.2,
        121.4,
    )


def test_platform_ids() -> None:
    assert platform_id(fields(MsgType="text", MsgId="123")) == "123"
    assert platform_id(fields(MsgType="event", Event="subscribe")) == "oUser1234:1700000000:subscribe"
    assert platform_id(fields(MsgType="event", Event="CLICK", EventKey="shop")) == "oUser1234:1700000000:CLICK:shop"


def test_menu_fits_wechat_and_every_key_runs_a_command() -> None:
    assert check_menu(MENU) == []
    broken = copy.deepcopy(MENU)
    broken["button"].append({"type": "click", "name": "第四个按钮超长超长", "key": "nothing"})
    broken["button"][1]["sub_button"].append({"type": "click", "name": "x", "key": "help"})
    problems = check_menu(broken)
    assert any("4 buttons" in p for p in problems) and any("6 sub-buttons" in p for p in problems)
    assert any("over 16 bytes" in p for p in problems) and any("runs no command" in p for p in problems)
