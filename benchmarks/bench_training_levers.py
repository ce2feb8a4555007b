"""What each training-cost lever of the study profile buys, side by side in one run.

The study trains one full epoch of every strategy on a CPU (configs/profiles/study.yaml), paid
for by four levers. Each is measured here against its baseline on the same rows, in the same
process, one after the other, with the loss curve of both beside the speed ratio, so a lever
that is faster because it trains on something else shows as a different curve:

1. **length caps from the token-length distribution** (``suggest_caps``: 95% of the rows
   whole) against the paper's caps (1536 / 2048), SFT: steps/s; the curves differ only where
   a row is cut;
2. **precomputed reference log-probabilities** (trl ``precompute_ref_log_probs``) against a
   reference forward every step, DPO with LoRA: steps/s; the curves must be identical (the
   one-off precompute pass is setup, reported in the notes);
3. **packing** (bfd, whole rows per block) against padded batches, SFT: tokens/s; a packed
   step holds other rows, so the curves are compared by their mean;
4. **bf16 autocast** against float32, SFT: steps/s, only where the CPU has native bf16
   (``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``); elsewhere the row says it was
   skipped. The flags are recorded with every result.

Rows are the project's sample POP records diversified as notebook 01 does
(``bench_training.sample_rows``). ``--quick`` runs the tiny random model for a few steps (it
proves the script works; its ratios mean little); the full run uses SmolLM2-135M-Instruct.
Run alone: ``python benchmarks/bench_training_levers.py [--quick]``; prints JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_training import (  # noqa: E402
    sample_rows,
    step_clock,
    steps_per_s,
    tokens_per_s,
)
from benchmarks.harness import ratio_row  # noqa: E402
from fipo_utils.runs.machine import cpu_flags  # noqa: E402

NATIVE_BF16 = ("avx512_bf16", "amx_bf16")
PAPER_CAPS = {"max_prompt_length": 1536, "max_length": 2048}


def native_bf16(flags: list[str]) -> list[str]:
    """The CPU's native-bf16 flags (empty: bf16 would be emulated, slower than float32)."""
    return [f for f in flags if f in NATIVE_BF16]


def train_once(strategy: str, overrides: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Train a few steps; per-step seconds, tokens and logged losses."""
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.rows import take_rows
    from fipo_utils.training.strategies import (
        build_preference_trainer,
        build_sft_trainer,
        settings_from_profile,
    )
    from fipo_utils.training.train import prepare_examples

    steps, batch_size = (4, 4) if quick else (8, 2)
    settings = settings_from_profile(
        "tiny" if quick else "smoke",
        strategy,
        **{
            "max_steps": steps,
            "batch_size": batch_size,
            "save_steps": 10_000,
            "warmup_ratio": 0.0,
            "prompt_format": "tulu",
            **overrides,
        },
    )
    loaded = load_model(settings.base_model)
    rows = take_rows(sample_rows(strategy), steps * batch_size * 2)
    examples = prepare_examples(settings, rows, loaded.tokenizer)

    clock = step_clock()
    with tempfile.TemporaryDirectory() as output:
        began = time.perf_counter()
        if strategy == "sft":
            trainer = build_sft_trainer(settings, loaded.model, loaded.tokenizer, examples, output)
        else:
            trainer = build_preference_trainer(
                settings, loaded.model, loaded.tokenizer, examples, output
            )
        setup_s = time.perf_counter() - began
        trainer.args.include_num_input_tokens_seen = "all"
        trainer.add_callback(clock)
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; JSON only
            trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "model": settings.base_model,
        "settings": {k: settings.as_dict()[k] for k in ("max_prompt_length", "max_length")},
        "step_s": clock.times[1:],  # the first step is warm-up
        "tokens": clock.tokens[1:],
        "losses": losses,
        "setup_s": setup_s,
    }


def curves(baseline: dict, candidate: dict) -> str:
    """Both loss curves and how far apart they are, for the notes."""
    pairs = list(zip(baseline["losses"], candidate["losses"], strict=False))
    gap = max((abs(a - b) for a, b in pairs), default=float("nan"))
    mean = (statistics.fmean(baseline["losses"]), statistics.fmean(candidate["losses"]))
    return (
        f"losses baseline {[round(v, 4) for v in baseline['losses']]}, candidate "
        f"{[round(v, 4) for v in candidate['losses']]}; largest step gap {gap:.2g}, "
        f"means {mean[0]:.4f} / {mean[1]:.4f}"
    )


def study_caps(quick: bool) -> dict[str, int]:
    """Caps from the SFT rows' token lengths (95% whole), as notebook 01 suggests them."""
    from fipo_utils.models.loading import load_tokenizer
    from fipo_utils.training.lengths import suggest_caps, token_lengths

    tokenizer = load_tokenizer("tiny-random" if quick else "smollm2-135m-instruct")
    prompt_cap, total_cap = suggest_caps(token_lengths(sample_rows("sft"), tokenizer, "tulu"))
    return {"max_prompt_length": prompt_cap, "max_length": total_cap}


def run(quick: bool) -> list[dict[str, Any]]:
    """The levers' rows, as ``benchmarks/run.py`` collects every area's (CPU flags in the
    notes: bf16's row depends on them)."""
    flags = cpu_flags()
    simd = " ".join(f for f in flags if f.startswith(("avx", "amx")))
    bf16 = native_bf16(flags)
    caps = study_caps(quick)
    rows = []

    def pair(name, strategy, base, candidate, unit, label_base, label_candidate):
        first = train_once(strategy, base, quick)
        second = train_once(strategy, candidate, quick)
        measure = steps_per_s if unit == "steps/s" else tokens_per_s
        rows.append(
            ratio_row(
                name,
                label_base,
                label_candidate,
                unit,
                measure(first),
                measure(second),
                f"{first['model']}; setup {first['setup_s']:.1f} s / {second['setup_s']:.1f} s; "
                + curves(first, second)
                + f"; CPU flags {simd}",
            )
        )

    pair(
        "caps_from_lengths_vs_paper_caps",
        "sft",
        PAPER_CAPS,
        caps,
        "steps/s",
        "SFT, caps 1536 / 2048 (paper)",
        f"SFT, caps {caps['max_prompt_length']} / {caps['max_length']} (95% of rows whole)",
    )
    pair(
        "precomputed_ref_vs_every_step",
        "dpo",
        {"lora": True, **caps},
        {"lora": True, "precompute_ref_log_probs": True, **caps},
        "steps/s",
        "DPO LoRA, reference forward every step",
        "DPO LoRA, reference log-probs precomputed",
    )
    pair(
        "packing_vs_padding",
        "sft",
        caps,
        {"packing": True, **caps},
        "tokens/s",
        "SFT, padded batches",
        "SFT, bfd packing",
    )
    if bf16:
        pair(
            "bf16_autocast_vs_float32",
            "sft",
            caps,
            {"bf16": True, **caps},
            "steps/s",
            "SFT, float32",
            "SFT, bf16 autocast",
        )
    else:
        rows.append(
            {
                "name": "bf16_autocast_vs_float32",
                "baseline": "SFT, float32",
                "candidate": "SFT, bf16 autocast",
                "unit": "steps/s",
                "ratio_min": None,
                "ratio_median": None,
                "ratio_max": None,
                "notes": f"skipped: no native bf16 on this CPU (CPU flags {simd})",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model, 4 steps a config")
    args = parser.parse_args()
    rows = run(args.quick)
    print(json.dumps({"quick": args.quick, "cpu_flags": cpu_flags(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
