"""WeChat's planning pieces on their own: template values cut to their field type's limits, a
mapping file checked as it is read, and one person's notifications folded into messages that fit
WeChat's 2,048 bytes, the most important first, each notification wholly in one message."""

from __future__ import annotations

import pytest

from bot.kernel.i18n import Text
from bot.kernel.settings import SettingsError
from bot.messages.outbox import Delivery
from handlers.wechat.budget import Unit, fold
from handlers.wechat.templates import cut, parse


def test_values_are_cut_to_their_field_type() -> None:
    assert cut("thing1", "有 1 条新的服务记录等待审核，发送 /pending 查看。") == "有 1 条新的服务记录等待审核，发送 …"
    assert len(cut("thing1", "x" * 50)) == 20 and cut("thing1", "探访") == "探访"
    assert cut("character_string2", "取货码 AB12CD") == "AB12CD"  # letters, digits and symbols only
    assert len(cut("character_string2", "H" * 40)) == 32
    assert cut("phrase3", "需要帮助之至极") == "需要帮助之"
    assert cut("number4", "约 12.5 小时") == "12.5" and cut("number4", "无") == "0"
    assert (
        cut("time5", "2026-11-20") == "2026年11月20日"
        and cut("date6", "2026年11月20日 12:00") == "2026年11月20日 12:00"
    )
    assert cut("phone_number7", "138 0000 0000") == "13800000000"
    assert cut("thing8", "") == "-"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"hours_approved": {"template_id": "T", "fields": {"first": "summary"}}}, "first/remark"),
        ({"hours_approved": {"template_id": "T", "fields": {"thing1": "pickup"}}}, "not a value of hours_approved"),
        ({"coffee": {"template_id": "T", "fields": {"thing1": "summary"}}}, "unknown kind"),
        ({"hours_approved": {"fields": {"thing1": "summary"}}}, "needs template_id"),
        ({"hours_approved": {"template_id": "T", "fields": {"Thing 1": "summary"}}}, "not a template field name"),
    ],
)
def test_a_mapping_wechat_would_refuse_is_told_at_start(data: dict, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(data, "t.toml")
    assert problem in str(caught.value) and "LOVEBANK_WECHAT_TEMPLATES" in str(caught.value)


def unit(n: int, key: str, text: str) -> Unit:
    return Unit(Delivery(1, "oX", "zh-CN", Text(key, {}), ids=(n,)), [text])


def test_folded_most_important_first_and_cut_between_notifications() -> None:
    units = [
        unit(1, "visits.morning.worker", "今天的探访名单"),
        unit(2, "notify.pending_logs", "有 1 条新的服务记录"),
        unit(3, "notify.log_approved", "H7 已通过"),
        unit(4, "visits.notify.needs_help", "🆘 求助 A1"),
    ]
    [message] = fold(units)
    text = message.content["text"]
    assert text.startswith("🔔 您有 4 条新通知")
    assert text.index("求助 A1") < text.index("H7 已通过") < text.index("新的服务记录") < text.index("探访名单")
    many = [unit(n, "notify.log_approved", f"H{n} " + "服务记录已通过，" * 20) for n in range(40)]
    messages = fold(many)
    assert len(messages) > 1 and all(len(m.content["text"].encode()) <= 2048 for m in messages)
    done = [u.delivery.ids[0] for m in messages for u in m.done]
    assert sorted(done) == list(range(40))  # each wholly in exactly one message
