"""Tester-feedback RL (GRPO): disjoint item splits, the reward's terms, the tester cache,
and ``fipo train --strategy grpo`` end to end on the tiny model."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.feedback.items import RlItems, check_disjoint, notebook_item_ids, rl_items
from fipo_utils.feedback.reward import (
    REWARD_TERMS,
    CachedTester,
    RewardFunctions,
    reward_weights,
)
from fipo_utils.runs.profiles import load_profile
from fipo_utils.training.gate import read_gate

PIQA = BenchmarkItem(
    id="piqa-1",
    benchmark="piqa",
    few_shot_context="Choose the more appropriate solution to reach each goal.",
    instruction="Goal: keep bread fresh",
    options=["seal it in a bag", "leave it in the sun"],
    gold="A",
    kind="multiple_choice",
)
GSM = BenchmarkItem(
    id="gsm8k-train-9",
    benchmark="gsm8k",
    few_shot_context="Q: 1+1?\nA: The answer is 2.",
    instruction="Tom has 3 apples and buys 4 more. How many apples does he have?",
    gold="3 + 4 = 7\n#### 7",
)
ITEMS = {f"{i.benchmark}::{i.id}": i for i in (PIQA, GSM)}


def _scorer(calls: list[int]):
    """A tester that is right exactly when the instruction mentions 'carefully'."""

    def score(items, instructions):
        calls.append(len(items))
        return [
            {
                "correct": "carefully" in text,
                "margin": (2.0 if "carefully" in text else -0.5)
                if item.kind == "multiple_choice"
                else None,
            }
            for item, text in zip(items, instructions, strict=True)
        ]

    return score


def test_rl_items_are_disjoint_from_every_tested_item(shared_data) -> None:
    profile = load_profile("smoke")
    split = rl_items(profile, ["piqa", "gsm8k", "bbh/date_understanding"], 5, 3, seed=7)
    tested, whole_tasks = notebook_item_ids(profile)
    ids = [item.id for item in [*split.train, *split.dev]]
    assert len(ids) == len(set(ids)) == 3 * (5 + 3)
    assert not set(ids) & tested
    assert all(i.startswith("gsm8k-train-") for i in ids if i.startswith("gsm8k"))
    assert split.held_back["piqa"] == sum(1 for i in tested if i.startswith("piqa-"))
    assert whole_tasks == {"bbh/object_counting"}  # smoke's search task, named without bbh/
    two_tasks = copy.deepcopy(dict(profile))
    two_tasks["baselines"]["search"]["tasks"] = ["penguins_in_a_table", "bbh/object_counting"]
    assert notebook_item_ids(two_tasks)[1] == {"bbh/penguins_in_a_table", "bbh/object_counting"}
    left_out = rl_items(profile, ["bbh/object_counting"], 5, 3, seed=7)
    assert not left_out.train and "notebook 09" in left_out.sources["bbh/object_counting"]
    # the same seed gives the same split, another seed another
    again = rl_items(profile, ["piqa"], 5, 3, seed=7)
    other = rl_items(profile, ["piqa"], 5, 3, seed=8)
    assert [i.id for i in again.train] == [i.id for i in split.train if i.benchmark == "piqa"]
    assert [i.id for i in other.train] != [i.id for i in again.train]


def test_check_disjoint_refuses_an_overlap() -> None:
    split = RlItems([PIQA], [GSM], {}, {})
    check_disjoint(split, {"other"})
    with pytest.raises(ValueError, match="overlap the tested items"):
        check_disjoint(split, {"piqa-1"})
    with pytest.raises(ValueError, match="both training and dev"):
        check_disjoint(RlItems([PIQA], [PIQA], {}, {}), set())


def test_each_reward_term_reads_what_it_should() -> None:
    calls: list[int] = []
    rewards = RewardFunctions(ITEMS, CachedTester("t", _scorer(calls)), 6, eos_token_id=0)
    correct, margin, invalid, leak, longer = rewards.functions()
    completions = [
        "Read the goal carefully and pick the better solution.",
        "Improved Prompt: x Original Prompt: y",
        "How many apples? The answer is 7.",
        " ".join(["word"] * 40),
    ]
    keys = ["piqa::piqa-1", "piqa::piqa-1", "gsm8k::gsm8k-train-9", "gsm8k::gsm8k-train-9"]
    ids = [[5, 0], [5, 6, 7, 8, 9, 1], [5, 6, 0], [5, 6, 7, 8, 9, 1]]
    assert correct(completions=completions, item_key=keys) == [1.0, 0.0, 0.0, 0.0]
    assert margin(completions=completions, item_key=keys) == [1.0, -0.5, None, None]
    # 05's validity record: fine; a label loop; numbers lost and the answer stated;
    # unfinished (the length limit without an end of sequence)
    assert invalid(completions=completions, completion_ids=ids, item_key=keys) == [
        0.0,
        1.0,
        1.0,
        1.0,
    ]
    assert leak(completions=completions, item_key=keys) == [0.0, 0.0, 1.0, 0.0]
    assert longer(completions=completions, word_limit=[30] * 4) == [0.0, 0.0, 0.0, 1.0]
    assert sum(calls) == 4  # the tester scored each distinct prompt once for both terms


def test_tester_scores_are_cached_on_disk(tmp_path) -> None:
    calls: list[int] = []
    path = tmp_path / "tester_scores-rank0.jsonl"
    scores = CachedTester("t", _scorer(calls), path)
    first = scores([PIQA, PIQA, GSM], ["a carefully", "a carefully", "b"])
    assert scores.calls == 2 and first[0] == first[1]
    reopened = CachedTester("t", _scorer(calls), path)
    assert reopened([PIQA, GSM], ["a carefully", "b"]) == [first[0], first[2]]
    assert reopened.calls == 0
    another_tester = CachedTester("u", _scorer(calls), path)
    another_tester([PIQA], ["a carefully"])
    assert another_tester.calls == 1  # keys carry the tester


def test_reward_weights_follow_the_terms_and_refuse_unknown_ones() -> None:
    weights = reward_weights({"tester_correct": 1.0, "answer_leak": -2.0})
    assert len(weights) == len(REWARD_TERMS)
    assert weights[REWARD_TERMS.index("answer_leak")] == -2.0
    assert weights[REWARD_TERMS.index("tester_margin")] == 0.0
    with pytest.raises(KeyError, match="unknown terms"):
        reward_weights({"tester_corect": 1.0})


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.shared
def test_fipo_train_grpo_on_the_tiny_model_then_notebook_10(
    tmp_path, shared_data, tiny_model_dir, run_notebook, notebook_text
) -> None:
    from fipo_utils.inference.registry import resolve_optimizer, trained_optimizers

    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "fipo_utils.cli", "train", "--run-dir", str(run_dir)]
    command += ["--profile", "tiny", "--strategy", "grpo", "--max-steps", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "train/grpo-lora/metrics.json").read_text())
    history = metrics["log_history"]
    evals = [h for h in history if "eval_reward" in h]
    assert evals[0]["step"] == 0  # the untrained policy's dev reward opens the curve
    steps = [h for h in history if "reward" in h]
    assert len(steps) == 2
    for term in REWARD_TERMS:  # each term, penalties included, logged on its own
        assert f"rewards/{term}/mean" in steps[0]
    cached = (run_dir / "train/grpo-lora/tester_scores-rank0.jsonl").read_text().splitlines()
    assert metrics["tester_calls"] == len(cached) > 0
    split = json.loads((run_dir / "train/grpo-lora/rl_items.json").read_text())
    tested, _ = notebook_item_ids(load_profile("tiny"))
    assert not set(split["train"] + split["dev"]) & tested
    assert "grpo-lora" in trained_optimizers(run_dir)
    # the gate: the last dev reward against the untrained policy's, on the same dev items
    gate = read_gate(run_dir / "checkpoints" / "grpo-lora")
    assert gate is not None and [c.name for c in gate.checks] == ["dev reward"]
    rewards = [h["eval_reward"] for h in history if "eval_reward" in h]
    assert gate.checks[0].gain == pytest.approx(rewards[-1] - rewards[0])
    name, path = resolve_optimizer(run_dir, "grpo-lora", "tiny-random")
    assert name == "grpo-lora" and path.endswith("checkpoints/grpo-lora/final")
    # notebook 10 with the same settings finds the finished run and draws its curves
    book = run_notebook(
        "10_tester_feedback_rl", tmp_path, run_dir=str(run_dir), profile="tiny", max_steps=2
    )
    text = notebook_text(book)
    assert "tester calls: " + str(metrics["tester_calls"]) in text
    assert (run_dir / "figures" / "10_grpo-lora_curves.png").is_file()
    assert json.loads((run_dir / "train/grpo-lora/metrics.json").read_text()) == metrics
