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

import contextlib
import errno
import fcntl
import itertools
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import DiskFull
from fipo_utils.runs.folders import refuse_vanished_run_folder

# safe_write moves an earlier version of a file aside under this infix
PREVIOUS_INFIX = ".prev-"

# makes each staging file name of this process unique (see write_atomic)
_STAGING_NUMBERS = itertools.count()


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


def read_json(path: str | Path, *, error: type[ValueError] = ValueError) -> Any:
    """A JSON file's value; text that is not UTF-8 or not JSON is an ``error`` naming the
    file and the line."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        line = data.count(b"\n", 0, problem.start) + 1
        raise error(f"{path}, line {line}: invalid UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(f"{path}, line {problem.lineno}: invalid JSON ({problem.msg})") from None
    except RecursionError:
        raise error(f"{path}: invalid JSON (nested too deeply to read)") from None


def read_json_or_none(path: str | Path, *, error: type[ValueError] = ValueError) -> Any:
    """:func:`read_json`, or ``None`` when the file does not exist."""
    path = Path(path)
    return read_json(path, error=error) if path.is_file() else None


def iter_jsonl(
    path: str | Path,
    required: Iterable[str] = (),
    *,
    error: type[ValueError] = ValueError,
    skip_bad_lines: bool = False,
    skipped: list[int] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each record of a JSONL file, blank lines skipped.

    A line that is not UTF-8, not a JSON object, or lacks a ``required`` field is an
    ``error`` naming the file, the line number and the field; with ``skip_bad_lines=True``
    it is passed over instead (for caches, whose lost entries are recomputed) and its number
    appended to ``skipped`` when given.
    """
    path = Path(path)
    need = tuple(required)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            record, problem = _parse_line(raw, need)
            if problem is not None:
                if skip_bad_lines:
                    if skipped is not None:
                        skipped.append(number)
                    continue
                raise error(f"{path}, line {number}: {problem}")
            if record is not None:
                yield number, record


def _parse_line(raw: bytes, required: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a good line, ``(None, None)`` for a blank one and
    ``(None, problem)`` for a bad one."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid UTF-8"
    if not line.strip():
        return None, None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as problem:
        return None, f"invalid JSON ({problem.msg})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply to read)"
    if not isinstance(record, dict):
        return None, "expected a JSON object"
    for field in required:
        if field not in record:
            return None, f"field {field!r} is missing"
    return record, None


def read_jsonl(
    path: str | Path,
    required: Iterable[str] = (),
    *,
    heal_torn_tail: bool = False,
    error: type[ValueError] = ValueError,
    skip_bad_lines: bool = False,
    skipped: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The records of a JSONL file, blank lines skipped.

    A line that is not UTF-8, not a JSON object, or lacks a ``required`` field is an
    ``error`` (default :class:`ValueError`; callers pass their own subclass) naming the file,
    the line number and the field, or with ``skip_bad_lines=True`` left out (its number
    appended to ``skipped``).
    ``heal_torn_tail=True`` first cuts a last line that has no newline (an append interrupted
    by a crash, see :func:`cut_torn_tail`): for files written by appending, where every
    complete record ends with one.
    """
    path = Path(path)
    if heal_torn_tail and path.exists():
        cut_torn_tail(path)
    records = iter_jsonl(
        path, required, error=error, skip_bad_lines=skip_bad_lines, skipped=skipped
    )
    return [record for _, record in records]


def jsonl_text(records: Iterable[dict[str, Any]]) -> str:
    """Records as JSONL text (UTF-8 kept readable, one object per line)."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` atomically: a staging file beside it is written,
    fsynced and renamed over the target, so a reader sees the old file or the new one, never
    a part. Each call gets its own staging file (process, thread and a counter in its name;
    removed if writing fails), so concurrent writers never share one: the last rename wins.
    A new file gets the usual permissions (``0o666`` less the umask); a replaced one keeps
    its own."""
    path = Path(path)
    refuse_vanished_run_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    staging = path.with_name(
        f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}-{next(_STAGING_NUMBERS)}"
    )
    try:
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps the umask's mode
            os.chmod(staging, path.stat().st_mode & 0o7777)
        os.replace(staging, path)
    except BaseException as error:
        staging.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DiskFull(
                f"{path}: no space left on device while writing it; free space"
            ) from None
        raise
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
