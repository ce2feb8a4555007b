"""Save every figure twice-usable: into the run folder now, and into ``figures/`` later.

Notebooks call :func:`save_figure`; the analysis step (``fipo figures``) copies a run's
figures into the project's ``figures/`` folder so the README always shows fresh ones.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

FIGURE_FORMATS = ("png", "svg")


def save_figure(fig: Figure, run_dir: str | Path, name: str) -> list[Path]:
    """Write ``fig`` as PNG and SVG under ``<run_dir>/figures/<name>.*`` and return the paths."""
    folder = Path(run_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FIGURE_FORMATS:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths
