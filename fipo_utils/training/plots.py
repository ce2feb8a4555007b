"""Figures of training runs, drawn from the trainer log history in ``metrics.json``.

Every panel has one quantity on one axis: losses of different strategies are never drawn on a
shared axis (an IPO loss near 2500 would flatten a DPO loss near 0.69). IPO's reward margin is
drawn against its target, and IPL rounds against the paper's published markers, each bar with
the count it rests on. Tick labels are plain numbers (no offset or scientific notation), so a
reader can read values off the axis.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from fipo_utils.runs.figure_files import plain_axis, plain_ticks

PREFERENCE_PANELS = (
    ("loss", "loss"),
    ("rewards/margins", "reward margin (chosen - rejected)"),
    ("rewards/accuracies", "reward accuracy"),
)
# The paper's IPL numbers (FIPO, arXiv 2402.11811 v4, Appendix C, Table 7), in percent: the
# self-judge's accuracy on a held-out split of the discrimination rows (PUBLISHED_JUDGE_SPLIT
# of them), and the prompts it replaced with its own rewrite before rounds 2 and 3.
PUBLISHED_JUDGE_ACCURACY = 100.0
PUBLISHED_JUDGE_SPLIT = 0.05
PUBLISHED_REPLACED_PERCENT = {2: 1.25, 3: 2.40}
# The same as shares, the unit of the per-round statistics drawn here.
_JUDGE_SHARE = PUBLISHED_JUDGE_ACCURACY / 100
_REPLACED_SHARE = {n: p / 100 for n, p in PUBLISHED_REPLACED_PERCENT.items()}


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


def plot_preference_curves(log_history: list[dict], title: str, loss: str = "dpo") -> Figure:
    """Loss, reward margin and reward accuracy per step, one colour per IPL round if any.

    ``loss="ipo"`` draws IPO's target on the margin panel: the loss is minimal at a margin
    ``h = 1/(2 beta)``, i.e. a logged reward margin ``beta * h`` of 0.5 whatever beta is.
    Eval metrics (``eval_*`` keys), when the trainer logged them, are drawn dashed.
    """
    fig, axes = plt.subplots(1, len(PREFERENCE_PANELS), figsize=(13, 3.4))
    rounds = sorted({h.get("round") for h in log_history if "loss" in h}, key=lambda r: r or 0)
    for ax, (key, label) in zip(axes, PREFERENCE_PANELS, strict=True):
        for number in rounds:
            part = [h for h in log_history if h.get("round") == number]
            steps, values = _series(part, key)
            name = f"round {number}" if number else "train"
            (line,) = ax.plot(steps, values, marker="o", label=name)
            steps, values = _series(part, f"eval_{key}")
            if values:
                ax.plot(
                    steps,
                    values,
                    marker="s",
                    linestyle="--",
                    color=line.get_color(),
                    label=f"{name} (eval)" if number else "eval (held out)",
                )
        if key == "rewards/margins" and loss == "ipo":
            ax.axhline(0.5, color="grey", linestyle=":", label="IPO target (0.5)")
        ax.set(xlabel="step", ylabel=label if key != "loss" else f"{loss.upper()} loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        plain_axis(ax)
        if ax.get_legend_handles_labels()[0] and (len(rounds) > 1 or key != "loss"):
            ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return plain_ticks(fig)


def plot_ipl_rounds(rounds: list[dict], title: str) -> Figure:
    """Per IPL round: share of prompts replaced and judge accuracy, beside the paper's markers.

    Each bar is annotated with its value and the count behind it (``n_replaced`` of
    ``n_optimizer_rows``; ``n_judge_holdout`` rows for the judge); round 1 rewrites nothing
    and shows "n/a". Mean training loss per round is the third panel.
    """
    numbers = [r["round"] for r in rounds]
    panels = (
        ("replaced_share", "prompts replaced (share)"),
        ("judge_accuracy", "judge accuracy (held out)"),
        ("loss_mean", "mean training loss"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.4))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = [r.get(key) for r in rounds]
        ax.bar(numbers, [v if v is not None else 0.0 for v in values], label="this run")
        for number, value, entry in zip(numbers, values, rounds, strict=True):
            ax.annotate(
                _bar_label(key, value, entry),
                (number, value or 0.0),
                ha="center",
                va="bottom",
                fontsize="small",
            )
        if key == "replaced_share":
            marked = [n for n in numbers if n in _REPLACED_SHARE]
            if marked:
                published = [_REPLACED_SHARE[n] for n in marked]
                ax.scatter(marked, published, marker="D", color="black", zorder=3, label="paper")
        if key == "judge_accuracy":
            ax.scatter(
                numbers,
                [_JUDGE_SHARE] * len(numbers),
                marker="D",
                color="black",
                zorder=3,
                label="paper",
            )
        # head room above the tallest bar or marker for the labels and the legend
        tallest = max([v for v in values if v is not None] + [0.0])
        if key == "judge_accuracy":
            tallest = max(tallest, _JUDGE_SHARE)
        if key == "replaced_share":
            tallest = max([tallest, *(_REPLACED_SHARE.get(n, 0.0) for n in numbers)])
        ax.set_ylim(0, 1.5 * tallest or 1.0)
        if key != "loss_mean":
            ax.legend(fontsize="small", loc="upper left")
        ax.set_xticks(numbers, [str(n) for n in numbers])
        ax.set(xlabel="round", ylabel=label)
        plain_axis(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return plain_ticks(fig)


def _bar_label(key: str, value: float | None, entry: dict) -> str:
    if value is None:
        return "n/a"
    if key == "replaced_share":
        return f"{value:.1%}\n{entry.get('n_replaced')}/{entry.get('n_optimizer_rows')}"
    if key == "judge_accuracy":
        return f"{value:.0%}\nn={entry.get('n_judge_holdout')}"
    return f"{value:,.4g}"
