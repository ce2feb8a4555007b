"""The checks that run inside one step's process: ``python -m fipo_utils.doctor.checks NAME``.

Each prints ``RESULT {json}`` lines (``check`` names what was measured) that
:mod:`fipo_utils.doctor.run` collects; a failing check raises, and its step is failed.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "RESULT "


def result(check: str, **fields: Any) -> None:
    print(PREFIX + json.dumps({"check": check, **fields}, default=str), flush=True)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def env() -> None:
    """Versions of what the GPU paths run on, and the GPU."""
    import importlib

    import torch

    info: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda}
    info["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpus"] = torch.cuda.device_count()
        info["bf16"] = torch.cuda.is_bf16_supported()
    for name in ("transformers", "trl", "peft", "accelerate", "deepspeed", "vllm", "triton"):
        try:
            info[name] = importlib.import_module(name).__version__
        except ImportError:
            info[name] = None
    result("env", **info)


def data(run_dir: str) -> None:
    """A run folder with the training files 01 writes from the shipped POP sample."""
    from fipo_utils.data.diversify import diversify_to_dir
    from fipo_utils.data.pop import load_pop, resolve_pop_source
    from fipo_utils.data.template import load_template

    folder = Path(run_dir) / "data"
    if not (folder / "ipl.jsonl").is_file():
        records = load_pop(resolve_pop_source("sample"))
        diversify_to_dir(records, folder, template=load_template())
    result("data", run_dir=run_dir)


def weight_change(base: str, final: str) -> dict[str, float]:
    """Share of weights that differ between two model folders, both read as fp32, and the
    mean size of the change."""
    from fipo_utils.models.loading import load_model

    a = load_model(base, dtype="float32").model.state_dict()
    b = load_model(final, dtype="float32").model.state_dict()
    total = sum(v.numel() for v in a.values())
    changed = sum((a[k] != b[k]).sum().item() for k in a)
    moved = sum((a[k] - b[k]).abs().sum().item() for k in a) / total
    return {"changed_share": changed / total, "mean_abs_change": moved}


def changed(base: str, final: str) -> None:
    result("changed", final=final, **weight_change(base, final))


def final(folder: str) -> None:
    """A ``final/`` folder is a standalone model that loads and runs a forward pass."""
    import torch

    from fipo_utils.models.loading import load_model

    loaded = load_model(folder, dtype="float32")
    ids = loaded.tokenizer("Rewrite the prompt:", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = loaded.model(ids).logits
    result("final", folder=folder, finite=bool(torch.isfinite(logits).all()))


def train(run_dir: str, model: str, profile: str) -> None:
    """In-process training with the profile's settings: LoRA SFT and DPO at the paper's
    learning rates, full IPO in the profile's dtype and in fp32 (the first must keep fp32
    master weights: its change share close to the second's)."""
    import torch

    from fipo_utils.training.train import train_strategy

    precision: dict[str, Any] = {"max_steps": 8, "learning_rate": 5e-6, "warmup_ratio": 0.0}
    jobs = [
        ("sft", True, None, {"max_steps": 2}),
        ("dpo", True, None, {"max_steps": 2}),
        ("ipo", False, None, precision),
        ("ipo", False, "float32", {**precision, "bf16": False}),
    ]
    data(run_dir)
    for strategy, lora, dtype, extra in jobs:
        name = f"{strategy}-{'lora' if lora else 'full'}-{dtype or 'profile'}"
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        began = time.perf_counter()
        overrides: dict[str, Any] = {"lora": lora, "base_model": model, **extra}
        if dtype:
            overrides["dtype"] = dtype
        record = train_strategy(run_dir, profile, strategy, name=name, **overrides)
        losses = [h["loss"] for h in record["log_history"] if "loss" in h]
        change = {} if lora else weight_change(model, record["final_dir"])
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        result(
            "train",
            name=name,
            device=_device(),
            seconds=round(time.perf_counter() - began, 1),
            losses_finite=all(loss == loss for loss in losses),
            trained_dtype=record["launch"]["trained_dtype"],
            peak_gib=peak,
            **change,
        )


def ipl(run_dir: str, model: str, profile: str) -> None:
    """Two IPL rounds in-process: where round 2's rewrite and judge ran, how long it took."""
    from fipo_utils.training.ipl import run_ipl

    data(run_dir)
    began = time.perf_counter()
    record = run_ipl(run_dir, profile, "ipo", rounds=2, base_model=model, lora=True)
    second = record["rounds"][-1]
    result(
        "ipl",
        rounds=len(record["rounds"]),
        generation_device=second.get("generation_device"),
        cuda_available=_device() == "cuda",
        round_2_rows=second.get("n_rows"),
        seconds=round(time.perf_counter() - began, 1),
    )


def vllm(model: str) -> None:
    """vLLM and transformers on CUDA on the same prompts: greedy texts, option scores."""
    import torch

    from fipo_utils.models.generate import GenerationParams
    from fipo_utils.models.generators import make_generator

    prompts = [f"Question {i}: what is {i} plus {i + 3}? Answer briefly.\n" for i in range(48)]
    greedy = GenerationParams(max_new_tokens=48, temperature=0.0)
    options = ["A", "B", "C", "D"]
    began = time.perf_counter()
    hf = make_generator(model, "transformers", dtype="bfloat16", device="cuda", use_cache=False)
    hf_text = hf.generate(prompts, greedy)
    hf_scores = hf.option_logprobs(prompts[:16], options)
    hf_s = time.perf_counter() - began
    hf.close()
    torch.cuda.empty_cache()
    began = time.perf_counter()
    engine = {"enforce_eager": True, "gpu_memory_utilization": 0.5}
    vl = make_generator(model, "vllm", dtype="bfloat16", use_cache=False, backend_options=engine)
    vl_text = vl.generate(prompts, greedy)
    vl_scores = vl.option_logprobs(prompts[:16], options)
    sampled = GenerationParams(max_new_tokens=16, temperature=0.8, top_p=0.95, seed=7)
    repeatable = vl.generate(prompts[:8], sampled) == vl.generate(prompts[:8], sampled)
    vl_s = time.perf_counter() - began
    vl.close()
    pairs = list(zip(hf_scores, vl_scores, strict=True))
    diffs = [abs(a - b) for ra, rb in pairs for a, b in zip(ra, rb, strict=True)]
    argmax = sum(ra.index(max(ra)) == rb.index(max(rb)) for ra, rb in pairs)
    same = sum(a == b for a, b in zip(hf_text, vl_text, strict=True))
    result(
        "vllm",
        greedy_identical_share=same / len(prompts),
        option_max_abs_diff=max(diffs),
        option_argmax_same_share=argmax / len(hf_scores),
        seeded_sampling_repeatable=repeatable,
        transformers_s=round(hf_s, 1),
        vllm_s=round(vl_s, 1),
    )


CHECKS: dict[str, Callable[..., None]] = {"env": env, "data": data, "changed": changed}
CHECKS |= {"final": final, "train": train, "ipl": ipl, "vllm": vllm}


def main(argv: list[str]) -> int:
    name, *arguments = argv
    CHECKS[name](*arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
