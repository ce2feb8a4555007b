"""Token lengths of the training rows, and what each length cap cuts.

On a CPU a training step costs about its token count, and a padded batch costs its longest
row: a cap far above what the rows need pays for padding, a cap below it cuts the prompts
(the end of a rendered input, which holds the naive prompt, is kept; its start, the
template's instructions, goes). The caps (``max_prompt_length``, ``max_length``) are
therefore set from the distribution of the rows' lengths in the model's own tokens, as the
trainer will see them (re-wrapped in the profile's chat format), and notebook 01 shows the
distribution and how many rows each candidate cap would cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure
from transformers import PreTrainedTokenizerBase

from fipo_utils.training.rows import rewrap_prompt

TARGETS = ("completion", "chosen", "rejected")


def token_lengths(
    rows: Sequence[dict], tokenizer: PreTrainedTokenizerBase, prompt_format: str
) -> pd.DataFrame:
    """One row per training row: ``prompt`` tokens (chat-wrapped as trained), ``response``
    tokens (the longest of completion / chosen / rejected) and ``total``."""
    prompts = [rewrap_prompt(r["prompt"], prompt_format, tokenizer) for r in rows]
    prompt_ids = tokenizer(prompts, add_special_tokens=False).input_ids
    response = []
    for row in rows:
        texts = [row[k] for k in TARGETS if k in row]
        ids = tokenizer(texts, add_special_tokens=False).input_ids
        response.append(max(len(i) for i in ids) + 1)  # +1: the EOS the trainer appends
    table = pd.DataFrame(
        {"prompt": [len(i) for i in prompt_ids], "response": response},
        index=[str(r.get("id", i)) for i, r in enumerate(rows)],
    )
    table["total"] = table["prompt"] + table["response"]
    return table


def cap_table(
    lengths: pd.DataFrame, caps: Sequence[tuple[int, int]], current: tuple[int, int] | None = None
) -> pd.DataFrame:
    """Per ``(max_prompt_length, max_length)`` pair: rows whose prompt is cut, rows whose
    prompt + response still exceeds ``max_length`` after the prompt cap (the response is then
    cut too), and the tokens a step would pay (padded to the longest row, per row) relative
    to no cap. ``current`` marks the profile's pair."""
    records = []
    for prompt_cap, total_cap in caps:
        prompt = lengths["prompt"].clip(upper=prompt_cap)
        total = (prompt + lengths["response"]).clip(upper=total_cap)
        records.append(
            {
                "max_prompt_length": prompt_cap,
                "max_length": total_cap,
                "prompts_cut": int((lengths["prompt"] > prompt_cap).sum()),
                "responses_cut": int((prompt + lengths["response"] > total_cap).sum()),
                "share_cut": float(
                    ((lengths["prompt"] > prompt_cap) | (prompt + lengths["response"] > total_cap))
                    .astype(float)
                    .mean()
                ),
                "tokens_vs_uncapped": float(total.sum() / lengths["total"].sum()),
                "profile": (prompt_cap, total_cap) == current,
            }
        )
    return pd.DataFrame(records)


def suggest_caps(lengths: pd.DataFrame, quantile: float = 0.95, multiple: int = 32) -> tuple:
    """``(max_prompt_length, max_length)`` that keep ``quantile`` of the prompts whole and
    ``quantile`` of the rows (prompt + response) uncut, rounded up to ``multiple`` tokens."""

    def up(value: float) -> int:
        return int(math.ceil(value / multiple) * multiple)

    prompt_cap = up(float(lengths["prompt"].quantile(quantile)))
    total = lengths["prompt"].clip(upper=prompt_cap) + lengths["response"]
    return prompt_cap, max(prompt_cap + multiple, up(float(total.quantile(quantile))))


def plot_token_lengths(frames: dict[str, pd.DataFrame], caps: tuple[int, int]) -> Figure:
    """Histograms of prompt and total tokens per data file, the profile's caps as lines."""
    fig = Figure(figsize=(10, 3.2 * len(frames)), layout="constrained")
    axes = fig.subplots(len(frames), 2, squeeze=False)
    for row, (name, lengths) in zip(axes, frames.items(), strict=True):
        for ax, column, cap, label in (
            (row[0], "prompt", caps[0], "max_prompt_length"),
            (row[1], "total", caps[1], "max_length"),
        ):
            ax.hist(lengths[column], bins=40, color="tab:blue")
            cut = int((lengths[column] > cap).sum())
            ax.axvline(cap, color="tab:red", label=f"{label} {cap}: {cut} of {len(lengths)} over")
            ax.set(title=f"{name}: {column} tokens", xlabel="tokens", ylabel="rows")
            ax.legend(fontsize=8)
    return fig
