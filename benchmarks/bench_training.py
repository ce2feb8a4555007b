"""Training speed per strategy on CPU: steps/s, tokens/s and peak memory.

Every configuration trains in its own subprocess (``--one``), so its peak resident memory
(``ru_maxrss``) is its own. Ratios (candidate speed / baseline speed, per measured step,
paired by step index; the first step is warm-up and left out):

1. LoRA against full fine-tuning, for SFT, DPO and IPO (steps/s).
2. DPO with reference log-probs precomputed before training against a reference forward
   pass every step (full fine-tuning, where the reference is a separate frozen copy; the
   one-off precompute pass is outside the timed steps and reported in the notes).
3. SFT with packing (``wrapped`` blocks of ``max_length``) against padded batches (tokens/s).

Quick mode uses the tiny random model; the full run uses SmolLM2-135M-Instruct.
Run alone with ``python benchmarks/bench_training.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ratio_row  # noqa: E402

CONFIGS = {
    "sft-lora": ("sft", {"lora": True}),
    "sft-full": ("sft", {"lora": False}),
    "sft-full-packing": ("sft", {"lora": False, "packing": True}),
    "dpo-lora": ("dpo", {"lora": True}),
    "dpo-full": ("dpo", {"lora": False}),
    "dpo-full-precomputed": ("dpo", {"lora": False, "precompute_ref_log_probs": True}),
    "ipo-lora": ("ipo", {"lora": True}),
    "ipo-full": ("ipo", {"lora": False}),
}


def measure_one(name: str, quick: bool) -> dict:
    """Train one configuration for a few steps; per-step seconds and tokens, peak RSS."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from train_rows import preference_records, sft_records
    from transformers import TrainerCallback

    from fipo_utils.models import load_model
    from fipo_utils.strategies import (
        build_preference_trainer,
        build_sft_trainer,
        settings_from_profile,
    )
    from fipo_utils.train import prepare_examples
    from fipo_utils.train_data import read_sft_rows

    strategy, overrides = CONFIGS[name]
    steps = 4 if quick else 8
    settings = settings_from_profile(
        "tiny" if quick else "smoke",
        strategy,
        max_steps=steps,
        batch_size=4,
        max_length=128 if quick else 256,
        save_steps=10_000,
        prompt_format="tulu",
        **overrides,
    )
    loaded = load_model(settings.base_model)
    rows = sft_records(64) if strategy == "sft" else preference_records(64)
    if strategy == "sft":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sft.json"
            path.write_text(json.dumps(rows))
            rows = read_sft_rows(path)
    examples = prepare_examples(settings, rows, loaded.tokenizer)

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.tokens: list[int] = []
            self.seen = 0

        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.start)
            self.tokens.append(state.num_input_tokens_seen - self.seen)
            self.seen = state.num_input_tokens_seen

    clock = StepClock()
    with tempfile.TemporaryDirectory() as output:
        began = time.perf_counter()
        if strategy == "sft":
            trainer = build_sft_trainer(settings, loaded.model, loaded.tokenizer, examples, output)
        else:
            ref = None
            if not settings.lora and not settings.precompute_ref_log_probs:
                ref = load_model(settings.base_model).model
            trainer = build_preference_trainer(
                settings, loaded.model, loaded.tokenizer, examples, output, ref_model=ref
            )
        setup_s = time.perf_counter() - began
        trainer.args.include_num_input_tokens_seen = "all"
        trainer.add_callback(clock)
        trainer.train()
    return {
        "name": name,
        "model": settings.base_model,
        "step_s": clock.times[1:],
        "tokens": clock.tokens[1:],
        "setup_s": setup_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_config(name: str, quick: bool) -> dict:
    command = [sys.executable, __file__, "--one", name] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def steps_per_s(result: dict) -> list[float]:
    return [1 / s for s in result["step_s"]]


def tokens_per_s(result: dict) -> list[float]:
    return [t / s for t, s in zip(result["tokens"], result["step_s"], strict=True)]


def describe(result: dict) -> str:
    return (
        f"{result['name']}: {statistics.median(steps_per_s(result)):.2f} steps/s, "
        f"{statistics.median(tokens_per_s(result)):.0f} tokens/s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB, setup {result['setup_s']:.1f} s"
    )


def run(quick: bool) -> list[dict]:
    results = {name: run_config(name, quick) for name in CONFIGS}
    model = results["sft-lora"]["model"]
    entries = []
    for strategy in ("sft", "dpo", "ipo"):
        full, lora = results[f"{strategy}-full"], results[f"{strategy}-lora"]
        entries.append(
            ratio_row(
                f"{strategy}_lora_vs_full",
                f"{strategy} full fine-tuning",
                f"{strategy} LoRA r8 q/v",
                "steps/s",
                steps_per_s(full),
                steps_per_s(lora),
                f"{model}, CPU, batch 4. {describe(full)}; {describe(lora)}",
            )
        )
    every, pre = results["dpo-full"], results["dpo-full-precomputed"]
    entries.append(
        ratio_row(
            "dpo_precomputed_ref_vs_every_step",
            "DPO full, reference forward every step",
            "DPO full, reference log-probs precomputed",
            "steps/s",
            steps_per_s(every),
            steps_per_s(pre),
            f"{model}; precompute pass counted in setup. {describe(every)}; {describe(pre)}",
        )
    )
    padded, packed = results["sft-full"], results["sft-full-packing"]
    entries.append(
        ratio_row(
            "sft_packing_vs_padding",
            "SFT full, padded batches",
            "SFT full, packed (wrapped) blocks",
            "tokens/s",
            tokens_per_s(padded),
            tokens_per_s(packed),
            f"{model}. {describe(padded)}; {describe(packed)}",
        )
    )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 4 steps (< 3 min)")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.quick)))
        return
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
