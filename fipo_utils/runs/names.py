"""One rule for user-supplied names that become files or folders inside a run folder.

A checkpoint name, an optimizer's or tester's folder name, a benchmark name and a run's
label are each used as one path component under the run folder (``checkpoints/<name>/``,
``optimized/<optimizer>/<benchmark>.jsonl``). A name holding a separator, ``..`` or an
absolute path would put checkpoints, metrics and rewrites anywhere on disk, outside the run
folder's lock, so names are checked where they enter (the schema) and every writer resolves
its path with :func:`inside_run`, which refuses one that leaves the folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from fipo_utils.runs.errors import SettingsError

# letters, digits, '.', '_', '-', '+', '=' and ','; starting with a letter or digit, so
# neither '.', '..' nor a hidden file; at most 200 characters (file systems allow 255)
SAFE_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,-]{0,199}")
RULE = "one path component: letters, digits and . _ - + = , starting with a letter or digit"


def component_problem(value: object) -> str | None:
    """Why ``value`` is not one safe path component, or ``None`` when it is."""
    if not isinstance(value, str):
        return f"expected a name, got {value!r}"
    if not SAFE_COMPONENT.fullmatch(value):
        return f"{value!r} is not a safe name ({RULE})"
    return None


def check_component(value: object, parameter: str) -> str:
    """``value`` itself, or a :class:`SettingsError` naming ``parameter``."""
    problem = component_problem(value)
    if problem:
        raise SettingsError(f"{parameter}: {problem}")
    return str(value)


def model_name_problem(value: object) -> str | None:
    """A model given by name, local folder or hub id is named by its last part (the folder
    ``optimized/<name>/`` or ``predictions/<name>/`` it gets): that part must be safe."""
    if not isinstance(value, str) or not value.strip():
        return f"expected a model name, folder or hub id, got {value!r}"
    last = Path(value.rstrip("/")).name
    problem = component_problem(last)
    return f"its last part {problem}" if problem else None


def inside_run(run_dir: str | Path, folder: str, *names: str, parameter: str = "name") -> Path:
    """``run_dir / folder / names...``: refused (naming ``parameter``) when one of the
    user-supplied ``names`` is not one safe component or the resolved path leaves the run
    folder (a symbolic link pointing out of it)."""
    for name in names:
        check_component(name, parameter)
    root = Path(run_dir).resolve()
    path = root.joinpath(folder, *names)
    if root not in path.resolve().parents:
        raise SettingsError(f"{parameter}: {path} leaves the run folder {root}")
    return path


_SEEDED = re.compile(r"^(?P<name>.+)-seed(?P<seed>\d+)$")


def seeded_name(name: str, seed: int | None) -> str:
    """The optimizer name of a run with its own training seed (``sft-lora`` ->
    ``sft-lora-seed7``); ``None`` (the profile's seed) keeps the name."""
    return name if seed is None else f"{name}-seed{int(seed)}"


def split_seed(name: str) -> tuple[str, int | None]:
    """``seeded_name`` undone: ``sft-lora-seed7`` -> (``sft-lora``, 7); a name without a
    seed suffix comes back with ``None`` (trained with the profile's seed)."""
    match = _SEEDED.match(name)
    return (match["name"], int(match["seed"])) if match else (name, None)
