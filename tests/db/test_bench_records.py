"""`python -m bench records` measures what it says: a small run issues certificates through the
chat, reads each PDF back and finds the hours it loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import sqlite_url
from bench.records import certificate_timing

pytestmark = pytest.mark.db


async def test_the_certificate_timing_checks_what_it_timed(tmp_path: Path) -> None:
    found = await certificate_timing(sqlite_url(tmp_path), logs=60, runs=1)
    assert found["service_logs"] == 60 and found["hours"] > 0
    assert found["median_s"] > 0 and found["pdf_median_s"] > 0 and isinstance(found["within_target"], bool)
