"""Training speed per strategy on CPU: steps/s, tokens/s and peak memory.

Configurations train in a subprocess per model (``--configs``), not in the runner's
process; the peak-memory mark (``VmHWM``) is reset before each, so its peak is its own.
Ratios (candidate speed / baseline speed, per measured step, paired
by step index; the first step is warm-up and left out):

1. LoRA against full fine-tuning, for SFT, DPO and IPO (steps/s).
2. DPO with reference log-probs precomputed before training against a reference forward
   pass every step: with full fine-tuning (the reference is a separate frozen copy) and
   with LoRA (the reference is the same model with the adapter switched off). The one-off
   precompute pass is outside the timed steps and reported in the notes as setup.
3. SFT with packing (``wrapped`` blocks of ``max_length``) against padded batches (tokens/s).

Rows are the project's sample POP records, diversified as notebook 01 does. Quick mode uses
the tiny random model, except for the LoRA precompute pair, whose goal is stated for a real
model and which always runs SmolLM2-135M-Instruct; the full run uses SmolLM2 throughout.
Run alone with ``python benchmarks/bench_training.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import peak_rss_mib, ratio_row, reset_peak_rss  # noqa: E402

CONFIGS = {
    "sft-lora": ("sft", {"lora": True}),
    "sft-full": ("sft", {"lora": False}),
    "sft-full-packing": ("sft", {"lora": False, "packing": True}),
    "dpo-lora": ("dpo", {"lora": True}),
    "dpo-full": ("dpo", {"lora": False}),
    "dpo-full-precomputed": ("dpo", {"lora": False, "precompute_ref_log_probs": True}),
    "ipo-lora": ("ipo", {"lora": True}),
    "ipo-full": ("ipo", {"lora": False}),
    "dpo-lora-smollm2": ("dpo", {"lora": True}),
    "dpo-lora-smollm2-precomputed": ("dpo", {"lora": True, "precompute_ref_log_probs": True}),
}
# The precompute goal is stated for LoRA on a real model, so this pair runs SmolLM2-135M
# even in quick mode (on the tiny model a reference forward costs next to nothing).
REAL_MODEL_ALWAYS = {"dpo-lora-smollm2", "dpo-lora-smollm2-precomputed"}


def step_clock():
    """A trainer callback that records each optimizer step's seconds and input tokens."""
    from transformers import TrainerCallback

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

    return StepClock()


def measure_one(name: str, quick: bool) -> dict:
    """Train one configuration for a few steps; per-step seconds and tokens, peak RSS."""
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.rows import take_rows
    from fipo_utils.training.strategies import (
        build_preference_trainer,
        build_sft_trainer,
        settings_from_profile,
    )
    from fipo_utils.training.train import prepare_examples

    strategy, overrides = CONFIGS[name]
    real = not quick or name in REAL_MODEL_ALWAYS
    # SmolLM2 steps cost seconds on 2 cores, so the real model gets short batches
    steps, batch_size = (5 if quick else 6, 2) if real else (4, 4)
    settings = settings_from_profile(
        "smoke" if real else "tiny",
        strategy,
        max_steps=steps,
        batch_size=batch_size,
        max_length=128 if quick else 256,
        max_prompt_length=96 if quick else 192,
        save_steps=10_000,
        prompt_format="tulu",
        **overrides,
    )
    loaded = load_model(settings.base_model)
    # only the rows that are trained on, so a precompute pass covers what the steps use
    rows = take_rows(sample_rows(strategy), steps * batch_size)
    examples = prepare_examples(settings, rows, loaded.tokenizer)

    clock = step_clock()
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
        "batch_size": batch_size,
        "step_s": clock.times[1:],
        "tokens": clock.tokens[1:],
        "setup_s": setup_s,
        "peak_rss_mb": peak_rss_mib(),
    }


def sample_rows(strategy: str) -> list[dict]:
    """Training rows of realistic length: the project's sample POP records, diversified
    the way notebook 01 does it (SFT rows, or the DPO/IPO preference rows)."""
    from fipo_utils.data.diversify import diversify_pop, write_diversified
    from fipo_utils.data.pop import load_pop
    from fipo_utils.runs.paths import SAMPLE_DATA_DIR
    from fipo_utils.training.rows import read_jsonl_rows, read_sft_rows

    with tempfile.TemporaryDirectory() as folder:
        data = diversify_pop(load_pop(SAMPLE_DATA_DIR / "sample_pop.jsonl"))
        out = write_diversified(data, Path(folder) / "data")
        if strategy == "sft":
            return read_sft_rows(out / "sft.json")
        return read_jsonl_rows(out / "dpo.jsonl")


def run_configs(names: list[str], quick: bool) -> dict[str, dict]:
    """Measure configurations one after another in a fresh interpreter (paying the ~10 s
    of importing torch, transformers and trl once, not once per configuration)."""
    command = [sys.executable, __file__, "--configs", ",".join(names)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        command + (["--quick"] if quick else []), capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"{', '.join(names)} failed:\n{done.stderr[-2000:]}")
    return {r["name"]: r for r in json.loads(done.stdout.strip().splitlines()[-1])}


def measure_in_turn(names: list[str], quick: bool) -> list[dict]:
    results = []
    for name in names:
        gc.collect()
        reset_peak_rss()
        results.append(measure_one(name, quick))
    return results


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
    real = [n for n in CONFIGS if not quick or n in REAL_MODEL_ALWAYS]
    tiny = [n for n in CONFIGS if n not in real]
    results = {}
    for group in (tiny, real):
        if group:
            results.update(run_configs(group, quick))
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
                f"{model}, CPU, batch {full['batch_size']}. {describe(full)}; {describe(lora)}",
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
    every, pre = results["dpo-lora-smollm2"], results["dpo-lora-smollm2-precomputed"]
    entries.append(
        ratio_row(
            "dpo_lora_precomputed_ref_vs_every_step",
            "DPO LoRA, reference forward (adapter off) every step",
            "DPO LoRA, reference log-probs precomputed",
            "steps/s",
            steps_per_s(every),
            steps_per_s(pre),
            f"{every['model']}, batch {every['batch_size']}; goal 1.4x; precompute pass "
            f"counted in setup. {describe(every)}; {describe(pre)}",
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
    parser.add_argument("--configs", help="comma-separated names: measure only these")
    args = parser.parse_args()
    if args.configs:
        names = args.configs.split(",")
        unknown = sorted(set(names) - set(CONFIGS))
        if unknown:
            parser.error(f"unknown configurations {unknown}; choose from {sorted(CONFIGS)}")
        print(json.dumps(measure_in_turn(names, args.quick)))
        return
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
