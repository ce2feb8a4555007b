"""Run folders: every notebook reads earlier steps' outputs from, and writes its own to, one
folder under ``runs/``. Folders are never reused by accident: a new run gets a new name.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from fipo_utils.runs.paths import runs_root


class MissingStepOutput(FileNotFoundError):
    """An input a notebook needs is absent; the message names the notebook that makes it."""


def new_run_dir(label: str = "run", root: str | Path | None = None) -> Path:
    """Create and return a fresh, uniquely named run folder (``<root>/<UTC time>-<label>``).

    ``os.mkdir`` without ``exist_ok`` is the guard: if the name is taken (two runs in the
    same second), a numeric suffix is tried instead of writing into the existing folder.
    """
    root = Path(root or runs_root())
    root.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{label}"
    for attempt in range(1000):
        candidate = root / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"could not find a free run folder name under {root}")


def resolve_run_dir(run_dir: str | Path | None, label: str = "interactive") -> Path:
    """The notebook's ``run_dir`` parameter: an existing folder, or a new one when empty."""
    if not run_dir:
        return new_run_dir(label)
    path = Path(run_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def require(run_dir: str | Path, relative: str, producer: str) -> Path:
    """Path of an earlier step's output, or a clear error naming the notebook to run first."""
    path = Path(run_dir) / relative
    if not path.exists():
        raise MissingStepOutput(
            f"{path} does not exist: run notebook {producer} with run_dir={run_dir} first "
            f"(or `fipo reproduce --resume {run_dir}`)"
        )
    return path
