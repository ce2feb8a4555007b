"""Captioned figures, from notebook 05 on: the :class:`FigureResult` every builder returns,
the panel and caption helpers all of them share, and notebook 05's instruction-length figure.

Inference is the lowest stage that draws a captioned figure, so the helpers live here;
evaluation (06) and analysis (07) draw theirs with them. A builder returns a
:class:`FigureResult` (or ``None`` when there is nothing to draw) whose caption says which
run, models and item counts it shows, printed under the axes by :func:`finish`, so a figure
copied out of context still tells how much evidence is behind it.

Rules every figure follows (tests/test_figures_render.py checks them): labelled axes, plain
tick labels (no offset or scientific notation), no internal file or field names in any text,
the paper cited by table, and no axis shared by quantities of different scale.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fipo_utils.runs.figure_files import plain_ticks

# The largest figure a page shows legibly (inches): a letter page, either way up, at a scale
# that keeps 7-point text readable. Builders with many panels split them into pages.
PAGE_INCHES = (10.0, 11.0)


@dataclass
class FigureResult:
    """A drawn figure, its file name (without extension) and its caption."""

    name: str
    figure: Figure
    caption: str


def page_name(name: str, page: int) -> str:
    """The file name of page ``page`` (from 1) of a figure: the first page keeps ``name``."""
    return name if page == 1 else f"{name}-{page}"


def pages(items: list, per_page: int) -> list[list]:
    """``items`` in consecutive pages of at most ``per_page``, sized alike (12 in pages of
    at most 10 become 6 and 6, not 10 and 2), so no page is a near-empty remnant."""
    count = max(1, -(-len(items) // per_page))
    size = -(-len(items) // count)
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def page_title(title: str, page: int, total: int) -> str:
    """``title``, with "(page k of n)" when the figure has more than one page."""
    return title if total == 1 else f"{title} (page {page} of {total})"


def describe(values: Iterable[object], label: str, limit: int = 4) -> str:
    """``"label: a, b, c"``: the distinct values in order of appearance, at most ``limit``."""
    unique = list(dict.fromkeys(values))
    shown = ", ".join(map(str, unique[:limit])) + (
        f" (+{len(unique) - limit} more)" if len(unique) > limit else ""
    )
    return f"{label}: {shown}"


def panel_grid(
    nrows: int, ncols: int, panel: tuple[float, float], *, min_width: float = 0.0
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure of ``nrows`` x ``ncols`` panels of ``panel`` (width, height)
    inches each, at least ``min_width`` wide; the axes always as a 2-d array."""
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(min_width, panel[0] * ncols), panel[1] * nrows),
        layout="constrained",
        squeeze=False,
    )
    return fig, axes


def label_panel(
    ax: Axes,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    *,
    title_size: float | None = None,
    legend: bool = True,
) -> None:
    """Axis labels, a title and a small legend: what every panel of a figure carries."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title, fontsize=title_size)
    if legend:
        ax.legend(fontsize=7)


def interval_errors(value: pd.Series, low: pd.Series, high: pd.Series) -> list[pd.Series]:
    """Error-bar lengths below and above ``value`` for the interval [``low``, ``high``]."""
    return [(value - low).clip(lower=0), (high - value).clip(lower=0)]


def finish(fig: Figure, name: str, caption: str, title: str | None = None) -> FigureResult:
    """Give ``fig`` plain ticks, its ``title`` and the caption printed under the axes."""
    if title is not None:
        fig.suptitle(title)
    plain_ticks(fig)
    # As the figure's bottom label, so constrained layout keeps it clear of tick labels.
    width = int(fig.get_figwidth() * 17)  # characters of 7-point text per line
    fig.supxlabel(textwrap.fill(caption, width), x=0.01, ha="left", fontsize=7)
    return FigureResult(name, fig, caption)


def _words(text: object) -> int:
    return len(str(text).split())


def prompt_length_figure(optimized: pd.DataFrame) -> FigureResult | None:
    """Word counts of naive and optimized instructions, per optimizer.

    ``optimized`` holds the records of ``optimized/<optimizer>/<benchmark>.jsonl`` with the
    columns ``run``, ``optimizer``, ``benchmark``, ``id``, ``naive_instruction`` and
    ``optimized_instruction``.
    """
    if optimized.empty:
        return None
    fig, axes = panel_grid(1, 1, (6, 3.6))
    ax = axes[0][0]
    naive = optimized.drop_duplicates(["benchmark", "id"])["naive_instruction"].map(_words)
    bins = np.histogram_bin_edges(
        np.concatenate([naive, optimized["optimized_instruction"].map(_words)]), bins=20
    )
    ax.hist(naive, bins=bins, alpha=0.5, label=f"naive (n={len(naive)})")
    for optimizer, group in optimized.groupby("optimizer", sort=False):
        words = group["optimized_instruction"].map(_words)
        ax.hist(words, bins=bins, alpha=0.5, label=f"{optimizer} (n={len(words)})")
    label_panel(
        ax,
        "instruction length (words)",
        "items",
        "Instruction length before and after optimization",
    )
    caption = (
        f"{describe(optimized['run'], 'Run')}; {describe(optimized['optimizer'], 'optimizer')}; "
        f"{len(optimized)} rewritten instructions over "
        f"{optimized['benchmark'].nunique()} benchmark(s); words = space-separated tokens."
    )
    return finish(fig, "analysis_prompt_lengths", caption)
