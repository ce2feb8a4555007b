"""Reading and writing the run folder's files: the one place that knows their mechanics.

Every stage reads JSON and JSONL outputs of earlier stages and writes its own. Doing it here
means one rule for each concern:

* a malformed line is an error naming the file, the line and, where a caller names required
  fields, the missing field (:func:`read_jsonl`);
* a file is replaced atomically (staging file, fsync, rename), so a crash never leaves half a
  file (:func:`write_atomic`); :mod:`fipo_utils.runs.safe_write` adds "never lose an earlier
  result" on top;
* earlier versions that ``safe_write`` moved aside (``<name>.prev-<UTC time>.<ext>``) are
  history, not results (:func:`current_files`).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# safe_write moves an earlier version of a file aside under this infix
PREVIOUS_INFIX = ".prev-"


def is_previous_version(path: str | Path) -> bool:
    """Whether ``path`` is an earlier version that ``safe_write`` kept aside."""
    return PREVIOUS_INFIX in Path(path).name


def current_files(
    folder: str | Path, pattern: str = "*.jsonl", *, recursive: bool = True
) -> list[Path]:
    """The files of ``folder`` matching ``pattern`` that are current results, sorted; the
    ``.prev-`` copies ``safe_write`` keeps are left out. A missing folder has none."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = root.rglob(pattern) if recursive else root.glob(pattern)
    return sorted(p for p in found if p.is_file() and not is_previous_version(p))


def read_json(path: str | Path) -> Any:
    """A JSON file's value; invalid JSON is an error naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON ({error})") from error


def read_json_or_none(path: str | Path) -> Any:
    """:func:`read_json`, or ``None`` when the file does not exist."""
    path = Path(path)
    return read_json(path) if path.is_file() else None


def read_jsonl(
    path: str | Path,
    required: Iterable[str] = (),
    *,
    heal_torn_tail: bool = False,
) -> list[dict[str, Any]]:
    """The records of a JSONL file, blank lines skipped.

    A line that is not a JSON object, or lacks a ``required`` field, is an error naming the
    file, the line number and the field. ``heal_torn_tail=True`` first cuts a last line that
    has no newline (an append interrupted by a crash, see :func:`cut_torn_tail`): for files
    written by appending, where every complete record ends with one.
    """
    path = Path(path)
    if heal_torn_tail and path.exists():
        cut_torn_tail(path)
    need = tuple(required)
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: invalid JSON ({error})") from error
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object")
            missing = [field for field in need if field not in record]
            if missing:
                raise ValueError(f"{path}, line {number}: missing field {missing[0]!r}")
            rows.append(record)
    return rows


def jsonl_text(records: Iterable[dict[str, Any]]) -> str:
    """Records as JSONL text (UTF-8 kept readable, one object per line)."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` atomically: a staging file beside it is written,
    fsynced and renamed over the target, so a reader sees the old file or the new one, never
    a part. The staging name carries the process id, so concurrent writers never share one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    encoding = None if isinstance(data, bytes) else "utf-8"
    with staging.open(mode, encoding=encoding) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, path)
    return path


def write_json_atomic(path: str | Path, value: Any) -> Path:
    """:func:`write_atomic` of ``value`` as indented JSON with a final newline."""
    return write_atomic(path, json.dumps(value, indent=2, default=str) + "\n")


def cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a crash in the middle of an append) off ``path``;
    returns how many bytes were cut. Every complete line ends with one, so only the torn
    record is lost. Holds the file's lock, so it never cuts another process's append."""
    with path.open("rb+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        keep = 0
        position = size
        while position > 0 and not keep:
            start = max(0, position - (1 << 16))
            handle.seek(start)
            block = handle.read(position - start)
            newline = block.rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
        return size - keep
