"""Playwright driving Debian's Chromium for the desk's browser tests. Playwright's own browser
download is not used: the system browser (LOVEBANK_CHROMIUM, else /usr/bin/chromium) is. Without
playwright or the browser the tests skip with a message saying which is missing.

axe-core (the accessibility checker) is not vendored: it comes from the npm registry once
(`npm pack axe-core@4`) into a cache folder (LOVEBANK_AXE, else ~/.cache/lovebank-tests); without
npm or the network those checks skip with a message."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("LOVEBANK_CHROMIUM", "/usr/bin/chromium")
AXE_PACKAGE = "axe-core@4"


def why_no_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set LOVEBANK_CHROMIUM)"
    return None


def launch(playwright: Any) -> Any:
    # As root (CI) Chromium refuses to start with its sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def axe_source() -> str:
    """axe.min.js from the cache, fetched from the npm registry the first time; skips without it."""
    cache = Path(os.environ.get("LOVEBANK_AXE") or Path.home() / ".cache" / "lovebank-tests")
    script = cache / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core is not cached and npm is missing: the accessibility check did not run")
        with tempfile.TemporaryDirectory() as work:
            try:
                packed = subprocess.run(
                    [npm, "pack", AXE_PACKAGE, "--silent"],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip("npm pack axe-core timed out: the accessibility check did not run")
            tarball = Path(work) / packed.stdout.strip().splitlines()[-1] if packed.returncode == 0 else None
            if tarball is None or not tarball.is_file():
                why = packed.stderr.strip()[:200]
                pytest.skip(f"npm pack {AXE_PACKAGE} failed ({why}): the accessibility check did not run")
            with tarfile.open(tarball) as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                cache.mkdir(parents=True, exist_ok=True)
                script.write_bytes(member.read())
    return script.read_text(encoding="utf-8")


def serious_violations(page: Any, axe: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (WCAG 2 A and AA rules)."""
    page.add_script_tag(content=axe)
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
