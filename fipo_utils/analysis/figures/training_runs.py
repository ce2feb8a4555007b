"""Training runs side by side: every trained model's curves and every IPL run's rounds, drawn
by notebook 03/04's figure functions (:mod:`fipo_utils.training.plots`) with a caption."""

from __future__ import annotations

from typing import Any

from fipo_utils.analysis import published
from fipo_utils.inference.figures import (
    FigureResult,
    describe,
    finish,
    page_name,
    page_title,
    pages,
)
from fipo_utils.training import plots

# One row of metric panels per trained model: three rows fill a page.
CURVES_PER_PAGE = 3
TITLE = "Training curves, one row per trained model"


def _loss_of(name: str) -> str | None:
    """The loss a model name says it was trained with (``ipl-ipo-lora`` -> ``ipo``)."""
    parts = name.lower().split("-")
    return next((loss for loss in ("ipo", "dpo", "sft") if loss in parts), None)


def training_curves_figure(
    train_metrics: dict[tuple[str, str], list[dict[str, Any]]],
) -> list[FigureResult]:
    """Training curves, one row of panels per trained model and one panel per metric
    (:func:`fipo_utils.training.plots.plot_training_curves`): no two models share an axis,
    IPL rounds continue the step count, and IPO's margin panel carries its target. Three
    models a page."""
    logs = {k: v for k, v in train_metrics.items() if v}
    keys = [key for key, _ in plots.TRAINING_PANELS]
    if not any(k in r for log in logs.values() for r in log for k in keys):
        return []
    one_run = len({run for run, _ in logs}) == 1
    curves = [
        plots.Curve(log, loss=_loss_of(name), label=name if one_run else f"{name} ({run})")
        for (run, name), log in logs.items()
    ]
    chunks = pages(curves, CURVES_PER_PAGE)
    steps = {
        name: max((r.get("step", 0) for r in log), default=0) for (_, name), log in logs.items()
    }
    caption = (
        f"{describe([r for r, _ in logs], 'Run')}. Logged steps per model: "
        + ", ".join(f"{name} {n}" for name, n in steps.items())
        + ". Values as logged by the trainer; IPL rounds continue the step count."
    )
    return [
        finish(
            plots.plot_training_curves(chunk, page_title(TITLE, number, len(chunks))),
            page_name("analysis_training_curves", number),
            caption,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


def ipl_rounds_figure(
    ipl_rounds: dict[tuple[str, str], list[dict[str, Any]]],
) -> FigureResult | None:
    """The statistics of ``rounds.json`` against the round, one line per IPL run
    (:func:`fipo_utils.training.plots.plot_ipl_rounds`), beside the paper's replaced-prompt
    shares and discrimination accuracy."""
    runs = {f"{name} ({run})": records for (run, name), records in ipl_rounds.items() if records}
    keys = [panel.key for panel in plots.IPL_ROUND_PANELS]
    if not any(k in r for records in runs.values() for r in records for k in keys):
        return None
    fig = plots.plot_ipl_rounds(runs, "Iterative preference learning, statistics per round")
    replaced = ", ".join(
        f"{share:.2f}% before round {number}"
        for number, share in plots.PUBLISHED_REPLACED_PERCENT.items()
    )
    caption = (
        f"{describe([r for r, _ in ipl_rounds], 'Run')}; "
        f"{describe([n for _, n in ipl_rounds], 'model')}; "
        f"{max(len(v) for v in ipl_rounds.values())} round(s) recorded; labels give the counts "
        "behind each point (replaced of rewritten prompts, held-out judge rows). "
        f"Reference: {published.IPL_SOURCE} (discrimination accuracy "
        f"{plots.PUBLISHED_JUDGE_ACCURACY:g}% on a {plots.PUBLISHED_JUDGE_SPLIT:.0%} split; "
        f"prompts replaced {replaced})."
    )
    return finish(fig, "analysis_ipl_rounds", caption)
