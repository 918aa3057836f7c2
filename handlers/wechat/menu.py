"""The custom menu at the bottom of the Official Account's chat (`lovebank wechat menu`).

WeChat allows at most 3 buttons with at most 5 sub-buttons each; a button's name at most 16
bytes (sub-buttons 60), a key at most 128. A CLICK sends the key back, and only keys in
`MENU_COMMANDS` run anything."""

from __future__ import annotations

from typing import Any

from handlers.wechat.inbound import MENU_COMMANDS

MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME, MAX_SUB_NAME, MAX_KEY = 16, 60, 128

MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "记录时长", "key": "log"},
        {
            "name": "我的积分",
            "sub_button": [
                {"type": "click", "name": "我的积分", "key": "balance"},
                {"type": "click", "name": "爱心超市", "key": "shop"},
                {"type": "click", "name": "我的兑换", "key": "orders"},
                {"type": "click", "name": "明星榜", "key": "top"},
                {"type": "click", "name": "我的记录", "key": "mylogs"},
            ],
        },
        {
            "name": "更多",
            "sub_button": [
                {"type": "click", "name": "待审批（社工）", "key": "pending"},
                {"type": "click", "name": "邀请新成员（社工）", "key": "invite"},
                {"type": "click", "name": "关联 Telegram", "key": "link"},
                {"type": "click", "name": "English / 中文", "key": "lang"},
                {"type": "click", "name": "帮助", "key": "help"},
            ],
        },
    ]
}


def check_menu(menu: dict[str, Any]) -> list[str]:
    """What breaks WeChat's limits (empty when the menu is fine)."""
    problems = []
    buttons = menu.get("button", [])
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        problems.append(f"{len(buttons)} buttons (1 to {MAX_BUTTONS})")
    for button in buttons:
        if len(button["name"].encode()) > MAX_NAME:
            problems.append(f"button name {button['name']!r} over {MAX_NAME} bytes")
        subs = button.get("sub_button")
        if subs is not None and not 1 <= len(subs) <= MAX_SUB_BUTTONS:
            problems.append(f"{button['name']!r} has {len(subs)} sub-buttons (1 to {MAX_SUB_BUTTONS})")
        for item in subs if subs is not None else [button]:
            if item is not button and len(item["name"].encode()) > MAX_SUB_NAME:
                problems.append(f"sub-button name {item['name']!r} over {MAX_SUB_NAME} bytes")
            if len(item.get("key", "").encode()) > MAX_KEY or item.get("key") not in MENU_COMMANDS:
                problems.append(f"{item['name']!r}: key {item.get('key')!r} runs no command")
    return problems
