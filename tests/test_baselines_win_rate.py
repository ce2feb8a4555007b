"""Notebook 08's win rates come from the prediction records it writes, through
``run_baselines``' own call path: a scripted model answers right only under some rewrites,
so the counts cannot all be ties, and every count must match the prediction files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import fipo_utils.models.generators as generators
from fipo_utils.baselines import step
from fipo_utils.data.benchmarks import BenchmarkItem, LoadedBenchmark
from fipo_utils.runs.profiles import load_profile, section
from fipo_utils.runs.records import read_predictions


class _Tokenizer:
    def __call__(self, text, add_special_tokens=True):
        return SimpleNamespace(input_ids=text.split())


class _ScriptedModel:
    """Every optimizer rewrites item i as "Think carefully about item-i."; a tester answers
    such a rewrite right on even items and wrong on odd ones, and never answers a naive
    question in the answer template (so strict scoring calls every naive answer wrong)."""

    backend = "scripted"
    tokenizer = _Tokenizer()
    stats = "scripted"

    def generate(self, prompts, params):
        replies = []
        for prompt in prompts:
            index = int(re.search(r"item-(\d+)", prompt).group(1))
            if "carefully" in prompt:
                replies.append("The answer is 7." if index % 2 == 0 else "The answer is 1.")
            else:
                replies.append(f"Think carefully about item-{index}.")
        return replies

    def close(self):
        return None


@pytest.mark.shared
def test_win_rates_equal_the_prediction_files(tmp_path: Path, shared_data, monkeypatch) -> None:
    items = [
        BenchmarkItem(
            id=f"gsm8k-{i}",
            benchmark="gsm8k",
            # a few-shot example in the answer template, as GSM8K's prompts carry
            few_shot_context="Q: One apple and two more?\nA: The answer is 3.\n\n",
            instruction=f"How many apples has item-{i}?",
            gold="seven\n#### 7",
        )
        for i in range(4)
    ]
    monkeypatch.setattr(
        step, "load_benchmark", lambda *a, **k: LoadedBenchmark("gsm8k", items, len(items), "test")
    )
    monkeypatch.setattr(generators, "generator_from_settings", lambda *a, **k: _ScriptedModel())
    profile = load_profile("tiny")
    profile["models"] = {**profile["models"], "prompt_format": "raw", "prompt_formats": {}}
    settings = section("tiny", "baselines")

    out = step.run_baselines(tmp_path, profile, settings)

    summary = json.loads((tmp_path / "baselines" / "summary.json").read_text())
    counted = {}
    for row in summary["win_rates"]:
        path = (
            tmp_path
            / "baselines"
            / "predictions"
            / row["optimizer"]
            / row["tester"]
            / "gsm8k.jsonl"
        )
        records = read_predictions(path)
        naive = {r.id: r.correct for r in records if r.condition == "naive"}
        optimized = {r.id: r.correct for r in records if r.condition == "optimized"}
        wins = sum(optimized[i] and not naive[i] for i in naive)
        losses = sum(naive[i] and not optimized[i] for i in naive)
        assert (row["win"], row["lose"], row["tie"]) == (wins, losses, len(naive) - wins - losses)
        counted[row["optimizer"]] = row["win"]
    # the FIPO rewrite of the even items is answered right: two wins out of four
    assert counted["fipo-single"] == 2
    assert out["win_rates"]["win"].sum() >= 2
