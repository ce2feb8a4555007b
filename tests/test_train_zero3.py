"""The paper's distributed engine on CPU: ``accelerate launch`` + DeepSpeed ZeRO-3 over gloo,
2 processes, on a 5M-parameter random Llama (large enough for ZeRO-3 to partition its
weight matrices; the tiny model's all stay whole on every rank).

Each launch is bounded by a timeout, so a rank stuck in a collective fails the test rather
than the suite. Needs deepspeed: ``make test-zero3`` installs it and runs these.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_rows import write_run_data

from fipo_utils.runs.paths import CONFIGS_DIR

pytestmark = [pytest.mark.slow, pytest.mark.deepspeed]
pytest.importorskip("deepspeed")

LAUNCH_TIMEOUT_S = 900  # a hung rank ends here, not at the 30-minute collective timeout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory) -> Path:
    from fipo_utils.models.loading import build_random_llama

    return build_random_llama(tmp_path_factory.mktemp("models") / "small512")


def _launch(
    run_dir: Path, model: Path, strategy: str, *arguments: str, profile: str = "tiny"
) -> str:
    """Train under ZeRO-3 with 2 processes; returns every rank's output (torchrun may
    prefix each line with the rank)."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(CONFIGS_DIR / "accelerate" / "deepspeed_zero3.yaml"),
        "--num_processes", "2", "--main_process_port", str(_free_port()),
        "--mixed_precision", "no",  # fp32 on CPU; bf16 is the GPU check's (docs/gpu.md)
        "-m", "fipo_utils.training",
        "--run-dir", str(run_dir), "--profile", profile, "--strategy", strategy,
        "--base-model", str(model), "--max-steps", "2",
        "--set", "prompt_format=tulu", "--set", "batch_size=2", "--set", "eval_rows=0",
        "--set", "learning_rate=1e-3", "--set", "warmup_ratio=0",
        *arguments,
    ]  # fmt: skip
    path = os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


def _state(folder: Path) -> dict[str, torch.Tensor]:
    from fipo_utils.models.loading import load_model

    return load_model(str(folder), dtype="float32").model.state_dict()


def _assert_complete(final: Path, base: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``final/`` is a standalone model: every tensor of the base, whole, and a tokenizer."""
    assert (final / "config.json").is_file() and (final / "tokenizer.json").is_file()
    state = _state(final)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in base.items()}
    return state


def _moved(base: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> float:
    """Share of weights that differ from the base."""
    changed = sum((base[k] != state[k]).sum().item() for k in base)
    return changed / sum(v.numel() for v in base.values())


def _no_staging_left(folder: Path) -> None:
    leftovers = [p.name for p in folder.rglob("*") if "partial" in p.name or ".tmp" in p.name]
    assert not leftovers


def test_zero3_lora_merges_a_whole_final_model(tmp_path: Path, small_model: Path) -> None:
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.lora import load_adapter, merge_lora

    run_dir = write_run_data(tmp_path / "run", n=8)
    _launch(run_dir, small_model, "sft", "--lora")
    checkpoints = run_dir / "checkpoints" / "sft-lora"
    base = _state(small_model)
    final = _assert_complete(checkpoints / "final", base)
    # the adapter, merged here on one process into the base, is what final/ holds
    merged = merge_lora(load_adapter(load_model(str(small_model)).model, checkpoints / "adapter"))
    expected = merged.state_dict()
    assert all(torch.allclose(final[k], expected[k], atol=1e-6) for k in base)
    assert _moved(base, final) > 0.01
    train_dir = run_dir / "train" / "sft-lora"
    assert sorted(p.name for p in train_dir.glob("weights*.sha256")) == ["weights.sha256"]
    assert json.loads((train_dir / "metrics.json").read_text())["launch"]["world_size"] == 2


def test_zero3_full_fine_tuning_saves_the_gathered_weights(
    tmp_path: Path, small_model: Path
) -> None:
    from fipo_utils.training.distributed import state_dict_sha256

    run_dir = write_run_data(tmp_path / "run", n=8)
    _launch(run_dir, small_model, "dpo", "--full")
    base = _state(small_model)
    final = _assert_complete(run_dir / "checkpoints" / "dpo-full" / "final", base)
    assert _moved(base, final) > 0.5
    train_dir = run_dir / "train" / "dpo-full"
    # the digest the main process took of the state dict ZeRO-3 gathered after training
    gathered = (train_dir / "weights.sha256").read_text().strip()
    assert gathered == state_dict_sha256(final)
    assert not list(train_dir.glob("weights-rank*.sha256"))  # no replicas to compare


def test_zero3_ipl_rounds_have_one_writer_and_the_same_rows_on_every_rank(
    tmp_path: Path, small_model: Path
) -> None:
    run_dir = write_run_data(tmp_path / "run", ipl_per_case=2)
    profile = tmp_path / "tiny-ipl.yaml"
    ipl = {"rounds": 2, "answer_max_new_tokens": 4, "generation_batch_size": 16}
    profile.write_text(yaml.safe_dump({"inherits": "tiny", "ipl": ipl}))
    stdout = _launch(run_dir, small_model, "ipl-ipo", "--full", profile=str(profile))
    train_dir = run_dir / "train" / "ipl-ipo-full"
    rounds = json.loads((train_dir / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [1, 2]
    assert rounds[1]["n_optimizer_rows"] > 0 and rounds[1]["start_model"] == rounds[0]["final_dir"]
    for k in (1, 2):
        data = train_dir / f"round_{k}" / "data.jsonl"
        assert sum(1 for _ in data.open()) == rounds[k - 1]["n_rows"]
        # every rank announces the rows it trains on: the same file, the same digest
        found = re.findall(
            rf"ipl round {k}: rank (\d+): (\d+) rows, sha256 ([0-9a-f]{{64}})", stdout
        )
        seen = {rank: (int(n), digest) for rank, n, digest in found}
        assert sorted(seen) == ["0", "1"], stdout[-3000:]
        assert len(set(seen.values())) == 1 and seen["0"][0] == rounds[k - 1]["n_rows"]
    assert (train_dir / "round_2" / "judge.jsonl").is_file()
    _no_staging_left(train_dir)
    base = _state(small_model)
    final = _assert_complete(run_dir / "checkpoints" / "ipl-ipo-full" / "final", base)
    assert _moved(base, final) > 0.5
