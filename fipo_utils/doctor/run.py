"""Run the GPU check's steps, each in its own processes under its own timeout.

Every step ends as one ``STEP {json}`` line (status ``ok``, ``failed``, ``timeout`` or
``skipped``, its seconds and the ``RESULT`` records its checks printed) on stdout, in
``results.jsonl`` and as a row of ``report.md``. A failing step never stops the next one.
Before running, every step is listed as a ``PLAN {json}`` line with its commands.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from fipo_utils.doctor.checks import PREFIX
from fipo_utils.doctor.steps import CUDA, Step, plan
from fipo_utils.runs.errors import FipoError

# the paper profile at the sizes of a ten-minute check (plumbing, not numbers)
SMALL = {
    "diversify": {"input": "sample", "template": None},
    "train": {
        "max_rows": 24, "max_steps": 4, "max_length": 512, "max_prompt_length": 384,
        "batch_size": 2, "global_batch": None, "grad_accum": 1, "save_steps": 2,
        "logging_steps": 1, "eval_rows": 0,
    },
    "preference": {"max_steps": 4, "batch_size": 2},
    "ipl": {"rounds": 2, "rewrite": {"max_new_tokens": 16}, "answer_max_new_tokens": 16,
            "generation_batch_size": 16},
}  # fmt: skip
# a dry run's timeouts are this many times the GPU ones: CPUs are slower and often shared
DRY_TIMEOUT_SCALE = 4
# on CPU (dry run): the tiny model in fp32, a few rows
DRY = {"models": {"dtype": "float32"}, "train": {"bf16": False, "max_rows": 8, "max_steps": 2}}


def available(needs: frozenset[str]) -> str | None:
    """Why a step cannot run here, or None."""
    import torch

    if CUDA in needs and not torch.cuda.is_available():
        return "needs CUDA"
    for module in sorted(needs - {CUDA}):
        if importlib.util.find_spec(module) is None:
            return f"needs {module} (not installed)"
    return None


def check_model(dry_run: bool) -> str:
    """SmolLM2-135M-Instruct on a GPU (the package ships it); the tiny model in a dry run
    or where the package is missing."""
    from fipo_utils.models.loading import SMOLLM2_ALIAS, TINY_ALIAS, resolve_model_path

    if dry_run:
        return resolve_model_path(TINY_ALIAS)
    try:
        return resolve_model_path(SMOLLM2_ALIAS)
    except (ModuleNotFoundError, FileNotFoundError):
        return resolve_model_path(TINY_ALIAS)


def write_profile(out: Path, model: str, dry_run: bool) -> Path:
    from fipo_utils.runs.profiles import merge_settings

    profile: dict[str, Any] = {"inherits": "paper", **SMALL}
    profile["models"] = {"optimizer_base": model, "testers": [model], "prompt_format": "tulu"}
    if dry_run:
        profile = merge_settings(profile, DRY)
    path = out / "paper-check.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    return path


def run_step(step: Step, out: Path, dry_run: bool) -> dict[str, Any]:
    reason = "needs CUDA (dry run)" if dry_run and CUDA in step.needs else available(step.needs)
    if reason:
        return {"step": step.name, "status": "skipped", "reason": reason, "results": []}
    log = out / "logs" / f"{step.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["TOKENIZERS_PARALLELISM"] = "false"
    if dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""
    limit = step.timeout_s * (DRY_TIMEOUT_SCALE if dry_run else 1)
    began = time.monotonic()
    status, results = "ok", []
    with log.open("w", encoding="utf-8") as sink:
        for command in step.commands:
            left = limit - (time.monotonic() - began)
            sink.write(f"$ {shlex.join(command)}\n")
            sink.flush()
            try:
                done = subprocess.run(
                    command, stdout=subprocess.PIPE, stderr=sink, text=True, env=env,
                    timeout=max(left, 1), check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired as expired:
                output = expired.stdout or ""
                text = output if isinstance(output, str) else output.decode(errors="replace")
                results += _results(text)
                sink.write(text)
                status = "timeout"
                break
            sink.write(done.stdout)
            results += _results(done.stdout)
            if done.returncode != 0:
                status = "failed"
                break
    record = {"step": step.name, "status": status, "seconds": round(time.monotonic() - began, 1)}
    return {**record, "timeout_s": limit, "log": str(log), "results": results}


def _results(stdout: str) -> list[dict]:
    lines = stdout.splitlines()
    return [json.loads(line[len(PREFIX) :]) for line in lines if line.startswith(PREFIX)]


def report(records: list[dict], dry_run: bool) -> str:
    mode = "dry run on CPU (CUDA-only steps skipped)" if dry_run else "GPU"
    lines = [f"# GPU check ({mode})", "", "| step | status | s | results |", "|---|---|---|---|"]
    for r in records:
        shown = "; ".join(
            ", ".join(f"{k}={v}" for k, v in res.items() if k != "check") for res in r["results"]
        )
        lines.append(
            f"| {r['step']} | {r['status']} | {r.get('seconds', '')} | "
            f"{r.get('reason', '') or shown} |"
        )
    return "\n".join(lines) + "\n"


def run_check(out: Path, dry_run: bool = False, only: list[str] | None = None) -> list[dict]:
    """Run every step (or those named in ``only``) into ``out``; returns the step records."""
    names = [s.name for s in plan(out, "MODEL", out / "PROFILE", dry_run)]
    unknown = [name for name in only or [] if name not in names]
    if unknown:
        raise FipoError(f"unknown GPU check step {unknown[0]!r}; the steps: {', '.join(names)}")
    out.mkdir(parents=True, exist_ok=True)
    model = check_model(dry_run)
    profile = write_profile(out, model, dry_run)
    every = plan(out, model, profile, dry_run)
    steps = [s for s in every if not only or s.name in only]
    for step in every:
        planned = {"step": step.name, "timeout_s": step.timeout_s, "needs": sorted(step.needs)}
        planned |= {"exercises": step.exercises, "selected": step in steps}
        planned["commands"] = [shlex.join(c) for c in step.commands]
        print("PLAN " + json.dumps(planned), flush=True)
    records = []
    with (out / "results.jsonl").open("w", encoding="utf-8") as sink:
        for step in steps:
            record = run_step(step, out, dry_run)
            records.append(record)
            line = json.dumps(record, default=str)
            sink.write(line + "\n")
            sink.flush()
            print("STEP " + line, flush=True)
    (out / "report.md").write_text(report(records, dry_run), encoding="utf-8")
    return records
