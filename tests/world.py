"""A small community built through the services, as tests need it."""

from __future__ import annotations

import atexit
import copy
import hashlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.kernel.errors import DomainError
from bot.services import Services


@dataclass
class World:
    community_id: int
    admin: int
    worker: int
    worker2: int
    volunteers: list[int]
    resident: int
    categories: dict[str, int] = field(default_factory=dict)
    other_community_id: int = 0
    other_worker: int = 0

    @property
    def volunteer(self) -> int:
        return self.volunteers[0]


async def person(services: Services, handle: str, name: str | None = None) -> int:
    p, _ = await services.run(services.people.identify, "console", handle, display_name=name or handle, handle=handle)
    return p.id


# SQLite: the database file as make_world left it, by what it depends on; a later test gets a copy
# instead of the twenty-odd units of work (a fifth of a second) that build it.
_built: dict[tuple[str, ...], tuple[Path, World]] = {}
_cache_dir: Path | None = None


def _untouched_sqlite_file(services: Services) -> Path | None:
    """The test's SQLite file, when nothing has connected to it yet (so it can be replaced)."""
    db = services.db
    if not db.sqlite:
        return None
    for engine in {db.engine, db.read_engine}:
        if engine.pool.checkedin() or engine.pool.checkedout():  # type: ignore[attr-defined]
            return None
    path = Path(make_url(db.url).database or "")
    if not path.is_file() or Path(f"{path}-wal").exists():
        return None
    return path


async def make_world(services: Services, volunteers: int = 3) -> World:
    global _cache_dir
    path = _untouched_sqlite_file(services)
    if path is None:
        return await _build_world(services, volunteers)
    key = (
        hashlib.sha256(path.read_bytes()).hexdigest(),
        str(volunteers),
        services.clock.now().isoformat(),
        services.settings.model_dump_json(exclude={"database_url"}),  # the file's own name is no difference
    )
    if key in _built:
        built, world = _built[key]
        shutil.copy(built, path)
        return copy.deepcopy(world)
    world = await _build_world(services, volunteers)
    for engine in {services.db.engine, services.db.read_engine}:
        engine.dispose()  # closes the file (its write-ahead log goes into it); the engine reconnects
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="lovebank-worlds-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    built = _cache_dir / f"{len(_built)}.db"
    shutil.copy(path, built)
    _built[key] = (built, copy.deepcopy(world))
    return world


async def _build_world(services: Services, volunteers: int) -> World:
    admin = await person(services, "admin", "管理员")
    community = await services.run(services.people.create_community, "幸福社区", actor_id=admin)
    other = await services.run(services.people.create_community, "和谐社区", actor_id=admin)
    worker = await person(services, "worker1", "张社工")
    worker2 = await person(services, "worker2", "李社工")
    other_worker = await person(services, "otherworker", "王社工")
    await services.run(services.people.appoint_worker, admin, community.id, worker)
    await services.run(services.people.appoint_worker, admin, community.id, worker2)
    await services.run(services.people.appoint_worker, admin, other.id, other_worker)
    code = await services.run(services.people.create_invite, worker, community.id)
    vols = []
    for i in range(volunteers):
        v = await person(services, f"volunteer{i + 1}", f"志愿者{i + 1}")
        await services.run(services.people.join, v, code)
        await services.run(services.people.register_volunteer, v, community.id, f"志愿者{i + 1}", f"138{i:08d}")
        vols.append(v)
    resident = await person(services, "resident1", "居民甲")
    await services.run(services.people.join, resident, code)
    cats = {c.name: c.id for c in await services.run(services.hours.categories, community.id)}
    return World(community.id, admin, worker, worker2, vols, resident, cats, other.id, other_worker)


@dataclass
class Street:
    """A community of its own for one example of a property test: an admin, a worker, and
    `people` members, named after the example's tag so examples never meet."""

    community_id: int
    admin: int
    worker: int
    people: list[int]


async def street(services: Services, name: str, tag: str, people: int, *, role: str = "resident") -> Street:
    """The world builder's small form: `make_world` is one shared community; a property test
    needs a fresh one per example. Members join with one invite for `role`."""
    admin = await person(services, "admin")
    community = await services.run(services.people.create_community, f"{name} {tag}", actor_id=admin)
    worker = await person(services, f"w-{tag}")
    await services.run(services.people.appoint_worker, admin, community.id, worker)
    code = await services.run(services.people.create_invite, worker, community.id, role=role)
    members = [await person(services, f"p{i}-{tag}") for i in range(people)]
    for member in members:
        await services.run(services.people.join, member, code)
    return Street(community.id, admin, worker, members)


async def stray_chinese(services: Services, text: str) -> str | None:
    """Chinese in `text` that is not data (names of communities, people, categories, items,
    elders, or the language's own name 中文): in an English reply, that is untranslated UI."""
    import re

    from sqlalchemy import select

    from models import Community, Elder, Person, ServiceCategory, ShopItem

    with services.db.read() as session:
        s = session
        names = [
            *s.scalars(select(Community.name)),
            *s.scalars(select(Person.display_name)),
            *s.scalars(select(Person.real_name).where(Person.real_name.is_not(None))),
            *s.scalars(select(ServiceCategory.name)),
            *s.scalars(select(ShopItem.name)),
            *s.scalars(select(ShopItem.donor).where(ShopItem.donor.is_not(None))),
            *s.scalars(select(Elder.name)),
            "中文",
        ]
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, "")
    found = re.search(r"[\u4e00-\u9fff]+", text)
    return found.group(0) if found else None


async def table_contents(services: Services, tables: Sequence[str]) -> dict[str, list[tuple]]:
    """Every row of each table, in a stable order: a changed value shows, not only a new row."""
    with services.db.read() as session:
        return {
            t: sorted((tuple(r) for r in (session.execute(text(f"SELECT * FROM {t}"))).all()), key=repr) for t in tables
        }


@asynccontextmanager
async def refused(services: Services, error: type[DomainError], key: str, tables: Sequence[str]) -> AsyncIterator[None]:
    """The block must raise `error` with message key `key`, and leave every table as it was,
    row for row and value for value."""
    before = await table_contents(services, tables)
    with pytest.raises(error) as caught:
        yield
    assert caught.value.key == key
    assert await table_contents(services, tables) == before
