"""Write step outputs without ever losing an earlier result.

A rerun that produces the same bytes leaves the file untouched; one that produces different
bytes first moves the earlier file aside (``name.prev-<UTC time>.ext``), then writes the new
one atomically (:func:`fipo_utils.runs.io.write_atomic`), so a crash never leaves a
half-written output.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import FipoError
from fipo_utils.runs.io import PREVIOUS_INFIX, jsonl_text, write_atomic


def write_text_preserving(path: str | Path, text: str) -> str:
    """Write ``text``; returns ``"unchanged"``, ``"written"`` or ``"replaced"`` (old kept)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    status = "written"
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return "unchanged"
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
        path.rename(path.with_name(f"{path.stem}{PREVIOUS_INFIX}{stamp}{path.suffix}"))
        status = "replaced"
    write_atomic(path, text)
    return status


def write_jsonl_preserving(path: str | Path, records: Iterable[dict[str, Any]]) -> str:
    return write_text_preserving(path, jsonl_text(records))


def check_writable_folder(path: str | Path, what: str) -> Path:
    """Make ``path`` (a folder) and prove a file can be written there, before any work whose
    result would go there; raises :class:`FipoError` naming the folder otherwise."""
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".fipo-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise FipoError(
            f"{what} {folder} is not writable ({reason}); choose another folder"
        ) from None
    return folder
