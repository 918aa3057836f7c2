"""The visit rules without a database: cadence, roster fields, file reading, catalogues."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.elders.cadence import Rule, VisitCadence, due_of
from bot.kernel.errors import InvalidInput
from bot.kernel.i18n import placeholders
from bot.people.roster import clean_birth_year, clean_risk, clean_row, clean_yes_no, import_key, read_table
from tests.visits_world import HEADER, csv_bytes, xlsx_bytes

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADDED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 20)


DEFAULT = VisitCadence()


def due(lives_alone: bool, risk: str, birth_year: int, visit: datetime | None = None, call: datetime | None = None):
    return due_of(
        DEFAULT,
        lives_alone=lives_alone,
        risk=risk,
        birth_year=birth_year,
        added_at=ADDED,
        last_visit_at=visit,
        last_call_at=call,
        today=TODAY,
        tz=SHANGHAI,
    )


def at(day: int, hour: int = 2) -> datetime:
    """A moment on 2026-11-<day> (02:00 UTC is 10:00 in Shanghai)."""
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def test_the_three_kinds_of_elder_and_their_default_cadence() -> None:
    assert due(True, "normal", 1950).kind == "intensive"  # living alone, 76
    assert due(False, "high", 1980).kind == "intensive"  # high risk at any age
    assert due(True, "normal", 1956).kind == "intensive"  # 70 this year
    assert due(True, "normal", 1957).kind == "alone"  # 69 this year
    assert due(False, "normal", 1940).kind == "other"
    visited = at(10)
    assert due(True, "normal", 1950, visited).next_visit == date(2026, 11, 17)
    alone = due(True, "normal", 1960, visited)
    assert (alone.next_visit, alone.next_call) == (date(2026, 11, 24), date(2026, 11, 17))
    assert due(False, "normal", 1940, visited).next_visit == date(2026, 12, 10)
    assert due(False, "normal", 1940, visited).next_call is None


def test_nobody_visited_yet_is_due_from_the_day_added() -> None:
    first = due(False, "normal", 1940)
    assert first.next_visit == date(2026, 11, 1)
    assert first.today(TODAY) == ("visit", date(2026, 11, 1), 19)


def test_a_visit_counts_as_contact_for_the_call_and_a_due_visit_covers_the_call() -> None:
    called_then_visited = due(True, "normal", 1960, visit=at(15), call=at(12))
    assert called_then_visited.next_call == date(2026, 11, 22)
    # Visited on the 1st, called on the 8th: the call was due on the 15th, the visit today.
    both = due(True, "normal", 1960, visit=at(1), call=at(8))
    assert both.next_call == date(2026, 11, 15)
    assert both.today(TODAY) == ("visit", date(2026, 11, 15), 5)
    only_call = due(True, "normal", 1960, visit=at(10))
    assert only_call.today(TODAY) == ("call", date(2026, 11, 17), 3)
    assert due(True, "normal", 1960, visit=at(15)).today(TODAY) is None


def test_local_dates_decide_around_midnight_in_shanghai() -> None:
    late = due(True, "normal", 1950, datetime(2026, 11, 13, 15, 59, tzinfo=UTC))  # 23:59 on the 13th
    early = due(True, "normal", 1950, datetime(2026, 11, 13, 16, 1, tzinfo=UTC))  # 00:01 on the 14th
    assert (late.next_visit, early.next_visit) == (date(2026, 11, 20), date(2026, 11, 21))


def test_a_community_changes_its_cadence_and_bad_overrides_fall_back() -> None:
    cadence = VisitCadence.from_options(
        {"cadence": {"age": 75, "alone": {"visit": 10, "call": 5}, "other": {"call": 14}}}
    )
    assert cadence == VisitCadence(age=75, intensive=Rule(7), alone=Rule(10, 5), other=Rule(30, 14))
    assert cadence.kind_of(True, "normal", 1952, TODAY) == "alone"  # 74 < 75
    assert VisitCadence.from_options({"cadence": {"alone": {"visit": 0}}}) == VisitCadence()
    with pytest.raises(InvalidInput) as refused:
        VisitCadence.parse({"intensive": {"visit": 400}})
    assert refused.value.key == "visits.error.bad_cadence"
    assert VisitCadence.parse({"alone": {"call": None}}).alone == Rule(14, None)


@pytest.mark.parametrize("raw, value", [("是", True), ("否", False), ("YES", True), ("n", False), ("独居", True)])
def test_yes_and_no_in_chinese_and_english(raw: str, value: bool) -> None:
    assert clean_yes_no(raw) is value


def test_field_refusals_carry_their_own_message() -> None:
    assert clean_risk("高") == "high" and clean_risk("") == "normal" and clean_risk("普通") == "normal"
    assert clean_birth_year("1948年", 2026) == 1948
    for raw in ("19x8", "1899", "2027", "48"):
        with pytest.raises(InvalidInput) as refused:
            clean_birth_year(raw, 2026)
        assert (refused.value.key, refused.value.params) == ("visits.field.bad_year", {"value": raw, "max": 2026})
    with pytest.raises(InvalidInput, match="bad_yes_no"):
        clean_yes_no("maybe")
    row, problems = clean_row({"name": "", "birth_year": "1950", "address": "x", "lives_alone": "是"}, 2026)
    assert row is None and [(c, p.key) for c, p in problems] == [("name", "visits.field.required")]


def test_import_key_ignores_spacing_and_case() -> None:
    assert import_key("王 秀英", 1942) == import_key("王秀英", 1942) != import_key("王秀英", 1943)
    assert import_key("Mary Lee", 1940) == import_key("mary  lee", 1940)


def test_files_in_gbk_with_chinese_headers_and_xlsx_numbers_read_alike() -> None:
    chinese = "姓名,出生年份,地址,网格,是否独居,风险,电话,紧急联系人,社工,志愿者\n王秀英,1942,幸福里,一网格,是,高,,,,\n"
    gbk = read_table("roster.csv", chinese.encode("gb18030"))
    assert gbk.header == HEADER.split(",")
    assert gbk.rows == [(2, ["王秀英", "1942", "幸福里", "一网格", "是", "高", "", "", "", ""])]
    book = read_table(
        "roster.xlsx", xlsx_bytes(["王秀英", 1942.0, "幸福里", None, True, "高", 13800000001, None, None, None])
    )
    assert book.rows == [(2, ["王秀英", "1942", "幸福里", "", "yes", "高", "13800000001", "", "", ""])]
    with_bom = read_table("r.csv", b"\xef\xbb\xbf" + csv_bytes("a,1950,b,,是,,,,,"))
    assert with_bom.header[0] == "name"


def test_a_file_that_is_no_roster_is_refused_whole() -> None:
    for name, content in (("r.xlsx", b"PK\x03\x04 not really"), ("r.csv", b""), ("r.csv", csv_bytes())):
        with pytest.raises(InvalidInput) as refused:
            read_table(name, content)
        assert refused.value.key in ("visits.import.bad_file", "visits.import.empty_file")


def test_both_catalogues_have_the_same_visit_texts() -> None:
    root = Path(__file__).parents[2] / "bot" / "locales"
    zh = json.loads((root / "zh-CN" / "visits.json").read_text(encoding="utf-8"))
    en = json.loads((root / "en" / "visits.json").read_text(encoding="utf-8"))
    assert zh.keys() == en.keys()
    assert [k for k in zh if placeholders(zh[k]) != placeholders(en[k])] == []
    used = {k for k in zh if k.startswith(("visits.", "elders."))}
    assert used == set(zh)  # keys stay in their own namespace, unique across features
