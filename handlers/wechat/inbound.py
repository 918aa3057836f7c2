"""WeChat's messages and events → who is talking and what they said, for the dialog engine.

- Text is text; a tapped numbered link comes back as text with `bizmsgmenuid` (the number), which
  the engine takes as a typed number. Pictures and locations are inputs too.
- `subscribe` (following the account) starts: with EventKey `qrscene_<code>` (a scanned invite
  QR code) it joins that community at once; `SCAN` (a follower scans) does the same.
- `CLICK` on the custom menu runs the command its key names (only the menu's own keys).
- `unsubscribe` has no turn: the identity is marked unreachable (see the channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.dialogs.core import Caller, Input

# The custom menu (`lovebank wechat menu`): key → the command a CLICK runs. Keys are what
# WeChat sends back; nothing else a client sends is run.
MENU_COMMANDS = {
    "log": "/log",
    "balance": "/balance",
    "shop": "/shop",
    "top": "/top",
    "mylogs": "/mylogs",
    "orders": "/orders",
    "pending": "/pending",
    "visits": "/visits",
    "invite": "/invite",
    "link": "/link",
    "help": "/help",
    "lang": "/lang",
}
NAME_PREFIX = {"zh-CN": "微信用户", "en": "WeChat user "}


@dataclass(frozen=True)
class Incoming:
    caller: Caller
    inp: Input


def platform_id(fields: dict[str, str]) -> str:
    """The inbox key: MsgId for messages; FromUserName + CreateTime + Event for events (and the
    EventKey, so two different menu items tapped within one second are two events, while
    WeChat's retries of one event share the key)."""
    if fields.get("MsgId"):
        return fields["MsgId"]
    key = ":".join(str(fields.get(name) or "") for name in ("FromUserName", "CreateTime", "Event", "EventKey"))
    return key.rstrip(":")[:128]


def display_name(openid: str) -> str:
    # Messages carry no name: a recognisable placeholder until the person registers.
    return f"{NAME_PREFIX['zh-CN']}{openid[-4:]}"


def incoming(fields: dict[str, Any], request_key: str) -> Incoming | str | None:
    """The turn a message asks for; a catalogue key to answer without a turn (a voice message);
    None when there is nothing to answer (unsubscribe, template receipts, menu links)."""
    openid = str(fields.get("FromUserName") or "")
    if not openid:
        return None
    caller = Caller("wechat", openid, display_name=display_name(openid), chat_id=openid)
    kind = fields.get("MsgType")
    if kind == "text":
        menu_id = str(fields.get("bizmsgmenuid") or "").strip()
        text = menu_id if menu_id.isdecimal() else str(fields.get("Content") or "")
        return Incoming(caller, Input(text=text, request_key=request_key))
    if kind == "image":
        return Incoming(
            caller, Input(photo=str(fields.get("MediaId") or fields.get("PicUrl") or ""), request_key=request_key)
        )
    if kind == "location":
        try:
            where = (float(fields["Location_X"]), float(fields["Location_Y"]))
        except (KeyError, ValueError):
            return "wechat.text_only"
        return Incoming(caller, Input(location=where, request_key=request_key))
    if kind != "event":
        return "wechat.text_only"  # voice, video, links: the bot reads text
    event, key = str(fields.get("Event") or ""), str(fields.get("EventKey") or "")
    if event == "subscribe":
        code = key.removeprefix("qrscene_") if key.startswith("qrscene_") else ""
        return Incoming(caller, Input(text=f"/start {code}".strip(), request_key=request_key))
    if event == "SCAN" and key:
        return Incoming(caller, Input(text=f"/start {key}", request_key=request_key))
    if event == "CLICK" and key in MENU_COMMANDS:
        return Incoming(caller, Input(text=MENU_COMMANDS[key], request_key=request_key))
    return None
