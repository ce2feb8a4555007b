"""Run folders: every notebook reads earlier steps' outputs from, and writes its own to, one
folder under ``runs/``. Folders are never reused by accident: a new run gets a new name.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from fipo_utils.runs.errors import RunFolderGone
from fipo_utils.runs.names import check_component
from fipo_utils.runs.paths import runs_root

# Set by the runner in a step's kernel: the run folder the step writes into. A folder that
# vanished while the step ran is then an error for the step, not a folder to make again.
RUN_FOLDER_ENV = "FIPO_RUN_FOLDER"


class MissingStepOutput(FileNotFoundError):
    """An input a notebook needs is absent; the message names the notebook that makes it."""


def new_run_dir(label: str = "run", root: str | Path | None = None) -> Path:
    """Create and return a fresh, uniquely named run folder (``<root>/<UTC time>-<label>``).

    ``os.mkdir`` without ``exist_ok`` is the guard: if the name is taken (two runs in the
    same second), a numeric suffix is tried instead of writing into the existing folder.
    """
    label = check_component(label[:100], "run name")  # a long step key is cut, not refused
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
    refuse_vanished_run_folder(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def folder_identity(path: str | Path) -> tuple[int, int] | None:
    """``(device, inode)`` of a folder, ``None`` when it is gone: a folder deleted and made
    again under the same name has another identity."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def check_run_folder(run_dir: Path, identity: tuple[int, int] | None, step: str) -> None:
    """Raise :class:`RunFolderGone` when ``run_dir`` is not the folder it was (deleted, or
    deleted and made again) while ``step`` ran; nothing is written then."""
    now = folder_identity(run_dir)
    if identity is not None and now == identity:
        return
    again = (
        "; a folder of that name was made again after the deletion and is not a run"
        if now is not None
        else ""
    )
    raise RunFolderGone(
        f"{run_dir} was deleted while step {step} ran: the step failed and nothing was "
        f"recorded or recreated{again}; start a new run"
    )


def refuse_vanished_run_folder(path: str | Path) -> None:
    """In a step's kernel: refuse to write under the run folder once it has been deleted
    (making its parents again would resurrect a folder without its earlier outputs)."""
    run_folder = os.environ.get(RUN_FOLDER_ENV)
    if not run_folder:
        return
    root = Path(run_folder)
    target = Path(path).absolute()
    if (target == root or root in target.parents) and not root.is_dir():
        raise RunFolderGone(
            f"{root} was deleted while this step ran; {target} is not written and the step fails"
        )


def require(run_dir: str | Path, relative: str, producer: str) -> Path:
    """Path of an earlier step's output, or a clear error naming the notebook to run first."""
    path = Path(run_dir) / relative
    if not path.exists():
        raise MissingStepOutput(
            f"{path} does not exist: run notebook {producer} with run_dir={run_dir} first "
            f"(or `fipo reproduce --resume {run_dir}`)"
        )
    return path
