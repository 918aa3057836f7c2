"""Importing the elder roster: checked whole first, nothing imported on any problem, every problem
reported by row and column; a good file imports and importing it again updates."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.elders.service import ImportReport
from bot.kernel.i18n import render
from bot.services import Services
from models import AuditEntry, Elder, Grid
from tests.visits_world import GOOD, HEADER, csv_bytes, roster_world, xlsx_bytes
from tests.world import make_world


def text(report: ImportReport, locale: str = "zh-CN") -> str:
    t = report.text()
    return render(locale, t.key, t.params)


async def count(services: Services, model: type) -> int:
    with services.db.uow() as session:
        return session.scalar(select(func.count()).select_from(model))


async def test_a_good_csv_imports_with_people_and_grids(services: Services) -> None:
    w = await make_world(services)
    report = await services.run(
        services.visits.roster.import_roster, w.worker, w.community_id, "roster.csv", csv_bytes(*GOOD)
    )
    assert text(report) == "✅ 花名册已导入：新增 3 位，更新 0 位，无变化 0 位。\n新建网格 2 个。"
    views, more = await services.run(services.visits.roster.roster, w.worker, w.community_id)
    assert not more
    first = views[0]
    assert (first.name, first.birth_year, first.address, first.grid, first.lives_alone, first.risk) == (
        "王秀英",
        1942,
        "幸福里3栋501",
        "一网格",
        True,
        "high",
    )
    assert (first.phone, first.emergency_contact, first.worker_name) == (
        "13800000001",
        "儿子 王强 13900000001",
        "张社工",
    )
    assert first.volunteers == ("志愿者1", "志愿者2")
    assert [(v.name, v.lives_alone, v.risk, v.worker_name, v.volunteers) for v in views[1:]] == [
        ("李建国", True, "normal", "李社工", ("志愿者3",)),
        ("张桂兰", False, "normal", "张社工", ()),
    ]
    with services.db.uow() as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "roster.import"))


async def test_importing_again_updates_instead_of_duplicating(services: Services) -> None:
    r = await roster_world(services)
    changed = GOOD[0].replace("13800000001", "13800000009").replace("volunteer1;volunteer2", "volunteer2")
    again = await services.run(
        services.visits.roster.import_roster,
        r.worker,
        r.community_id,
        "roster.csv",
        csv_bytes(changed, GOOD[1], GOOD[2]),
    )
    assert (again.created, again.updated, again.unchanged, again.grids_created) == (0, 1, 2, 0)
    assert await count(services, Elder) == 3
    wang = await services.run(services.visits.roster.elder, r.worker, r.elders["王秀英"])
    assert (wang.phone, wang.volunteers) == ("13800000009", ("志愿者2",))
    # A shorter file leaves the others be (and says so); a retired elder in the file comes back.
    await services.run(services.visits.roster.retire, r.worker, r.elders["张桂兰"], "搬去女儿家")
    partial = await services.run(
        services.visits.roster.import_roster, r.worker, r.community_id, "r.csv", csv_bytes(GOOD[2])
    )
    assert text(partial) == (
        "✅ 花名册已导入：新增 0 位，更新 1 位，无变化 0 位。\n其中 1 位重新列入探访名单。"
        "\n名单里另有 2 位老人不在这个文件中，没有改动；如已不需要探访，请用 /retire 移出。"
    )
    assert (await services.run(services.visits.roster.elder, r.worker, r.elders["张桂兰"])).active


BAD = (
    GOOD[0],
    "张桂兰,19x8,幸福里1栋101,一网格,maybe,低,123,,nobody,ghost",
    "王秀英,1942,幸福里3-501,一网格,是,高,,,,",
    ",1950,,,是,,,,,",
    "赵大爷,1948年,幸福里9栋,三网格,否,普通,,,volunteer1,resident1；volunteer3",
)


async def test_a_bad_csv_imports_nothing_and_lists_every_problem(services: Services) -> None:
    w = await make_world(services)
    report = await services.run(
        services.visits.roster.import_roster, w.worker, w.community_id, "roster.csv", csv_bytes(*BAD)
    )
    assert not report.ok
    lines = text(report).split("\n")
    assert lines[0] == "❌ 花名册有 11 处问题，什么都没有导入。请改好后重新导入："
    assert lines[1:] == [
        "第 3 行 birth_year：“19x8”不是有效的出生年份，请填 1900 到 2026 之间的四位年份",
        "第 3 行 lives_alone：“maybe”看不懂，请填 是 或 否（yes/no）",
        "第 3 行 risk：“低”看不懂，请填 高 或 普通（high/normal）",
        "第 3 行 phone：“123”不是有效的电话号码",
        "第 3 行 worker：找不到“nobody”这个人",
        "第 3 行 volunteers：找不到“ghost”这个人",
        "第 4 行 name：与第 2 行重复（姓名和出生年份都相同）",
        "第 5 行 name：不能为空",
        "第 5 行 address：不能为空",
        "第 6 行 worker：“volunteer1”不是本社区的社区工作者",
        "第 6 行 volunteers：“resident1”不是本社区的志愿者",
    ]
    assert (await count(services, Elder), await count(services, Grid)) == (0, 0)


async def test_an_xlsx_roster_with_numbers_and_chinese_values(services: Services) -> None:
    w = await make_world(services)
    good = xlsx_bytes(
        [
            "王秀英",
            1942,
            "幸福里3栋501",
            "一网格",
            "是",
            "高",
            13800000001,
            "儿子 王强",
            "worker1",
            "volunteer1；volunteer2",
        ],
        ["李建国", 1960.0, "幸福里5栋201", None, True, None, None, None, None, None],
    )
    report = await services.run(services.visits.roster.import_roster, w.worker, w.community_id, "花名册.xlsx", good)
    assert (report.ok, report.created) == (True, 2)
    views, _ = await services.run(services.visits.roster.roster, w.worker, w.community_id)
    assert [(v.name, v.phone, v.grid, v.lives_alone, v.risk, v.volunteers) for v in views] == [
        ("王秀英", "13800000001", "一网格", True, "high", ("志愿者1", "志愿者2")),
        ("李建国", None, None, True, "normal", ()),
    ]


async def test_a_bad_xlsx_is_reported_in_english_too(services: Services) -> None:
    w = await make_world(services)
    bad = xlsx_bytes(
        ["王秀英", 1850, "幸福里3栋501", "一网格", "是", "高", None, None, "stranger", None],
        ["王秀英", 1850, "幸福里3栋501", "一网格", "是", "高", None, None, None, None],
        ["李建国", 1960, "幸福里5栋201", None, "也许", "normal", None, None, None, "volunteer2;nobody"],
    )
    report = await services.run(services.visits.roster.import_roster, w.worker, w.community_id, "roster.xlsx", bad)
    # Row 3 repeats row 2, but with a bad year it has no name-and-year key to compare yet.
    lines = text(report, "en").split("\n")
    assert lines == [
        "❌ The roster has 5 problems, so nothing was imported. Please fix them and import again:",
        'row 2 birth_year: "1850" is not a valid birth year; use four digits from 1900 to 2026',
        'row 2 worker: nobody called "stranger"',
        'row 3 birth_year: "1850" is not a valid birth year; use four digits from 1900 to 2026',
        'row 4 lives_alone: "也许" should be yes or no (是/否)',
        'row 4 volunteers: nobody called "nobody"',
    ]
    assert await count(services, Elder) == 0


async def test_the_header_is_checked_before_the_rows(services: Services) -> None:
    w = await make_world(services)
    header = HEADER.replace("birth_year", "生日").replace("risk", "风险等级")
    report = await services.run(
        services.visits.roster.import_roster,
        w.worker,
        w.community_id,
        "r.csv",
        csv_bytes("王秀英,1942,幸福里,,是,高,,,,", header=header),
    )
    assert text(report).split("\n") == [
        "❌ 花名册有 2 处问题，什么都没有导入。请改好后重新导入：",
        (
            "表头 生日：不认识这一列；表头应为 name,birth_year,address,grid,lives_alone,risk,phone,"
            "emergency_contact,worker,volunteers"
        ),
        "表头 birth_year：缺少这一列",
    ]
    unreadable = await services.run(
        services.visits.roster.import_roster, w.worker, w.community_id, "r.xlsx", b"PK\x03\x04junk"
    )
    assert text(unreadable).split("\n")[1] == "读不了这个文件，请用 CSV（UTF-8 或 GBK）或 Excel（.xlsx）格式"


async def test_only_workers_of_the_community_import(services: Services) -> None:
    w = await make_world(services)
    for person in (w.volunteer, w.other_worker):
        with pytest.raises(Exception) as refused:
            await services.run(services.visits.roster.import_roster, person, w.community_id, "r.csv", csv_bytes(*GOOD))
        assert getattr(refused.value, "key", "") == "error.need_worker"
    assert await count(services, Elder) == 0


def test_the_command_line_prints_the_report_and_fails_on_a_bad_file(
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.kernel.settings import Settings, get_settings
    from bot.runtime.app import open_services
    from bot.runtime.cli import main

    shutil.copy(sqlite_template, tmp_path / "cli.db")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOVEBANK_DATABASE_URL", database_url)
    monkeypatch.setenv("LOVEBANK_LOCALE", "zh-CN")
    get_settings.cache_clear()

    async def world() -> None:
        settings = Settings(_env_file=None, database_url=database_url, admins=["console:admin"])  # type: ignore[call-arg]
        services = await open_services(settings)
        await make_world(services)
        await services.db.dispose()

    asyncio.run(world())
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_bytes(csv_bytes(GOOD[0], GOOD[0]))
    good.write_bytes(csv_bytes(*GOOD))
    try:
        assert main(["import", "elders", str(good)]) == 2  # two communities: which one?
        assert "--community" in capsys.readouterr().err
        assert main(["import", "elders", str(bad), "--community", "幸福社区"]) == 1
        assert capsys.readouterr().out.split("\n")[:2] == [
            "❌ 花名册有 1 处问题，什么都没有导入。请改好后重新导入：",
            "第 3 行 name：与第 2 行重复（姓名和出生年份都相同）",
        ]
        assert main(["import", "elders", str(good), "--community", "幸福社区"]) == 0
        assert capsys.readouterr().out.startswith("✅ 花名册已导入：新增 3 位")
    finally:
        get_settings.cache_clear()


async def test_a_dry_run_reports_what_importing_would_change_and_writes_nothing(services: Services) -> None:
    w = await make_world(services)
    roster = services.visits.roster
    preview = await services.run(
        roster.import_roster, w.worker, w.community_id, "roster.csv", csv_bytes(*GOOD), dry_run=True
    )
    assert not preview.applied and (preview.created, preview.grids_created) == (3, 2)
    assert [kind for kind, _ in preview.changes] == ["created"] * 3
    assert text(preview).startswith("👀 预览：导入这个文件将新增 3 位")
    assert await count(services, Elder) == 0 and await count(services, Grid) == 0
    with services.db.uow() as session:
        assert session.scalar(select(func.count()).where(AuditEntry.action == "roster.import")) == 0
    done = await services.run(roster.import_roster, w.worker, w.community_id, "roster.csv", csv_bytes(*GOOD))
    assert done.applied and done.created == preview.created and await count(services, Elder) == 3
