"""A step's history in the manifest: every attempt kept, and the inputs it ran on.

A step record's top-level fields (``status``, ``reason``, ...) say how its latest attempt
ended; ``attempts`` lists every ending in order (a kill, an interruption, a failure, then
the finish), with its reason, wall time and the code's revision, so a resume does not erase
what happened before it.

``inputs`` is what the run folder held when the step started (files and the targets of
links, with their size and modification time), as it stood when the step finished. When one
of those changes afterwards (a new IPL round moves ``checkpoints/<name>/final``, a rerun of
05 rewrites ``optimized/``), the results the step made no longer follow from the folder:
:func:`stale_inputs` names what changed, and the runner marks the step ``stale`` and runs
it again.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

# the runner's own records and the executed notebooks are not inputs of a step
NOT_INPUTS = ("manifest.json", ".lock", "notebooks", "logs")


def snapshot(run_dir: Path) -> dict[str, str]:
    """``relative path -> identity`` of everything in the run folder a step may read: a
    file's size and modification time, a link's target (links are not followed)."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(run_dir):
        here = Path(folder)
        if here == run_dir:
            dirs[:] = [d for d in dirs if d not in NOT_INPUTS]
            files = [f for f in files if f not in NOT_INPUTS]
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            if name.startswith("."):  # staging files and write checks
                continue
            path = here / name
            try:
                found[str(path.relative_to(run_dir))] = _identity(path)
            except FileNotFoundError:  # removed while walking
                continue
    return found


def _identity(path: Path) -> str:
    if path.is_symlink():
        return f"link -> {os.readlink(path)}"
    info = path.stat()
    return f"{info.st_size} bytes, mtime {info.st_mtime_ns}"


def inputs_at_end(run_dir: Path, at_start: dict[str, str]) -> dict[str, str]:
    """The step's inputs (what the folder held at its start) as they are at its end; what
    the step itself removed (a rotated checkpoint) is not an input any more."""
    now = snapshot(run_dir)
    return {path: now[path] for path in at_start if path in now}


def stale_inputs(run_dir: Path, record: dict[str, Any], limit: int = 3) -> list[str]:
    """What changed among a done step's recorded ``inputs`` since it finished (at most
    ``limit`` entries, then a count)."""
    recorded = record.get("inputs")
    if not recorded:
        return []
    now = snapshot(run_dir)
    changed = [
        f"{path} ({'removed' if path not in now else f'{before} -> {now[path]}'})"
        for path, before in recorded.items()
        if now.get(path) != before
    ]
    if len(changed) > limit:
        changed = [*changed[:limit], f"and {len(changed) - limit} more"]
    return changed


def add_attempt(record: dict[str, Any], revision: dict[str, Any], ended: str) -> None:
    """Append the record's current ending to its ``attempts``."""
    attempt = {
        key: record.get(key)
        for key in ("status", "reason", "started", "wall_time_s", "output_notebook", "pid")
    }
    attempt.update(ended=ended, host=record.get("host") or socket.gethostname())
    attempt["revision"] = revision.get("revision")
    record.setdefault("attempts", []).append(attempt)
