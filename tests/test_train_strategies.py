"""Each strategy x {LoRA, full} trains a few steps on the tiny model and moves its loss."""

from __future__ import annotations

import json

import pytest
import torch
from train_rows import write_run_data

from fipo_utils.models.loading import load_model
from fipo_utils.training.strategies import settings_from_profile
from fipo_utils.training.train import train_strategy

FAST = {"max_steps": 5, "batch_size": 4, "learning_rate": 5e-3, "warmup_ratio": 0.0}


def _losses(record: dict) -> list[float]:
    return [h["loss"] for h in record["log_history"] if "loss" in h]


# dpo-lora stays in the fast tier as the representative case; the other five are slow.
@pytest.mark.parametrize(
    ("strategy", "lora"),
    [
        pytest.param(strategy, lora, id=f"{strategy}-{'lora' if lora else 'full'}", marks=marks)
        for strategy in ("sft", "dpo", "ipo")
        for lora in (True, False)
        for marks in [() if (strategy, lora) == ("dpo", True) else pytest.mark.slow]
    ],
)
def test_strategy_lowers_loss_and_saves_a_loadable_model(tmp_path, strategy, lora):
    run_dir = write_run_data(tmp_path / "run")
    record = train_strategy(
        run_dir, "tiny", strategy, lora=lora, beta=0.1, prompt_format="tulu", **FAST
    )
    losses = _losses(record)
    assert len(losses) == FAST["max_steps"]
    assert losses[-1] < losses[0]
    name = f"{strategy}-{'lora' if lora else 'full'}"
    saved = json.loads((run_dir / "train" / name / "metrics.json").read_text())
    assert saved["settings"]["lora"] is lora
    trained = load_model(str(run_dir / "checkpoints" / name / "final"))
    base = load_model("tiny-random")
    ids = trained.tokenizer("Question 1: pick", return_tensors="pt").input_ids
    with torch.no_grad():
        assert not torch.allclose(trained.model(ids).logits, base.model(ids).logits)
    assert (run_dir / "checkpoints" / name / "adapter").is_dir() is lora
    if strategy != "sft":
        history = [h for h in record["log_history"] if "rewards/accuracies" in h]
        # step 1 sees the start model (margin 0); afterwards the separable pairs are ranked
        assert history[-1]["rewards/accuracies"] > 0.5
        assert history[-1]["rewards/margins"] > history[0]["rewards/margins"]


@pytest.mark.parametrize("eval_steps", [2, 5])
def test_the_eval_curve_ends_at_the_last_step_once(tmp_path, eval_steps):
    """The held-out curve always has a point at the final weights, and only one: when the
    schedule already evaluated there (5 is a multiple of 5) no second evaluation runs."""
    run_dir = write_run_data(tmp_path / "run")
    record = train_strategy(
        run_dir, "tiny", "sft", lora=True, prompt_format="tulu", eval_steps=eval_steps, **FAST
    )
    steps = [h["step"] for h in record["log_history"] if "eval_loss" in h]
    last = FAST["max_steps"]
    assert steps[-1] == last and steps.count(last) == 1
    assert steps == sorted(set(range(eval_steps, last + 1, eval_steps)) | {last})


@pytest.mark.slow
def test_summed_ipo_targets_the_summed_margin(tmp_path):
    """Summed IPO starts at (1/(2 beta))**2 and shrinks as the summed margin grows."""
    run_dir = write_run_data(tmp_path / "run")
    record = train_strategy(
        run_dir,
        "tiny",
        "ipo",
        lora=True,
        beta=0.1,
        ipo_variant="summed",
        prompt_format="tulu",
        name="ipo-summed",
        **FAST,
    )
    losses = _losses(record)
    assert losses[0] == pytest.approx((1 / (2 * 0.1)) ** 2, rel=1e-4)
    assert losses[-1] < losses[0]
    margins = [h["rewards/margins"] for h in record["log_history"] if "rewards/margins" in h]
    assert margins[-1] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "lora", "variant"),
    [("dpo", True, None), ("ipo", False, "summed")],
    ids=["dpo-lora", "summed-ipo-full"],
)
def test_precomputed_reference_log_probs_train_exactly_like_per_step_ones(
    tmp_path, strategy, lora, variant
):
    """The speed option must not change what is learned: the same losses, step by step,
    whether the reference log-probs come from a pass before training or from a reference
    forward (frozen copy, or adapter switched off) in every step."""
    extra = {"ipo_variant": variant} if variant else {}
    histories = []
    for precompute in (False, True):
        run_dir = write_run_data(tmp_path / f"run-{precompute}")
        record = train_strategy(
            run_dir,
            "tiny",
            strategy,
            lora=lora,
            beta=0.1,
            prompt_format="tulu",
            precompute_ref_log_probs=precompute,
            **extra,
            **FAST,
        )
        histories.append(record["log_history"])
    plain, precomputed = ([h["loss"] for h in hist if "loss" in h] for hist in histories)
    assert len(plain) == FAST["max_steps"]
    assert precomputed == pytest.approx(plain, rel=1e-4, abs=1e-6)
    assert plain[-1] < plain[0]  # the steps trained: equal losses are not equal non-moves


def test_paper_profile_carries_the_paper_settings():
    sft = settings_from_profile("paper", "sft")
    ipo = settings_from_profile("paper", "ipo")
    assert (sft.learning_rate, sft.epochs, sft.weight_decay, sft.warmup_ratio) == (
        2e-5,
        3,
        0.0,
        0.1,
    )
    assert (ipo.learning_rate, ipo.beta, ipo.weight_decay, ipo.ipo_variant) == (
        5e-7,
        0.01,
        0.05,
        "summed",
    )
    assert (ipo.max_length, ipo.max_prompt_length, ipo.bf16, ipo.gradient_checkpointing) == (
        2048,
        1536,
        True,
        True,
    )
    assert ipo.lora_settings.r == 8 and ipo.lora_settings.alpha == 16
    assert ipo.lora_settings.target_modules == ("q_proj", "v_proj")
    smoke = settings_from_profile("smoke", "ipo")
    assert (smoke.beta, smoke.weight_decay, smoke.ipo_variant) == (ipo.beta, 0.05, "summed")


def test_unknown_training_key_is_named():
    with pytest.raises(KeyError, match="learning_rat"):
        settings_from_profile("tiny", "dpo", learning_rat=1.0)
