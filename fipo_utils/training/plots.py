"""Figures of training runs, drawn from the trainer log history in ``metrics.json``."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PREFERENCE_PANELS = (
    ("loss", "loss"),
    ("rewards/margins", "reward margin (chosen - rejected)"),
    ("rewards/accuracies", "reward accuracy"),
)


def _series(log_history: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(h["step"], h[key]) for h in log_history if key in h and "step" in h]
    return [p[0] for p in points], [p[1] for p in points]


def plot_sft_loss(log_history: list[dict], title: str) -> Figure:
    """Completion-only SFT loss per optimizer step."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps, loss = _series(log_history, "loss")
    ax.plot(steps, loss, marker="o")
    ax.set(xlabel="step", ylabel="loss (completion tokens)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_preference_curves(log_history: list[dict], title: str) -> Figure:
    """Loss, reward margin and reward accuracy per step (one colour per IPL round if any)."""
    fig, axes = plt.subplots(1, len(PREFERENCE_PANELS), figsize=(13, 3.2))
    rounds = sorted({h.get("round") for h in log_history if "loss" in h}, key=lambda r: r or 0)
    for ax, (key, label) in zip(axes, PREFERENCE_PANELS, strict=True):
        for number in rounds:
            part = [h for h in log_history if h.get("round") == number]
            steps, values = _series(part, key)
            ax.plot(steps, values, marker="o", label=f"round {number}" if number else None)
        ax.set(xlabel="step", ylabel=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if len(rounds) > 1:
        axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_ipl_rounds(rounds: list[dict], title: str) -> Figure:
    """Per IPL round: share of prompts replaced, judge accuracy on held-out rows, mean loss."""
    numbers = [r["round"] for r in rounds]
    panels = (
        ("replaced_share", "prompts replaced (share)"),
        ("judge_accuracy", "judge accuracy (held out)"),
        ("loss_mean", "mean training loss"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.2))
    for ax, (key, label) in zip(axes, panels, strict=True):
        values = [r.get(key) for r in rounds]
        ax.bar([str(n) for n in numbers], [v if v is not None else 0.0 for v in values])
        for x, v in enumerate(values):
            ax.annotate("n/a" if v is None else f"{v:.3g}", (x, v or 0.0), ha="center", va="bottom")
        ax.set(xlabel="round", ylabel=label)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
