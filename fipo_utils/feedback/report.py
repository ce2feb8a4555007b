"""What notebook 10 shows of a GRPO run: the reward curves and rewrites before and after.

The curves come from trl's log history (``train/<name>/metrics.json``): every evaluation on
the dev split logs ``eval_reward`` (the first one, at step 0, is the untrained policy), every
training step logs each reward term's mean and the KL to the start model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from fipo_utils.feedback.reward import REWARD_TERMS

PENALTIES = ("invalid_rewrite", "answer_leak", "over_word_limit")


def reward_curves(log_history: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per logged step and split (``train`` / ``dev``): the weighted reward, each
    term's mean and the KL (training steps only)."""
    rows = []
    for entry in log_history:
        for split, prefix in (("train", ""), ("dev", "eval_")):
            if f"{prefix}reward" not in entry:
                continue
            row = {"step": entry["step"], "split": split, "reward": entry[f"{prefix}reward"]}
            for term in REWARD_TERMS:
                row[term] = entry.get(f"{prefix}rewards/{term}/mean")
            row["kl"] = entry.get("kl") if split == "train" else None
            rows.append(row)
    columns = ["step", "split", "reward", *REWARD_TERMS, "kl"]
    return pd.DataFrame(rows, columns=columns)


def plot_grpo_curves(curves: pd.DataFrame, title: str) -> Figure:
    """Three panels: the dev split's mean reward against the untrained policy's (step 0),
    the penalty rates per training step, and the KL to the start model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
    dev = curves[curves["split"] == "dev"].drop_duplicates("step", keep="last")
    train = curves[curves["split"] == "train"]
    reward_ax, penalty_ax, kl_ax = axes
    reward_ax.plot(dev["step"], dev["reward"], marker="o", label="dev split")
    if not dev.empty:
        reward_ax.axhline(
            dev["reward"].iloc[0], color="grey", linestyle="--", label="untrained (step 0)"
        )
    reward_ax.plot(train["step"], train["reward"], alpha=0.5, label="training batch")
    reward_ax.set(title="mean reward", xlabel="optimizer step", ylabel="weighted reward")
    reward_ax.legend(fontsize=8)
    for term in PENALTIES:
        penalty_ax.plot(train["step"], train[term], marker=".", label=term.replace("_", " "))
    penalty_ax.set(title="penalty rates (training)", xlabel="optimizer step", ylabel="share")
    penalty_ax.set_ylim(-0.05, 1.05)
    penalty_ax.legend(fontsize=8)
    kl_ax.plot(train["step"], train["kl"], marker=".")
    kl_ax.set(title="KL to the start model", xlabel="optimizer step", ylabel="nats per token")
    fig.suptitle(title)
    return fig


def dev_items(run_dir: str | Path, name: str, profile: dict) -> list:
    """The dev items of a GRPO run, re-loaded by the ids its split file recorded."""
    from fipo_utils.data.benchmarks import BenchmarkMissing, load_benchmark, load_train_split
    from fipo_utils.runs.io import read_json

    ids = read_json(Path(run_dir) / "train" / name / "rl_items.json")["dev"]
    wanted = set(ids)
    by_id = {}
    for bench_name in {_benchmark_of(i) for i in ids}:
        try:
            items = load_train_split(bench_name).items
        except BenchmarkMissing:
            items = load_benchmark(bench_name).items
        by_id.update({item.id: item for item in items if item.id in wanted})
    return [by_id[i] for i in ids if i in by_id]


def _benchmark_of(item_id: str) -> str:
    """``piqa-12`` -> ``piqa``; ``mmlu/anatomy-val-3`` -> ``mmlu``; ``bbh/navigate-4`` ->
    ``bbh/navigate`` (the loader's name)."""
    head = item_id.rsplit("-", 1)[0]
    if head.startswith("mmlu/"):
        return "mmlu"
    return head.removesuffix("-train").removesuffix("-val")


def preview_dev_rewrites(
    models: dict[str, str],
    items: list,
    *,
    prompt_format: str,
    max_new_tokens: int,
    template_path: str | None = None,
) -> pd.DataFrame:
    """Each dev item's naive instruction and its rewrite by each model (column name ->
    model), greedy, with the optimizer's test-time template: what notebook 05 will score."""
    from fipo_utils.data.template import load_template
    from fipo_utils.inference.optimize import optimize_prompts
    from fipo_utils.models.generate import GenerationParams, TransformersGenerator
    from fipo_utils.models.loading import load_model

    table = pd.DataFrame({"id": [item.id for item in items]})
    table["naive instruction"] = [item.instruction for item in items]
    template = load_template(template_path)
    for column, model in models.items():
        loaded = load_model(model)
        generator = TransformersGenerator(loaded.model, loaded.tokenizer)
        rewrites = optimize_prompts(
            generator,
            [item.instruction for item in items],
            template=template,
            fmt=prompt_format,
            params=GenerationParams(max_new_tokens=max_new_tokens),
        )
        table[column] = [r.prompt for r in rewrites]
        del loaded, generator
    return table.set_index("id")
