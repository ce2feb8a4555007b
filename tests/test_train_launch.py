"""How a paper run is launched: IPL's full fine-tuning switch, fp32 master weights outside
DeepSpeed/FSDP, the global batch, the multi-node launcher and the one-process-per-GPU rule.

Each test here checks, on CPU, a path that the paper profile takes on GPU nodes
(docs/gpu.md); the ZeRO-3 paths themselves run in tests/test_train_zero3.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from train_rows import write_run_data

from fipo_utils.runs.errors import FipoError
from fipo_utils.runs.paths import CONFIGS_DIR
from fipo_utils.runs.profiles import load_profile
from fipo_utils.training.ipl import ipl_settings
from fipo_utils.training.strategies import grad_accum_for, settings_from_profile

ACCELERATE = CONFIGS_DIR / "accelerate"


def _full_ipl_profile(tmp_path: Path) -> Path:
    """tiny with the paper's switch: IPL alone fully fine-tuned (``ipl.lora: false``)."""
    path = tmp_path / "tiny-ipl-full.yaml"
    path.write_text(yaml.safe_dump({"inherits": "tiny", "ipl": {"lora": False}}))
    return path


def test_a_none_lora_override_keeps_ipl_lora_false() -> None:
    paper = load_profile("paper")
    # what the CLI without --lora/--full and notebook 04's default parameters pass
    keys = {"lora": None, "base_model": None, "max_rows": None, "max_steps": None}
    _, settings = ipl_settings(paper, "ipo", **keys)
    assert settings.lora is False and settings.name == "ipo-full"
    assert ipl_settings(paper, "ipo", **{**keys, "lora": True})[1].lora is True


@pytest.mark.parametrize("fails", [False, True])
def test_the_training_command_leaves_its_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """A rank must not exit with its gloo group alive (it can abort in the C++ teardown):
    the command destroys the group on the way out, also when training raised."""
    import torch.distributed as dist

    from fipo_utils.training import launch

    def run(_args: object) -> dict:
        if fails:
            raise FipoError("training failed")
        return {"name": "sft-lora"}

    monkeypatch.setattr(launch, "run_from_args", run)
    store = f"file://{tmp_path / 'store'}"
    dist.init_process_group("gloo", init_method=store, rank=0, world_size=1)
    try:
        arguments = ["--run-dir", str(tmp_path), "--strategy", "sft"]
        if fails:
            with pytest.raises(FipoError, match="training failed"):
                launch.main(arguments)
        else:
            assert launch.main(arguments) == 0
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.slow
def test_ipl_lora_false_trains_a_full_model_through_the_command_line(tmp_path: Path) -> None:
    from fipo_utils.training.launch import main

    run_dir = write_run_data(tmp_path / "run", ipl_per_case=1)
    profile = _full_ipl_profile(tmp_path)
    arguments = ["--run-dir", str(run_dir), "--profile", str(profile), "--strategy", "ipl-ipo"]
    assert main([*arguments, "--max-steps", "1", "--set", "rounds=1"]) == 0
    metrics = json.loads((run_dir / "train" / "ipl-ipo-full" / "metrics.json").read_text())
    assert metrics["settings"]["lora"] is False
    round_dir = run_dir / "checkpoints" / "ipl-ipo-full" / "round_1"
    assert (round_dir / "final" / "model.safetensors").is_file()
    assert not (round_dir / "adapter").exists()
    assert not (run_dir / "checkpoints" / "ipl-ipo-lora").exists()


@pytest.mark.slow
@pytest.mark.notebook
def test_ipl_lora_false_trains_a_full_model_through_notebook_04(
    tmp_path: Path, run_notebook
) -> None:
    run_dir = write_run_data(tmp_path / "run", ipl_per_case=1)
    run_notebook(
        "04_ipl_training",
        tmp_path,
        run_dir=str(run_dir),
        profile=str(_full_ipl_profile(tmp_path)),
        rounds=1,
        max_steps=1,
        preview_items=0,
    )
    metrics = json.loads((run_dir / "train" / "ipl-ipo-full" / "metrics.json").read_text())
    assert metrics["settings"]["lora"] is False
    assert not (run_dir / "checkpoints" / "ipl-ipo-lora").exists()


def _changes(base: dict, final: dict) -> torch.Tensor:
    return torch.cat([(final[k].float() - base[k].float()).flatten() for k in sorted(base)])


@pytest.mark.slow
def test_full_fine_tuning_in_bf16_keeps_fp32_master_weights(tmp_path: Path) -> None:
    """At the paper's learning rate (5e-7) a bf16 weight cannot move (half an ULP of a
    weight of 0.01 is 3e-5): the trained model is held in fp32 and bf16 runs as autocast,
    so its updates match those of a run in fp32 throughout."""
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.train import train_strategy

    run_dir = write_run_data(tmp_path / "run")
    common = {"lora": False, "max_steps": 3, "warmup_ratio": 0.0, "grad_accum": 1}
    common |= {"prompt_format": "tulu", "learning_rate": 5e-7, "batch_size": 4}
    finals = {}
    for dtype, bf16 in (("bfloat16", True), ("float32", False)):
        record = train_strategy(
            run_dir, "tiny", "ipo", name=f"ipo-{dtype}", dtype=dtype, bf16=bf16, **common
        )
        assert record["launch"]["trained_dtype"] == "float32"
        finals[dtype] = load_model(record["final_dir"], dtype="float32").model.state_dict()
    base = load_model("tiny-random", dtype="float32").model.state_dict()
    reference = _changes(base, finals["float32"])
    trained = _changes(base, finals["bfloat16"])
    share = {name: (delta != 0).float().mean().item() for name, delta in
             (("fp32", reference), ("bf16", trained))}  # fmt: skip
    assert share["fp32"] > 0.5
    assert share["bf16"] == pytest.approx(share["fp32"], abs=0.1)
    # the same updates, up to bf16 autocast noise in the gradients; bf16 weights would
    # instead differ from fp32 by their rounding, about 1e3 times the updates
    assert (trained - reference).norm() < 0.5 * reference.norm()


def test_the_global_batch_sets_accumulation_for_any_world_size() -> None:
    paper = settings_from_profile("paper", "ipo")
    assert paper.global_batch == 512 and paper.batch_size == 2
    assert {n: grad_accum_for(paper, n) for n in (1, 8, 32)} == {1: 256, 8: 32, 32: 8}
    with pytest.raises(ValueError, match="global_batch 512 is not a multiple"):
        grad_accum_for(paper, 3)
    tiny = settings_from_profile("tiny", "ipo")
    assert tiny.global_batch is None and grad_accum_for(tiny, 4) == tiny.grad_accum


def test_the_paper_profile_checkpoints_within_a_run() -> None:
    paper = settings_from_profile("paper", "dpo")
    # 30k rows / 512 per step x 3 epochs: about 176 steps; IPL about 110 per round
    assert paper.save_steps <= 25


@pytest.mark.deepspeed
@pytest.mark.parametrize(
    "name",
    ["deepspeed_zero3.yaml", "deepspeed_zero3_offload.yaml", "deepspeed_zero3_offload_4x8.yaml"],
)
def test_deepspeed_configs_start_one_job_across_nodes(name: str) -> None:
    """accelerate's default multi-node launcher (pdsh without a hostfile) would start an
    unrelated job on every node; ``standard`` runs one torchrun per node in one job."""
    pytest.importorskip("deepspeed")
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    parsed = launch_command_parser().parse_args(
        ["--config_file", str(ACCELERATE / name), "--num_machines", "4", "--machine_rank", "1"]
        + ["--main_process_ip", "10.0.0.1", "--num_processes", "32", "-m", "fipo_utils.training"]
    )
    args, defaults, _ = _validate_launch_command(parsed)
    assert args.use_deepspeed
    # what accelerate's launch_command sets before it calls the DeepSpeed launcher
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
    command, _ = prepare_deepspeed_cmd_env(args)
    # no `deepspeed --launcher pdsh ...` line: accelerate runs torchrun with these args
    assert command is None
    assert (args.nnodes, args.node_rank, args.nproc_per_node) == ("4", 1, "8")
    rendezvous = getattr(args, "master_addr", None) or args.rdzv_endpoint
    assert rendezvous.startswith("10.0.0.1")  # every node joins node 0


def test_a_no_offload_zero3_config_ships_beside_the_offload_one() -> None:
    plain = yaml.safe_load((ACCELERATE / "deepspeed_zero3.yaml").read_text())
    offload = yaml.safe_load((ACCELERATE / "deepspeed_zero3_offload.yaml").read_text())
    assert plain["deepspeed_config"]["offload_optimizer_device"] == "none"
    assert plain["deepspeed_config"]["offload_param_device"] == "none"
    assert offload["deepspeed_config"]["offload_optimizer_device"] == "cpu"
    assert settings_from_profile("paper", "ipo").accelerate_config == "deepspeed_zero3"


def test_several_visible_gpus_stop_with_the_accelerate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a launcher transformers would wrap the model in nn.DataParallel, which trl
    refuses; the run stops before training and names the command that works."""
    from fipo_utils.training.train import train_strategy

    run_dir = write_run_data(tmp_path / "run")
    for name in ("LOCAL_RANK", "WORLD_SIZE", "ACCELERATE_USE_CPU"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    with pytest.raises(FipoError) as error:
        train_strategy(run_dir, "paper", "ipo", base_model="tiny-random")
    message = str(error.value)
    assert "8 GPUs are visible" in message
    config = ACCELERATE / "deepspeed_zero3.yaml"
    assert f"accelerate launch --config_file {config} -m fipo_utils.training" in message
    assert f"--run-dir {run_dir} --profile paper --strategy ipo" in message
    assert not (run_dir / "checkpoints" / "ipo-lora" / "fingerprint.json").exists()
