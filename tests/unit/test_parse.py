from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dialogs.parse import (
    clean_text,
    find_day,
    find_duration,
    intent_of,
    is_skip,
    is_yes,
    next_word,
    parse_amount,
    parse_date,
    parse_duration,
    parse_int,
    parse_ref,
    read_date,
    read_duration,
    split_command,
    words,
)
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import hours

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("2h", 120),
        ("1.5h", 90),
        ("90m", 90),
        ("1h30m", 90),
        ("2小时", 120),
        ("90分钟", 90),
        ("0.25h", 15),
        ("1 h 15 m", 75),
        ("2 hours", 120),
        ("2", 120),
        ("1.5", 90),
        ("两小时", 120),
        ("半小时", 30),
        ("一个半小时", 90),
        ("两个小时", 120),
        ("2小时半", 150),
        ("一刻钟", 15),
        ("十五分钟", 15),
        ("１.５ｈ", 90),
        ("2小时。", 120),
    ],
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
    [
        ("2026-11-18", date(2026, 11, 18)),
        ("11-18", date(2026, 11, 18)),
        ("2026/11/18", date(2026, 11, 18)),
        ("昨天", date(2026, 11, 19)),
        ("yesterday", date(2026, 11, 19)),
        ("今天", TODAY),
        ("前天", date(2026, 11, 18)),
        ("上周三", date(2026, 11, 11)),
        ("周三", date(2026, 11, 18)),
        ("星期五", TODAY),
        ("上星期日", date(2026, 11, 15)),
        ("大前天", date(2026, 11, 17)),
        ("11月18日", date(2026, 11, 18)),
    ],
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


@pytest.mark.parametrize("text", ["明天", "后天", "tomorrow", "11-22", "2026-12-01", "这周六", "11月21日"])
def test_a_day_still_to_come_is_refused_as_the_future(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_date(text, TODAY)
    assert refused.value.key == "error.day_in_future" and refused.value.params["today"] == "2026-11-20"


def test_a_month_and_day_without_a_year_is_the_nearest_such_day() -> None:
    assert read_date("12-30", date(2027, 1, 10)) == date(2026, 12, 30)  # typed in January: last year
    with pytest.raises(InvalidInput):
        read_date("12-06", date(2026, 12, 4))  # two days ahead, not a year back


@pytest.mark.parametrize(
    ("text", "minutes", "day"),
    [
        ("我今天探访了王奶奶两个小时", 120, TODAY),
        ("昨天陪聊30分钟", 30, date(2026, 11, 19)),
        ("上周三去助餐，一个半小时", 90, date(2026, 11, 11)),
        ("周三两小时", 120, date(2026, 11, 18)),
        ("半小时", 30, None),
        ("前天 1.5h", 90, date(2026, 11, 18)),
    ],
)
def test_durations_and_days_inside_a_sentence(text: str, minutes: int, day: date | None) -> None:
    found = find_day(text, TODAY)
    assert (found[0] if found else None) == day
    if found:  # the day's characters are not the hours' (周三两小时 is two hours)
        text = text[: found[1][0]] + " " + text[found[1][1] :]
    assert find_duration(text).minutes == minutes


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("帮我看看积分", "balance"),
        ("我的积分还有多少", "balance"),
        ("积分明细", "history"),
        ("我的积分记录", "history"),
        ("积分能换什么", "shop"),
        ("去爱心超市看看", "shop"),
        ("这个怎么用", "help"),
        ("我今天探访了王奶奶两个小时", "log"),
        ("我昨天探访了王奶奶", "log"),
        ("今天帮我查下余额", "balance"),
        ("帮我记录一下", "log"),
        ("我的服务记录", "mylogs"),
        ("你好", None),
        ("王奶奶住3楼", None),
    ],
)
def test_what_a_sentence_asks_for(text: str, intent: str | None) -> None:
    assert intent_of(text) == intent


@given(st.text(max_size=60))
def test_reading_arbitrary_text_never_raises_anything_but_a_refusal(text: str) -> None:
    intent_of(text)
    find_duration(text)
    read_duration(text)
    for reader in (read_date, find_day):
        try:
            reader(text, TODAY)
        except InvalidInput as refused:
            assert refused.key in ("error.no_such_date", "error.day_in_future")


@given(st.text(alphabet="0123456789.一二两三四五六七八九十半个小时分钟刻hm ", max_size=12))
def test_a_duration_read_is_whole_positive_minutes(text: str) -> None:
    found = read_duration(text)
    assert found is None or (isinstance(found.minutes, int) and found.minutes > 0)
    found = find_duration(text)
    assert found is None or (isinstance(found.minutes, int) and found.minutes > 0)


@given(st.dates(min_value=date(2001, 1, 1), max_value=date(2998, 12, 31)), st.integers(-400, 400))
def test_a_day_read_is_never_after_today(today: date, offset: int) -> None:
    """A day with its year is read as written when it has come and refused when it has not; one
    without (11-30, 11月30日) is the nearest such day, so never after today either."""
    day = today + timedelta(days=offset)
    if day > today:
        with pytest.raises(InvalidInput):
            read_date(day.isoformat(), today)
    else:
        assert read_date(day.isoformat(), today) == day
    for typed in (f"{day.month}-{day.day}", f"{day.month}月{day.day}日"):
        try:
            found = read_date(typed, today)
        except InvalidInput as refused:
            assert refused.key in ("error.day_in_future", "error.no_such_date")
        else:
            assert found is not None and found <= today and (found.month, found.day) == (day.month, day.day)
