"""The training entry point under ``accelerate launch``: 2 CPU processes, DDP over gloo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from train_rows import write_run_data

from fipo_utils.runs.paths import CONFIGS_DIR

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_cpu_processes_end_with_identical_weights(tmp_path):
    run_dir = write_run_data(tmp_path / "run", n=8)
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(CONFIGS_DIR / "accelerate" / "cpu_ddp_2proc.yaml"),
        "--main_process_port", str(_free_port()),
        "-m", "fipo_utils.training",
        "--run-dir", str(run_dir), "--profile", "tiny", "--strategy", "dpo", "--lora",
        "--max-steps", "2",
        "--set", "batch_size=2", "--set", "prompt_format=tulu", "--set", "learning_rate=1e-2",
        "--set", "eval_rows=0",  # all 8 rows train: the epoch count below relies on it
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    train_dir = run_dir / "train" / "dpo-lora"
    hashes = {p.name: p.read_text().strip() for p in train_dir.glob("weights-rank*.sha256")}
    assert set(hashes) == {"weights-rank0.sha256", "weights-rank1.sha256"}
    assert len(set(hashes.values())) == 1
    record = json.loads((train_dir / "metrics.json").read_text())
    # 8 rows, 2 per process and step, 2 processes: each step consumed 4 rows
    assert record["log_history"][-1]["epoch"] == 1.0
    assert (run_dir / "checkpoints" / "dpo-lora" / "final" / "model.safetensors").is_file()
