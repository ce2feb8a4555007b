"""A LoRA checkpoint's merged model, left behind by ``fipo carry`` and built again there.

A LoRA training step writes two things: the adapter (``checkpoints/<name>/adapter/``, a few
MB) and a standalone model with the adapter folded in (``checkpoints/<name>/final/``, the
whole model: 0.5 GB for SmolLM2-135M), which notebook 05 and vLLM load. Carrying every
``final`` of a study through git would add half a gigabyte per optimizer, yet each is a
function of the adapter and the model it was trained from. :func:`merged_weight_files`
names those weight files so that the carry records them (size, SHA-256, time) without
copying them, and :func:`rebuild_merged_weights` folds each adapter into its start model
again on the new machine, the way :func:`fipo_utils.training.train.save_final_model` did.

Whether the rebuilt bytes are the carried ones is for the carry to check: the same torch
on the same kind of CPU gives the same bytes, and then the run resumes as if the file had
travelled; other arithmetic gives a slightly different model, which the carry reports and
the runner treats as a changed input (the steps that read it run again).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fipo_utils.runs.errors import FipoError

ADAPTER_DIR = "adapter"
FINAL_DIR = "final"


def merged_weight_files(run_dir: str | Path) -> list[str]:
    """Run-relative paths of the weight files of every ``final/`` that sits beside an
    ``adapter/`` (a merged LoRA model); a full fine-tune's ``final/`` is the only copy of
    its weights and is not listed, nor is a link (IPL's ``final`` names its last round)."""
    root = Path(run_dir)
    found: list[str] = []
    for config in sorted((root / "checkpoints").rglob(f"{ADAPTER_DIR}/adapter_config.json")):
        final = config.parent.parent / FINAL_DIR
        if final.is_symlink() or not (final / "config.json").is_file():
            continue
        found.extend(str(p.relative_to(root)) for p in sorted(final.glob("*.safetensors")))
    return found


def rebuild_merged_weights(run_dir: Path, files: Sequence[str], origin: str | Path) -> None:
    """Write ``files`` (from :func:`merged_weight_files`) into ``run_dir`` again, each
    ``final/`` from its ``adapter/`` and start model. ``origin`` is the folder the run was
    packed from: a start model inside it (IPL's later rounds start from the round before)
    is read from ``run_dir``, so rounds are rebuilt in the order they were trained."""
    run_dir, origin = Path(run_dir), Path(origin)
    pending: dict[Path, list[str]] = {}
    for relative in files:
        pending.setdefault((run_dir / relative).parent, []).append(Path(relative).name)
    while pending:
        starts = {final: Path(_start_model(final, run_dir, origin)) for final in pending}
        ready = [f for f in pending if starts[f] not in pending and starts[f].exists()]
        waiting = [f for f in pending if f not in ready]
        if not ready:
            final = waiting[0]
            start = starts[final]
            raise FipoError(
                f"{final.parent / ADAPTER_DIR / 'adapter_config.json'}: field "
                f"'base_model_name_or_path': the start model {start} is not on this machine"
            )
        for final in ready:
            _merge_into(final, str(starts[final]), pending.pop(final))


def _start_model(final: Path, run_dir: Path, origin: Path) -> str:
    """The model the adapter beside ``final`` was trained from, as a folder on this machine:
    inside the run it is read from ``run_dir``; a converted model of the cache is built from
    its package if the cache lacks it (it is dated by its content, so it is the same model)."""
    config_path = final.parent / ADAPTER_DIR / "adapter_config.json"
    try:
        start = Path(json.loads(config_path.read_text(encoding="utf-8"))["base_model_name_or_path"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FipoError(
            f"{config_path}: field 'base_model_name_or_path' cannot be read ({error})"
        ) from None
    if start == origin or origin in start.parents:
        return str(run_dir / start.relative_to(origin))
    if not start.exists():
        from fipo_utils.models.loading import GEMMA3_ALIAS, SMOLLM2_ALIAS, resolve_model_path

        for alias in (SMOLLM2_ALIAS, GEMMA3_ALIAS):
            if start.name == f"{alias}-f32":
                resolve_model_path(alias)  # converts it into this machine's cache
    return str(start)


def _merge_into(final: Path, start: str, names: list[str]) -> None:
    """Fold ``final``'s adapter into ``start`` in ``final``'s dtype and put the weight files
    ``names`` in place (written beside, then renamed in)."""
    from fipo_utils.training.lora import merged_model

    config = json.loads((final / "config.json").read_text(encoding="utf-8"))
    dtype = config.get("dtype") or config.get("torch_dtype") or "float32"
    model = merged_model(start, final.parent / ADAPTER_DIR, dtype)
    staging = Path(tempfile.mkdtemp(prefix=".merged-", dir=final))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        for name in names:
            if not (staging / name).is_file():
                raise FipoError(
                    f"{final / name}: merging {final.parent / ADAPTER_DIR} into {start} wrote "
                    f"{sorted(p.name for p in staging.glob('*.safetensors'))}, not this file"
                )
            os.replace(staging / name, final / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
