"""Save every figure twice-usable: into the run folder now, and into ``figures/`` later.

Notebooks call :func:`save_figure`; the analysis step (``fipo figures``) copies a run's
figures into the project's ``figures/`` folder so the README always shows fresh ones.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

FIGURE_FORMATS = ("png", "svg")


def plain_axis(ax: Axes) -> None:
    """Plain tick labels on both axes: no offset text ("+1e3"), no scientific notation, so a
    value is read off the axis as printed."""
    for axis in (ax.xaxis, ax.yaxis):
        formatter = axis.get_major_formatter()
        if isinstance(formatter, ScalarFormatter):
            formatter.set_useOffset(False)
            formatter.set_scientific(False)


def plain_ticks(fig: Figure) -> Figure:
    """:func:`plain_axis` on every axes of ``fig``."""
    for ax in fig.axes:
        plain_axis(ax)
    return fig


def save_figure(fig: Figure, run_dir: str | Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG under ``<run_dir>/figures/<name>.*`` and return the paths."""
    plain_ticks(fig)
    folder = Path(run_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FIGURE_FORMATS:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths
