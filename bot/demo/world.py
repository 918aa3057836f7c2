"""What the demo community's seeding made, handed to each part's demo data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DemoWorld:
    community_id: int
    admin: int
    workers: list[int] = field(default_factory=list)
    volunteers: list[int] = field(default_factory=list)
    resident: int = 0
