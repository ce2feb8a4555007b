"""Model and trainer-checkpoint files that can be trusted: complete, or named as damaged.

The trainer writes ``checkpoint-N/`` in place (weights, optimizer, then
``trainer_state.json`` last), so a ``kill -9`` while it saves leaves a folder that looks
like the newest checkpoint and fails every resume. :func:`last_complete_checkpoint`
validates the candidates newest first and resumes from the newest complete one, saying in
one line which one it passed over. The same file checks name a corrupt model folder (a
truncated or fake ``model.safetensors``, a ``config.json`` that is not a JSON object) in
one line instead of a library traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def safetensors_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable safetensors file (safetensors itself checks the header
    and that the file holds every tensor it declares), or ``None``."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as error:  # noqa: BLE001 - SafetensorError, OSError: all mean damaged
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{path.name} is not a complete safetensors file ({type(error).__name__}: {first})"
    return None


def json_object_problem(path: Path) -> str | None:
    """Why ``path`` is not a JSON object, or ``None``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path.name} is missing"
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        return f"{path.name} is not valid JSON ({type(error).__name__})"
    if not isinstance(value, dict):
        return f"{path.name} is not a JSON object"
    return None


def model_folder_problem(folder: Path) -> str | None:
    """Why the model folder's ``config.json`` or weights are damaged, or ``None``."""
    problem = json_object_problem(folder / "config.json")
    if problem:
        return problem
    for weights in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(weights)
        if problem:
            return problem
    return None


def checkpoint_problem(folder: Path) -> str | None:
    """Why a trainer checkpoint is incomplete, or ``None``: its ``trainer_state.json`` (the
    trainer's last write) must be valid and at the folder's step, and its safetensors
    weights whole."""
    problem = json_object_problem(folder / TRAINER_STATE)
    if problem:
        return problem
    step = json.loads((folder / TRAINER_STATE).read_text(encoding="utf-8")).get("global_step")
    match = _CHECKPOINT.fullmatch(folder.name)
    if match and step != int(match.group(1)):
        return f"{TRAINER_STATE} is at step {step}, not {match.group(1)}"
    # sharded backends (DeepSpeed, FSDP) keep their weights in subfolders of their own
    for path in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            return problem
    return None


def last_complete_checkpoint(output_dir: Path, log: Callable[[str], None] = print) -> str | None:
    """The newest complete ``checkpoint-N`` under ``output_dir`` to resume from (``None``:
    start afresh). An incomplete newer one is passed over with one line saying so; it stays
    on disk, and the trainer writes over it when it reaches that step again."""
    if not output_dir.is_dir():
        return None
    candidates = sorted(
        (int(m.group(1)), p)
        for p in output_dir.iterdir()
        if p.is_dir() and (m := _CHECKPOINT.fullmatch(p.name))
    )
    for _, folder in reversed(candidates):
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder)
        log(f"{folder} is incomplete ({problem}; a save interrupted?): passed over")
    return None
