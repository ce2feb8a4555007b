"""Figures of training runs, drawn from the trainer log history in ``metrics.json``.

Every panel has one quantity on one axis: losses of different strategies are never drawn on a
shared axis (an IPO loss near 2500 would flatten a DPO loss near 0.69). IPO's reward margin is
drawn against its target, and IPL rounds against the paper's published numbers, each point
with the count it rests on. Notebooks 03 and 04 draw one model; notebook 07 (through
``fipo_utils.analysis.figures``) lays every trained model and IPL run of its runs side by side
with the same functions. Tick labels are plain numbers (no offset or scientific notation), so a
reader can read values off the axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

from fipo_utils.runs.figure_files import plain_axis, plain_ticks

# The paper's IPL numbers (FIPO, arXiv 2402.11811 v4, Appendix C, Table 7), in percent: the
# self-judge's accuracy on a held-out split of the discrimination rows (PUBLISHED_JUDGE_SPLIT
# of them), and the prompts it replaced with its own rewrite before rounds 2 and 3.
PUBLISHED_JUDGE_ACCURACY = 100.0
PUBLISHED_JUDGE_SPLIT = 0.05
PUBLISHED_REPLACED_PERCENT = {2: 1.25, 3: 2.40}


def _series(log_history: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
    return [p[0] for p in points], [p[1] for p in points]


def plot_sft_loss(log_history: list[dict], title: str) -> Figure:
    """Completion-only SFT loss per optimizer step (and the eval loss when one was logged)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps, loss = _series(log_history, "loss")
    ax.plot(steps, loss, marker="o", label="train")
    steps, loss = _series(log_history, "eval_loss")
    if loss:
        ax.plot(steps, loss, marker="s", linestyle="--", label="eval")
        ax.legend()
    ax.set(xlabel="step", ylabel="cross-entropy (completion tokens)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    plain_axis(ax)
    fig.tight_layout()
    return plain_ticks(fig)


@dataclass(frozen=True)
class Curve:
    """One trained model's trainer log history, drawn as one row of panels.

    ``loss`` names the loss axis ("dpo" -> "DPO loss"; ``None``: "loss"); "ipo" also draws
    IPO's target on the reward-margin panel. ``label`` titles the row's panels.
    """

    log_history: list[dict[str, Any]]
    loss: str | None = None
    label: str = ""


# The metrics a preference trainer logs, one panel each (eval_<key> drawn dashed beside).
TRAINING_PANELS = (
    ("loss", "loss"),
    ("rewards/margins", "reward margin (chosen - rejected)"),
    ("rewards/accuracies", "reward accuracy"),
)


def global_steps(log_history: list[dict[str, Any]]) -> list[int]:
    """Each record's step, counting on across IPL rounds (each round's trainer restarts)."""
    steps, offset, previous = [], 0, 0
    for index, record in enumerate(log_history, start=1):
        step = int(record.get("step", index))
        if step < previous:
            offset += previous
        previous = step
        steps.append(offset + step)
    return steps


def plot_training_curves(curves: Sequence[Curve], title: str) -> Figure:
    """Loss, reward margin and reward accuracy per step: one row of panels per curve.

    No two curves share an axis: losses of different strategies live on different scales
    (DPO starts at ln 2, IPO near (1/(2 beta))^2). IPL rounds are laid end to end on the step
    axis, one colour per round; eval metrics (``eval_*`` keys) are drawn dashed. IPO's margin
    panel carries its target: the loss is minimal at a margin ``h = 1/(2 beta)``, a logged
    reward margin ``beta * h`` of 0.5 whatever beta is. A metric one curve did not log (SFT
    logs no rewards) is said so in its panel. Panels of metrics no curve logged are left out.
    """
    panels = [
        (key, label)
        for key, label in TRAINING_PANELS
        if any(k in h for c in curves for h in c.log_history for k in (key, f"eval_{key}"))
    ]
    fig, axes = plt.subplots(
        len(curves),
        len(panels),
        figsize=(3.3 * len(panels), 0.6 + 3.0 * len(curves)),
        squeeze=False,
        layout="constrained",
    )
    for row, curve in zip(axes, curves, strict=True):
        steps = global_steps(curve.log_history)
        records = list(zip(steps, curve.log_history, strict=True))
        rounds = sorted({h.get("round") for _, h in records if "loss" in h}, key=lambda r: r or 0)
        for ax, (key, label) in zip(row, panels, strict=True):
            ylabel = f"{curve.loss.upper()} loss" if key == "loss" and curve.loss else label
            ax.set(xlabel="step", ylabel=ylabel, title=curve.label)
            if not any(key in h or f"eval_{key}" in h for h in curve.log_history):
                ax.text(
                    0.5,
                    0.5,
                    "not logged for this model",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                    color="grey",
                )
                ax.set(xticks=[], yticks=[])
                continue
            for number in rounds:
                part = [(x, h) for x, h in records if h.get("round") == number]
                name = f"round {number}" if number else "train"
                xs, ys = _points(part, key)
                (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=name)
                xs, ys = _points(part, f"eval_{key}")
                if ys:
                    ax.plot(
                        xs,
                        ys,
                        marker="s",
                        markersize=3,
                        linestyle="--",
                        color=line.get_color(),
                        label=f"{name} (eval)" if number else "eval (held out)",
                    )
            if key == "rewards/margins" and curve.loss == "ipo":
                ax.axhline(0.5, color="grey", linestyle=":", label="IPO target (0.5)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if len(ax.get_legend_handles_labels()[0]) > 1:
                ax.legend(fontsize="small")
    fig.suptitle(title)
    return plain_ticks(fig)


def _points(records: list[tuple[int, dict[str, Any]]], key: str) -> tuple[list, list]:
    points = [(x, h[key]) for x, h in records if key in h]
    return [p[0] for p in points], [p[1] for p in points]


@dataclass(frozen=True)
class RoundPanel:
    """One statistic of ``rounds.json`` drawn against the round.

    ``percent``: a share in [0, 1], drawn in percent. ``count`` gives the label printed at each
    point (its value and the count it rests on). ``published``: the paper's value per round
    (markers), or one value for every round (a dotted line).
    """

    key: str
    title: str
    ylabel: str
    percent: bool
    count: Callable[[float, dict[str, Any]], str]
    published: dict[int, float] | float | None = None


def _replaced_label(value: float, record: dict[str, Any]) -> str:
    counts = (record.get("n_replaced"), record.get("n_optimizer_rows"))
    return f"{value:.1%}" + ("\n{}/{}".format(*counts) if None not in counts else "")


def _judge_label(value: float, record: dict[str, Any]) -> str:
    n = record.get("n_judge_holdout")
    return f"{value:.0%}" + (f"\nn={n}" if n is not None else "")


def _value_label(value: float, record: dict[str, Any]) -> str:
    return f"{value:,.4g}"


# The per-round statistics notebook 04 records, in panel order.
IPL_ROUND_PANELS = (
    RoundPanel(
        "replaced_share",
        "prompts replaced",
        "prompts replaced (%)",
        percent=True,
        count=_replaced_label,
        published=PUBLISHED_REPLACED_PERCENT,
    ),
    RoundPanel(
        "judge_accuracy",
        "judge accuracy (held out)",
        "judge accuracy (%)",
        percent=True,
        count=_judge_label,
        published=PUBLISHED_JUDGE_ACCURACY,
    ),
    RoundPanel(
        "loss_mean", "mean training loss", "mean training loss", percent=False, count=_value_label
    ),
)


def plot_ipl_rounds(runs: Mapping[str, Sequence[dict[str, Any]]], title: str) -> Figure:
    """Per IPL round: prompts replaced, judge accuracy and mean training loss, one line per
    run (label -> its ``rounds.json`` records), beside the paper's numbers.

    Each point is labelled with its value and the count behind it (``n_replaced`` of
    ``n_optimizer_rows``; ``n_judge_holdout`` rows for the judge); a round without the
    statistic (round 1 rewrites nothing) shows "n/a". Panels of statistics no run recorded
    are left out.
    """
    panels = [p for p in IPL_ROUND_PANELS if any(p.key in r for rs in runs.values() for r in rs)]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.3 * len(panels), 3.6), squeeze=False, layout="constrained"
    )
    numbers = sorted({_round(r, i) for rs in runs.values() for i, r in enumerate(rs, 1)})
    for ax, panel in zip(axes[0], panels, strict=True):
        scale = 100.0 if panel.percent else 1.0
        tallest = 0.0
        for label, records in runs.items():
            points = [(_round(r, i), r) for i, r in enumerate(records, 1)]
            shown = [(n, r) for n, r in points if r.get(panel.key) is not None]
            xs = [n for n, _ in shown]
            ys = [scale * float(r[panel.key]) for _, r in shown]
            ax.plot(xs, ys, marker="o", label=label)
            tallest = max([tallest, *ys])
            for (number, record), y in zip(shown, ys, strict=True):
                ax.annotate(
                    panel.count(float(record[panel.key]), record),
                    (number, y),
                    textcoords="offset points",
                    xytext=(0, 4),
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                )
            for number, _ in points:
                if number not in xs:
                    ax.annotate(
                        "n/a",
                        (number, 0.02),
                        xycoords=("data", "axes fraction"),
                        ha="center",
                        fontsize="x-small",
                        color="grey",
                    )
        if isinstance(panel.published, dict):
            marked = [n for n in numbers if n in panel.published]
            if marked:
                values = [panel.published[n] for n in marked]
                ax.scatter(marked, values, marker="D", color="black", zorder=3, label="paper")
                tallest = max([tallest, *values])
        elif panel.published is not None:
            ax.axhline(
                panel.published,
                color="black",
                linestyle=":",
                label=f"paper ({PUBLISHED_JUDGE_SPLIT:.0%} held out)",
            )
            tallest = max(tallest, panel.published)
        # head room above the tallest point for its label and the legend
        top = 1.45 * tallest or 1.0
        ax.set_ylim(0, top)
        if panel.percent:  # no tick above 100%: the room above is for the labels
            ticks = MaxNLocator(6).tick_values(0, min(top, 100.0))
            ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if t <= min(top, 100.0)]))
        ax.set_xticks(numbers, [str(n) for n in numbers])
        ax.set_xlim(min(numbers) - 0.5, max(numbers) + 0.5)
        ax.set(xlabel="round", ylabel=panel.ylabel, title=panel.title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", loc="upper left")
    fig.suptitle(title)
    return plain_ticks(fig)


def _round(record: dict[str, Any], index: int) -> int:
    return int(record.get("round", index))
