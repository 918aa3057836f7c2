"""Parsing what people type: words, durations, dates, numbers, typed ids, yes and skip.

One module, so that a rule (a bare number means hours, 两 is 2, a comma separates words) holds in
every flow. The parsers return None when the text does not parse; `read_date` refuses a date
that has the shape of a date but does not exist, so it never silently becomes today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.kernel.clock import days_after, week_start
from bot.kernel.errors import InvalidInput
from bot.kernel.text import clean_text

# Months are read where time is kept (bot.kernel.clock.Month.parse), and what every channel lets in is
# cleaned in bot.kernel.text: services use both too, and services cannot import the dialogs.
__all__ = ["clean_text"]

# --- words -----------------------------------------------------------------------------------

# Spaces and the commas people type between parts, in Chinese or not.
_SEPARATORS = r"\s,，、;；"
_WORD = re.compile(rf"[{_SEPARATORS}]*([^{_SEPARATORS}]+)[{_SEPARATORS}]*(.*)", re.DOTALL)
_END_PUNCTUATION = "。.！!？?～~"


def next_word(text: str) -> tuple[str, str]:
    """The first word and the rest as typed: `1h，探访，扫楼道` → (`1h`, `探访，扫楼道`)."""
    match = _WORD.fullmatch(text.strip())
    return (match[1], match[2].strip()) if match else ("", "")


def words(text: str) -> list[str]:
    """Every word, separated by spaces or commas (Chinese or not)."""
    return [w for w in re.split(rf"[{_SEPARATORS}]+", text) if w]


def split_command(line: str) -> tuple[str, str]:
    """`余额。` → (`余额`, ``); `/log，1h 探访` → (`/log`, `1h 探访`). Full-width ／ is a slash."""
    head, rest = next_word(line)
    head = head.replace("／", "/").rstrip(_END_PUNCTUATION)
    return head, rest


# --- numbers ---------------------------------------------------------------------------------

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CHINESE_NUMBER = re.compile(r"[零〇一二两俩三四五六七八九十百]+")


def _chinese_number(text: str) -> int:
    """一 → 1, 十二 → 12, 二十 → 20, 一百二十 → 120 (up to 999)."""
    total, current = 0, 0
    for ch in text:
        if ch in _DIGITS:
            current = _DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}


def half_width(text: str) -> str:
    """Full-width letters, digits and signs (what a Chinese keyboard types) as ASCII; nothing else
    changes (a superscript ² is not a 2)."""
    return text.translate(_HALF_WIDTH)


def _normalize(text: str) -> str:
    """Full-width letters and digits as ASCII, lower case, no spaces, Chinese numerals as digits."""
    text = half_width(text).strip().lower()
    text = re.sub(r"\s+", "", text).rstrip(_END_PUNCTUATION)
    return _CHINESE_NUMBER.sub(lambda m: str(_chinese_number(m[0])), text)


def parse_int(text: str, *, low: int = 0, high: int = 10**9) -> int | None:
    """A whole number between low and high, typed in digits (full-width too) or Chinese numerals;
    anything else, or a number out of range, is None (never an overflow further on)."""
    text = _normalize(text)
    if not re.fullmatch(r"[+]?[0-9]{1,12}", text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_amount(text: str) -> int | None:
    """A positive count or number of points (1 to 999,999,999)."""
    return parse_int(text, low=1, high=999_999_999)


def parse_ref(text: str, prefix: str) -> int | None:
    """'H12' (or 'h12', or '12') → 12 for prefix 'H'."""
    match = re.fullmatch(rf"(?:{prefix})?(\d{{1,9}})", text.strip(), re.IGNORECASE)
    return int(match[1]) if match else None


# --- durations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    minutes: int
    guessed: bool = False  # a bare number read as minutes: ask before saving


_HOUR_UNITS = r"(?:h|hr|hrs|hour|hours|小时|钟头)"
_MINUTE_UNITS = r"(?:m|min|mins|minute|minutes|分钟|分)"
_DURATION = re.compile(
    rf"(?:(?P<h>\d+(?:\.\d+)?)个?(?P<half>半)?个?{_HOUR_UNITS}(?P<half2>半)?|(?P<half_only>半)个?{_HOUR_UNITS})?"
    rf"(?:(?P<q>\d+)刻钟?)?"
    rf"(?:(?P<m>\d+)(?P<m_unit>{_MINUTE_UNITS})?)?",
    re.ASCII,
)
MAX_BARE_HOURS = 12  # a bare number up to this many is hours; above it, minutes, confirmed first


def read_duration(text: str) -> Duration | None:
    """'2h', '1.5h', '90m', '1h30m', '2小时', '两小时', '半小时', '一个半小时', '一刻钟', '90分钟'.
    A bare number is hours ('2' is two hours); a bare number too big for hours ('90') is taken
    as minutes but marked as guessed, so the flow asks before it saves."""
    text = _normalize(text).replace("：", ":")
    if re.fullmatch(r"[0-9]{1,4}(?:\.[0-9]{1,2})?", text):
        number = float(text)
        return _whole(number * 60) if number <= MAX_BARE_HOURS else _whole(number, guessed=True)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    has_hours = match["h"] is not None or match["half_only"] is not None
    if match["m"] is not None and match["m_unit"] is None and not has_hours:
        return None  # a lone number after 刻 means nothing
    minutes = float(match["h"] or 0) * 60 + int(match["q"] or 0) * 15 + int(match["m"] or 0)
    if match["half"] or match["half2"] or match["half_only"]:
        minutes += 30
    return _whole(minutes)


def _whole(minutes: float, *, guessed: bool = False) -> Duration | None:
    return Duration(int(minutes), guessed) if minutes == int(minutes) and minutes > 0 else None


def parse_duration(text: str) -> int | None:
    """Minutes of a duration (see `read_duration`), guessed or not."""
    found = read_duration(text)
    return found.minutes if found else None


_NUMERAL = r"(?:[0-9]+(?:\.[0-9]+)?|[零〇一二两俩三四五六七八九十]+)"
# A duration inside a sentence (我探访了王奶奶两个小时, 陪聊30分钟): each shape `read_duration` reads.
_DURATION_IN_TEXT = re.compile(
    rf"{_NUMERAL}\s*个?\s*半?\s*(?:小时|钟头|h(?:ours?|rs?)?(?![a-z]))\s*半?"
    rf"(?:\s*{_NUMERAL}\s*(?:分钟|分|m(?:in(?:ute)?s?)?(?![a-z])))?"
    rf"|半\s*个?\s*(?:小时|钟头)|{_NUMERAL}\s*(?:分钟|min(?:ute)?s?(?![a-z]))|{_NUMERAL}\s*刻钟",
    re.IGNORECASE,
)


def find_duration(text: str) -> Duration | None:
    """The first duration inside a sentence, with its unit (a bare number in a sentence is no
    duration: 王奶奶住3楼)."""
    for match in _DURATION_IN_TEXT.finditer(half_width(text)):
        found = read_duration(match[0])
        if found is not None:
            return found
    return None


# --- dates -----------------------------------------------------------------------------------

# Days as people name them, counted back from today (a day ahead is refused: service that has not
# happened yet cannot be logged). 上周三 is last week's Wednesday; 周三 alone the latest Wednesday.
_PAST_DAYS = {"今天": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2, "大前天": 3}
_FUTURE_DAYS = {"明天": 1, "明日": 1, "tomorrow": 1, "后天": 2, "大后天": 3}
_WEEKDAY = re.compile(r"(上|这|本)?(?:周|星期|礼拜)([一二三四五六日天])")
_DATE = re.compile(r"(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})[日号]?", re.ASCII)
# The same inside a sentence: longest words first, and no '.' in a date (1.5小时 is no date).
_DAY_IN_TEXT = re.compile(
    "|".join(sorted(map(re.escape, {*_PAST_DAYS, *_FUTURE_DAYS}), key=len, reverse=True))
    + r"|(?:上|这|本)?(?:周|星期|礼拜)[一二三四五六日天]"
    + r"|(?<![0-9])(?:[0-9]{4}[-/年])?[0-9]{1,2}[-/月][0-9]{1,2}[日号]?(?![0-9])",
    re.IGNORECASE,
)


def parse_date(text: str, today: date) -> date | None:
    """'2026-11-20', '11-20', '2026/11/20', '11月20日', '昨天', '上周三', 'yesterday' → a date;
    None when the text is not a date, names a day that does not exist, or one still to come."""
    try:
        return read_date(text, today)
    except InvalidInput:
        return None


def read_date(text: str, today: date) -> date | None:
    """A day that has come (service done): like `parse_date`, but a date-shaped word for a day that
    does not exist ('2026-02-30') is refused with error.no_such_date, and a day still to come
    (明天, 后天, a date after today) with error.day_in_future, instead of read as something else.
    A month and day without a year is the nearest such day: '12-06' typed on 12-04 is this year's
    (so refused as the future), '12-30' typed in January last year's."""
    text = half_width(text).strip().lower().rstrip(_END_PUNCTUATION)
    if text in _PAST_DAYS:
        return days_after(today, -_PAST_DAYS[text])
    if text in _FUTURE_DAYS:
        found = days_after(today, _FUTURE_DAYS[text])
    elif (weekday := _WEEKDAY.fullmatch(text)) is not None:
        found = _weekday(weekday, today)
    elif (match := _DATE.fullmatch(text)) is not None:
        found = _calendar_day(match, text, today)
    else:
        return None
    if found > today:
        raise InvalidInput("error.day_in_future", date=found.isoformat(), today=today.isoformat())
    return found


def find_day(text: str, today: date) -> tuple[date, tuple[int, int]] | None:
    """The first day named inside a sentence (我昨天探访了…) and where it is; refused as
    `read_date` refuses. None when the sentence names no day."""
    match = _DAY_IN_TEXT.search(half_width(text))
    if match is None:
        return None
    found = read_date(match[0], today)
    return (found, match.span()) if found is not None else None


def _weekday(match: re.Match[str], today: date) -> date:
    day = days_after(week_start(today), "一二三四五六日天".index(match[2]) if match[2] != "天" else 6)
    if match[1] == "上":
        return days_after(day, -7)
    if match[1] is None and day > today:  # 周五 said on a Wednesday: the one just past
        return days_after(day, -7)
    return day  # 这周五 said on a Wednesday is still to come


def _calendar_day(match: re.Match[str], text: str, today: date) -> date:
    year = int(match[1]) if match[1] else today.year
    try:
        found = date(year, int(match[2]), int(match[3]))
    except ValueError:
        raise InvalidInput("error.no_such_date", date=text[:20]) from None
    if not match[1] and found > today:  # the nearest: ahead this year, or back last year
        try:
            before = found.replace(year=year - 1)
        except ValueError:  # 02-29 of a leap year, typed the year after
            raise InvalidInput("error.no_such_date", date=text[:20]) from None
        if today - before < found - today:
            return before
    return found


_AHEAD = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}


def parse_future_date(text: str, today: date) -> date | None:
    """A day to come: '11-30', '2026-11-30', '11月30日', '明天', 'tomorrow' → a date; 'MM-DD'
    already past this year means next year (asking in December for January). None when the text
    is not a date or names a day that does not exist."""
    text = half_width(text).strip().lower()
    if text in _AHEAD:
        return days_after(today, _AHEAD[text])
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year = int(match[1]) if match[1] else today.year
    try:
        found = date(year, int(match[2]), int(match[3]))
        if not match[1] and found < today:
            found = found.replace(year=year + 1)
    except ValueError:  # no such day (02-30), or 02-29 with no leap day next year
        return None
    return found


# --- yes, skip -------------------------------------------------------------------------------

YES_WORDS = frozenset(
    {"yes", "y", "ok", "okay", "是", "是的", "确认", "确定", "好", "好的", "对", "对的", "提交", "可以", "行"}
)
# Also "done": a last optional step (a visit's note) is finished by saying so.
SKIP_WORDS = frozenset({"skip", "跳过", "不用", "没有", "无", "略", "-", "—", "done", "完成", "好了"})


def _answer(text: str) -> str:
    return half_width(text).strip().lower().rstrip(_END_PUNCTUATION)


def is_yes(text: str) -> bool:
    return _answer(text) in YES_WORDS


def is_skip(text: str) -> bool:
    return _answer(text) in SKIP_WORDS


# --- what a sentence asks for ------------------------------------------------------------------

# Words people use for the common actions, checked in this order (积分能换什么 is the shop, not
# the balance). A sentence with a duration (探访了两个小时), or one asking to note hours down, is
# logging; it goes to /log, which shows what it understood before saving anything.
_LISTS = (
    ("history", re.compile(r"明细|流水|积分(?:记录|历史|变动|怎么来)|\bhistory\b")),
    ("mylogs", re.compile(r"服务记录|我的记录|记过哪些|\bmy ?logs\b")),
)
_INTENTS = (
    ("shop", re.compile(r"超市|商城|商品|礼品|能换|换什么|换点|兑换|\bshop\b")),
    ("help", re.compile(r"帮助|怎么用|如何用|怎么操作|使用说明|菜单|不会用|教教|能做什么|可以做什么|\bhelp\b")),
    ("balance", re.compile(r"积分|余额|多少分|几分|\bpoints?\b|\bbalance\b")),
)
_LOG_WORDS = re.compile(r"记录|登记|记一下|记上|帮我记|\blog\b")
_DONE = re.compile(r"了|去|做|陪|帮|服务|探访|参加")


def intent_of(text: str) -> str | None:
    """The command a sentence asks for ('帮我看看积分' → /balance), or None. Logging first: a
    sentence that says how long is about hours done, whatever else it mentions (but 积分记录 is
    the history)."""
    text = half_width(text).lower()
    if (listed := next((name for name, words in _LISTS if words.search(text)), None)) is not None:
        return listed
    if find_duration(text) is not None or _LOG_WORDS.search(text):
        return "log"
    if (asked := next((name for name, words in _INTENTS if words.search(text)), None)) is not None:
        return asked  # 今天帮我查下余额 is the balance
    if _DONE.search(text) and _DAY_IN_TEXT.search(text):
        return "log"  # 我昨天探访了王奶奶: a day and something done (明天去探访 is refused there)
    return None
