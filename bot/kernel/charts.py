"""The month in a picture: service hours per week and per category, as a PNG.

Chinese needs a font that has it. The Noto Sans CJK SC file that the `mplfonts` package ships is
registered with matplotlib here, so the chart renders the same on a bare server or in CI as on a
desktop (no system font package needed). matplotlib is imported only when a chart is drawn."""

from __future__ import annotations

import importlib.util
import io
import threading
from functools import lru_cache
from pathlib import Path

FONT_FILE = "NotoSansCJKsc-Regular.otf"
# Names of system fonts that cover Chinese, used only when the package font is missing.
SYSTEM_CJK = ("Noto Sans CJK", "Noto Sans SC", "Source Han Sans", "WenQuanYi", "SimHei", "PingFang", "Heiti")
# matplotlib's font cache and rc parameters are process-wide: draw one chart at a time.
_LOCK = threading.Lock()
COLOUR = "#d9534f"  # the red of a community notice board
COLOUR_2 = "#f0ad4e"


def packaged_font() -> Path | None:
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / FONT_FILE
    return path if path.exists() else None


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """Register the CJK font with matplotlib once and return its family name."""
    from matplotlib import font_manager

    path = packaged_font()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path)).get_name()
    for font in font_manager.fontManager.ttflist:
        if font.name.startswith(SYSTEM_CJK):
            return font.name
    return None


def month_chart(
    title: str,
    weeks: list[tuple[str, float]],
    categories: list[tuple[str, float]],
    *,
    week_title: str,
    category_title: str,
    hours_label: str,
    empty: str,
) -> bytes:
    """Two panels: hours per week (bars) and per category (horizontal bars, largest on top)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    family = cjk_family()
    fonts = [family, "DejaVu Sans"] if family else ["DejaVu Sans"]
    with _LOCK, matplotlib.rc_context({"font.family": fonts, "axes.unicode_minus": False}):
        fig = Figure(figsize=(11, 5), dpi=110)
        # Fixed margins: constrained layout would measure every label and double the time.
        fig.subplots_adjust(left=0.06, right=0.97, top=0.84, bottom=0.12, wspace=0.3)
        FigureCanvasAgg(fig)
        fig.suptitle(title, fontsize=15)  # the packaged font has one weight
        left, right = fig.subplots(1, 2, width_ratios=[1, 1.15])

        left.set_title(week_title, fontsize=12)
        labels = [label for label, _ in weeks]
        values = [value for _, value in weeks]
        bars = left.bar(range(len(values)), values, color=COLOUR, width=0.6)
        left.set_xticks(range(len(labels)), labels, fontsize=9)
        left.set_ylabel(hours_label)
        left.bar_label(bars, labels=[_fmt(v) for v in values], padding=2, fontsize=9)
        _tidy(left, values)

        right.set_title(category_title, fontsize=12)
        if categories:
            ordered = sorted(categories, key=lambda c: c[1])
            bars = right.barh(range(len(ordered)), [v for _, v in ordered], color=COLOUR_2, height=0.6)
            right.set_yticks(range(len(ordered)), [name for name, _ in ordered], fontsize=10)
            right.set_xlabel(hours_label)
            right.bar_label(bars, labels=[_fmt(v) for _, v in ordered], padding=3, fontsize=9)
            right.set_xlim(0, max(v for _, v in ordered) * 1.18 or 1)
            right.spines[["top", "right"]].set_visible(False)
        else:
            right.set_axis_off()
            right.text(0.5, 0.5, empty, ha="center", va="center", fontsize=12, transform=right.transAxes)

        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()


def _tidy(ax: object, values: list[float]) -> None:
    ax.set_ylim(0, (max(values) if values and max(values) > 0 else 1) * 1.18)  # type: ignore[attr-defined]
    ax.spines[["top", "right"]].set_visible(False)  # type: ignore[attr-defined]


def _fmt(hours: float) -> str:
    return f"{hours:g}"
