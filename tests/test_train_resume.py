"""A training run killed mid-way continues from its last checkpoint; finished runs are kept."""

from __future__ import annotations

import pytest
from train_rows import write_run_data
from transformers import TrainerCallback

from fipo_utils.training.train import train_strategy

pytestmark = pytest.mark.slow

SETTINGS = {
    "max_steps": 4,
    "save_steps": 2,
    "batch_size": 2,
    "learning_rate": 1e-3,
    "prompt_format": "tulu",
}


class Crash(RuntimeError):
    pass


class CrashAfterStep(TrainerCallback):
    """Stands in for a killed process: raises once the trainer has finished ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"interrupted after step {self.step}")


def test_interrupted_run_resumes_from_last_checkpoint(tmp_path):
    run_dir = write_run_data(tmp_path / "run")
    checkpoints = run_dir / "checkpoints" / "dpo-lora"
    with pytest.raises(Crash):
        train_strategy(run_dir, "tiny", "dpo", callbacks=[CrashAfterStep(3)], **SETTINGS)
    assert (checkpoints / "checkpoint-2").is_dir()
    assert not (checkpoints / "final").exists()
    assert not (run_dir / "train" / "dpo-lora" / "metrics.json").exists()

    record = train_strategy(run_dir, "tiny", "dpo", **SETTINGS)
    assert record["resumed_from"].endswith("checkpoint-2")
    steps = [h["step"] for h in record["log_history"] if "loss" in h]
    assert steps == [1, 2, 3, 4]  # steps 1-2 from the checkpoint's history, 3-4 trained now
    assert (checkpoints / "checkpoint-4").is_dir()
    assert (checkpoints / "final" / "model.safetensors").is_file()

    weights = checkpoints / "final" / "model.safetensors"
    written = weights.stat().st_mtime_ns
    again = train_strategy(run_dir, "tiny", "dpo", **SETTINGS)
    assert again == record
    assert weights.stat().st_mtime_ns == written
