"""What training needs to know about the processes it runs in, and what it does about them.

Under ``accelerate launch`` every rank runs the same script. Three things follow:

* with DeepSpeed ZeRO-3 the trainer config makes transformers build every later model
  partitioned across the ranks; a model the code wants whole (the LoRA merge, IPL's
  rewrite and judge) is loaded inside :func:`plain_loading`;
* a file of the run folder has one writer: the main process writes it, the others wait
  (:func:`main_process_writes`) and then read it;
* only DeepSpeed and FSDP keep fp32 master weights: full fine-tuning anywhere else
  loads the trained model in fp32 (:func:`trainable_dtype`), since a bf16 parameter loses
  an update of the paper's learning rate (5e-7) to rounding.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fipo_utils.runs.errors import FipoError

if TYPE_CHECKING:
    import torch

T = TypeVar("T")
SIXTEEN_BIT = ("bfloat16", "float16")


def _group() -> Any:
    """torch.distributed once the ranks have joined (accelerate's ``PartialState`` joins
    them), else None. The process group is asked directly: under DeepSpeed, accelerate's
    state reports one process until a trainer config has set it up."""
    import torch.distributed as dist
    from accelerate import PartialState

    PartialState()
    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    group = _group()
    return group.get_rank() if group else 0


def is_main_process() -> bool:
    return rank() == 0


def world_size() -> int:
    group = _group()
    return group.get_world_size() if group else 1


def wait_for_everyone() -> None:
    group = _group()
    if group and group.get_world_size() > 1:
        group.barrier()


def leave_process_group() -> None:
    """Destroy the process group, if this process joined one, before the interpreter exits.

    A rank that exits with its gloo group still alive can abort in the C++ teardown
    ("terminate called without an active exception", SIGABRT) while another rank is still
    working, and the launch then fails although the training was done. Destroying the group
    is local to this rank: the main process may still be measuring the gate when a
    non-main rank leaves, so no collective is waited for here.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def main_process_writes(write: Callable[[], T]) -> T | None:
    """Run ``write`` on the main process only, then hold every rank until it is done."""
    result = write() if is_main_process() else None
    wait_for_everyone()
    return result


def shards_parameters() -> bool:
    """True under a DeepSpeed or FSDP launch: the engine holds fp32 master weights and
    gathers parameters itself."""
    return any(
        os.environ.get(name, "").lower() in ("1", "true")
        for name in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP")
    )


def trainable_dtype(dtype: str, lora: bool) -> str:
    """The dtype to load the trained model in: fp32 for full fine-tuning in 16 bits outside
    DeepSpeed/FSDP (bf16 autocast still runs the matmuls), else ``dtype``. LoRA trains its
    adapters in fp32 whatever the base is."""
    if not lora and dtype in SIXTEEN_BIT and not shards_parameters():
        return "float32"
    return dtype


@contextmanager
def plain_loading() -> Iterator[None]:
    """Load models whole, on this process alone, even after a ZeRO-3 trainer config.

    transformers keeps the DeepSpeed config a trainer registered and builds every later
    model inside ``deepspeed.zero.Init`` (a collective: a load on the main process alone
    would hang, and the model comes back with empty parameters). Inside this context that
    config is unset; on leaving, the config that was active is registered again.
    """
    from transformers.integrations import deepspeed as hf_deepspeed

    active = hf_deepspeed._hf_deepspeed_config_weak_ref
    config = active() if active is not None else None
    if config is None:
        yield
        return
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config)


def state_dict_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of every tensor, in name order, as fp32: equal digests, equal weights."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_weight_digests(trainer: Any, hash_path: Path) -> None:
    """``weights.sha256``: the trained weights as gathered on the main process (ZeRO-3 and
    FSDP gather them; every rank takes part). Data parallel ranks each hold a replica: they
    also write ``weights-rank<k>.sha256`` so a test can see they ended identical."""
    accelerator = trainer.accelerator
    state = accelerator.get_state_dict(trainer.model_wrapped)
    hash_path.parent.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        hash_path.write_text(state_dict_sha256(state) + "\n", encoding="utf-8")
    if accelerator.num_processes > 1 and not shards_parameters():
        rank = accelerator.process_index
        path = hash_path.with_name(f"{hash_path.stem}-rank{rank}.sha256")
        path.write_text(state_dict_sha256(state) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()


def generation_device() -> str | None:
    """Where the main process generates between IPL rounds: its GPU when there is one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"


def under_launcher() -> bool:
    """True when this process was started by accelerate/torchrun/deepspeed (one of many)."""
    return any(name in os.environ for name in ("LOCAL_RANK", "WORLD_SIZE", "ACCELERATE_USE_CPU"))


def launch_command(accelerate_config: str, arguments: list[str]) -> str:
    """The ``accelerate launch`` line that trains with ``arguments`` on every visible GPU."""
    from fipo_utils.runs.paths import CONFIGS_DIR

    config = Path(accelerate_config)
    if not config.suffix:
        config = config.with_suffix(".yaml")
    if not config.is_absolute() and not config.is_file():
        config = CONFIGS_DIR / "accelerate" / config
    head = ["accelerate", "launch", "--config_file", str(config), "-m", "fipo_utils.training"]
    return shlex.join(head + arguments)


def refuse_data_parallel(accelerate_config: str, arguments: list[str]) -> None:
    """Stop with the command to run when several GPUs are visible to one process.

    Outside a launcher transformers would wrap the model in ``nn.DataParallel``, which trl
    refuses; ``accelerate launch`` starts one process per GPU instead.
    """
    import torch

    count = torch.cuda.device_count()
    if count > 1 and not under_launcher():
        raise FipoError(
            f"{count} GPUs are visible to one process: train with one process per GPU, "
            f"`{launch_command(accelerate_config, arguments)}` (or set CUDA_VISIBLE_DEVICES=0)"
        )
