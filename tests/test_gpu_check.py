"""``fipo doctor --gpu --dry-run``: the GPU check's own plumbing, on CPU, so it never rots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EVERY_STEP = ["env", "vllm", "train", "zero3_lora", "zero3_full", "ipl", "zero3_offload"]


def test_dry_run_lists_every_gpu_step_and_runs_the_cpu_ones(tmp_path: Path) -> None:
    out = tmp_path / "check"
    command = [sys.executable, "-m", "fipo_utils.cli", "doctor", "--gpu", "--dry-run"]
    command += ["--out", str(out), "--only", "env", "vllm", "ipl", "zero3_offload"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    plan = [json.loads(line[5:]) for line in lines if line.startswith("PLAN ")]
    assert [p["step"] for p in plan] == EVERY_STEP
    assert all(p["commands"] and p["timeout_s"] > 0 for p in plan)
    assert {p["step"] for p in plan if "cuda" in p["needs"]} == {"vllm", "zero3_offload"}
    steps = {
        r["step"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    assert list(steps) == ["env", "vllm", "ipl", "zero3_offload"]
    assert steps["vllm"]["status"] == steps["zero3_offload"]["status"] == "skipped"
    assert steps["env"]["status"] == "ok" and steps["env"]["results"][0]["cuda_available"] is False
    ipl = steps["ipl"]
    assert ipl["status"] == "ok", Path(ipl["log"]).read_text()[-3000:]
    measured = next(r for r in ipl["results"] if r["check"] == "ipl")
    assert measured["rounds"] == 2 and measured["generation_device"] == "cpu"
    report = (out / "report.md").read_text()
    assert "dry run" in report and all(f"| {name} |" in report for name in steps)
