"""The supermarket's pure pieces: catalogues in both languages,
pickup-code cleaning and how many of an item one can afford."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.kernel.i18n import ROOT, catalogue, placeholders, render
from bot.kernel.names import CODE_ALPHABET, new_code
from bot.shop.service import _can_buy, clean_code


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    zh = json.loads((ROOT / "zh-CN" / "shop.json").read_text(encoding="utf-8"))
    en = json.loads((ROOT / "en" / "shop.json").read_text(encoding="utf-8"))
    assert zh.keys() == en.keys()
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key


def test_every_key_the_supermarket_uses_is_in_the_catalogue() -> None:
    """Keys written as string literals in the flow, the service and the job."""
    used: set[str] = set()
    for path in ("bot/shop/flow.py", "bot/shop/service.py", "bot/shop/jobs.py"):
        source = (Path(__file__).parents[2] / path).read_text(encoding="utf-8")
        used |= set(
            re.findall(
                r'"((?:shop|redeem|orders|cancel_order|approve_order|reject_order|pickup|items|'
                r"additem|edititem|restock|deactivate|activate|reconcile|gift|donate|help|error|"
                r'pending)\.[a-z_.]+)"',
                source,
            )
        )
    assert len(used) > 100
    for locale in ("zh-CN", "en"):
        for key in used:
            assert key in catalogue(locale), f"{key} missing in {locale}"
            render(locale, key, {name: "1" for name in placeholders(catalogue(locale)[key])})


def test_pickup_codes_avoid_look_alikes_and_typing_noise_is_forgiven() -> None:
    assert not set("O0I1") & set(CODE_ALPHABET)
    assert all(len(c) == 6 and set(c) <= set(CODE_ALPHABET) for c in (new_code(6) for _ in range(200)))
    assert clean_code(" abc-234 ") == "ABC234"


@pytest.mark.parametrize(
    ("price", "stock", "available", "expected"),
    [
        (100, 3, 300, 3),
        (100, 3, 250, 2),
        (100, None, 250, 2),
        (7, None, 1000, 20),
        (10, 0, 100, 0),
        (10, 5, -3, 0),
    ],
)
def test_can_buy(price: int, stock: int | None, available: int, expected: int) -> None:
    assert _can_buy(price, stock, available) == expected
