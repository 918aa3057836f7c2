from datetime import date

import pytest

from bot.dialogs.parse import (
    clean_text, is_skip, is_yes, next_word, parse_amount, parse_date, parse_duration, parse_int,
    parse_ref, read_date, read_duration, split_command, words,
)
from bot.errors import InvalidInput
from bot.i18n import hours

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("2h", 120), ("1.5h", 90), ("90m", 90), ("1h30m", 90), ("2小时", 120), ("90分钟", 90),
     ("0.25h", 15), ("1 h 15 m", 75), ("2 hours", 120), ("2", 120), ("1.5", 90), ("两小时", 120), ("半小时", 30),
     ("一个半小时", 90), ("两个小时", 120), ("2小时半", 150), ("一刻钟", 15), ("十五分钟", 15), ("１.５ｈ", 90),
     ("2小时。", 120)],
)
def test_durations_people_type(text: str, minutes: int) -> None:
    assert parse_duration(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "h", "1.33h", "-2h", "2x", "1.5m", "1刻2", "²h"])
def test_durations_that_do_not_parse(text: str) -> None:
    assert parse_duration(text) is None


def test_a_bare_number_is_hours_unless_too_big_then_a_guess_in_minutes() -> None:
    assert read_duration("12") == read_duration("12h")
    assert not read_duration("12").guessed
    assert (read_duration("90").minutes, read_duration("90").guessed) == (90, True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-18", date(2026, 11, 18)), ("11-18", date(2026, 11, 18)), ("2026/11/18", date(2026, 11, 18)),
     ("昨天", date(2026, 11, 19)), ("yesterday", date(2026, 11, 19)), ("今天", TODAY), ("前天", date(2026, 11, 18)),
     ("12-30", date(2025, 12, 30)), ("11月18日", date(2026, 11, 18))],
)
def test_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["2026-02-30", "tomorrow", "18", "2026-13-01", ""])
def test_bad_dates(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize("text", ["2026-02-30", "11-31", "2026-13-01", "2月30日"])
def test_a_date_shaped_word_for_no_real_day_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_date(text, TODAY)
    assert refused.value.key == "error.no_such_date"
    assert read_date("探访", TODAY) is None  # not a date at all: the caller reads it as something else


def test_numbers_words_and_answers() -> None:
    assert parse_int("99999999999999999999") is None and parse_int("十二") == 12 and parse_int("２０") == 20
    assert parse_int("²") is None and parse_int("٣") is None
    assert next_word("1h，探访，扫楼道，很累") == ("1h", "探访，扫楼道，很累")
    assert words("志愿者1，志愿者2、志愿者3 志愿者4") == ["志愿者1", "志愿者2", "志愿者3", "志愿者4"]
    assert split_command("余额。") == ("余额", "") and split_command("／log 2h") == ("/log", "2h")
    assert is_yes("好的！") and is_yes("提交") and not is_yes("不")
    assert is_skip("跳过") and is_skip("skip") and not is_skip("陪聊")
    assert is_skip("完成。") and is_skip("Done") and is_skip("没有")  # a visit's note used to have its own list


def test_control_characters_and_bidi_overrides_are_dropped() -> None:
    assert clean_text("陪\x00王奶奶\u202e聊天\u2066") == "陪王奶奶聊天"
    assert clean_text("第一行\r\n第二行\t完") == "第一行\n第二行 完"
    assert clean_text(None) is None


def test_refs_and_amounts() -> None:
    assert parse_ref("H12", "H") == 12 and parse_ref("h12", "H") == 12 and parse_ref("12", "H") == 12
    assert parse_ref("R12", "H") is None and parse_ref("H", "H") is None
    assert parse_amount("50") == 50 and parse_amount("0") is None and parse_amount("-5") is None


def test_hours_read_as_people_say_them() -> None:
    assert [hours(m) for m in (60, 90, 135, 15)] == ["1", "1.5", "2.25", "0.25"]
