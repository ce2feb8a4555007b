"""Move a run folder to another machine so that ``fipo reproduce --resume`` goes on there.

A run that spans several machines (the CPU study runs for more hours than one machine is
held) must arrive as it was: the runner decides what is done by comparing each step's
recorded ``inputs`` (sizes and modification times of the folder's files,
:mod:`fipo_utils.runs.history`) with the folder, and the generation cache names a model by
its files' modification times (:func:`fipo_utils.models.cache.model_identity`). A plain
copy, or a checkout from git, gives every file a new time: every step would be stale and
every cached rewrite and score a miss.

:func:`pack` copies a run folder (every file and link but its lock and staging files) and,
optionally, the generation cache into a *carry folder* and writes ``carry.json`` beside
them: each file's size, SHA-256 and modification time in nanoseconds, each link's target.
The carry folder is plain files, so it can travel by ``rsync``, a disk or a git commit
(git stores unchanged files once across commits). :func:`unpack` checks every file
against ``carry.json``, copies the run back with its times, merges the cache entries the
machine lacks, and refuses a run folder that already exists: a run is never overwritten.

Files that can be built again from what is carried (a LoRA checkpoint's merged model,
half a gigabyte beside an adapter of a few MB) can be left behind: ``pack(rebuilt=...)``
records them with ``"rebuilt": true`` and copies nothing, and ``unpack(rebuild=...)`` has
them built again before the run is put in place; a rebuilt file with the recorded SHA-256
gets the recorded time, one that differs keeps its own and is reported, so the runner
treats it as a changed input rather than as the file that left.

The run must come back to the same absolute path it left (``origin``): a cached model's
identity includes its path, and executed notebooks name their folder. :func:`unpack` says
so when the target differs.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import FipoError
from fipo_utils.runs.lock import LOCK_NAME, run_folder_lock
from fipo_utils.runs.manifest import MANIFEST_NAME, file_sha256, git_revision, utc_now
from fipo_utils.runs.paths import cache_dir

CARRY_FORMAT = 1
CARRY_RECORD = "carry.json"
RUN_PART = "run"
CACHE_PART = "cache"
# the cache parts worth carrying: converted models are rebuilt from their packages (and
# dated by content, so a rebuild is the same model), embeddings are cheap to recompute
CARRIED_CACHES = ("generations",)


class CarryError(FipoError):
    """A carry folder that does not match its record, or a target that is taken."""


@dataclass(frozen=True)
class CarrySummary:
    """What one pack or unpack moved."""

    run_dir: Path
    carry_dir: Path
    files: int
    links: int
    cache_files: int
    bytes: int
    rebuilt: int = 0  # files recorded but built again rather than copied

    def __str__(self) -> str:
        return (
            f"{self.run_dir} <-> {self.carry_dir}: {self.files} files, {self.links} links, "
            f"{self.cache_files} cache files, {self.bytes / 2**20:.1f} MiB"
            + (f", {self.rebuilt} files rebuilt rather than carried" if self.rebuilt else "")
        )


def _walk(root: Path, skip_top: frozenset[str] = frozenset()) -> Iterator[tuple[str, Path]]:
    """``(relative path, path)`` of every file, link and empty folder under ``root``, in a
    stable order; names starting with ``.`` (staging files, write checks) are left out."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if here == root:
            dirs[:] = [d for d in dirs if d not in skip_top]
        names = sorted(f for f in files if not f.startswith("."))
        if here == root:
            names = [f for f in names if f not in skip_top]
        links = [d for d in dirs if (here / d).is_symlink()]
        dirs[:] = [d for d in dirs if d not in links]  # a link is carried, not followed
        if here != root and not names and not dirs and not links:
            yield str(here.relative_to(root)), here
        for name in [*names, *links]:
            yield str((here / name).relative_to(root)), here / name


def _describe(root: Path, skip_top: frozenset[str] = frozenset()) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for relative, path in _walk(root, skip_top):
        if path.is_symlink():
            entries[relative] = {"link": os.readlink(path)}
        elif path.is_dir():
            entries[relative] = {"folder": True}
        else:
            info = path.stat()
            entries[relative] = {
                "size": info.st_size,
                "sha256": file_sha256(path),
                "mtime_ns": info.st_mtime_ns,
            }
    return entries


def _copy_tree(source: Path, target: Path, entries: dict[str, dict[str, Any]]) -> None:
    """Copy ``entries`` from ``source`` into ``target``, links as links, times as recorded."""
    for relative, entry in entries.items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if "link" in entry:
            destination.symlink_to(entry["link"])
        elif entry.get("folder"):
            destination.mkdir(exist_ok=True)
        elif not entry.get("rebuilt"):
            shutil.copyfile(source / relative, destination)
            os.utime(destination, ns=(entry["mtime_ns"], entry["mtime_ns"]))


def pack(
    run_dir: str | Path,
    carry_dir: str | Path,
    with_cache: bool = True,
    rebuilt: Callable[[Path], Iterable[str]] | None = None,
) -> CarrySummary:
    """Copy ``run_dir`` (and the generation cache) into ``carry_dir`` with ``carry.json``;
    ``rebuilt(run_dir)`` names run-relative files to record without copying (module).

    Holds the run folder's lock while it reads, so it refuses a run a live process is
    writing into (stop ``fipo reproduce`` first: its step is recorded as interrupted and
    ``--resume`` restarts it). An earlier carry of the same run in ``carry_dir`` is replaced
    only once the new one is complete.
    """
    run_dir = Path(run_dir).expanduser().resolve()
    carry_dir = Path(carry_dir).expanduser().resolve()
    if not (run_dir / MANIFEST_NAME).is_file():
        raise CarryError(f"{run_dir} is not a run folder (no {MANIFEST_NAME})")
    if carry_dir == run_dir or run_dir in carry_dir.parents:
        raise CarryError(f"{carry_dir} is inside the run folder {run_dir}; choose another place")
    carry_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{carry_dir.name}-", dir=carry_dir.parent))
    try:
        with run_folder_lock(run_dir):
            run_entries = _describe(run_dir, frozenset({LOCK_NAME}))
            for relative in rebuilt(run_dir) if rebuilt else ():
                if "sha256" not in run_entries.get(relative, {}):
                    raise CarryError(f"{run_dir / relative}: not a file of the run to rebuild")
                run_entries[relative]["rebuilt"] = True
            _copy_tree(run_dir, staging / RUN_PART, run_entries)
        cache_entries: dict[str, dict[str, Any]] = {}
        if with_cache:
            for part in CARRIED_CACHES:
                root = cache_dir(part)
                entries = _describe(root)
                _copy_tree(root, staging / CACHE_PART / part, entries)
                cache_entries.update({f"{part}/{rel}": entry for rel, entry in entries.items()})
        record = {
            "format": CARRY_FORMAT,
            "run": run_dir.name,
            "origin": str(run_dir),
            "packed_at": utc_now(),
            "revision": git_revision().get("revision"),
            "files": run_entries,
            "cache": cache_entries,
        }
        (staging / CARRY_RECORD).write_text(
            json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
        _replace(staging, carry_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cache_files = sum("sha256" in e for e in cache_entries.values())
    return _summary(run_dir, carry_dir, run_entries, cache_files, cache_entries)


def _replace(new: Path, old: Path) -> None:
    """Put ``new`` where ``old`` is; ``old`` is removed only after ``new`` is in place."""
    if not old.exists():
        new.rename(old)
        return
    aside = old.with_name(f".{old.name}.replaced-{os.getpid()}")
    old.rename(aside)
    new.rename(old)
    shutil.rmtree(aside)


def _summary(
    run_dir: Path,
    carry_dir: Path,
    run_entries: dict[str, dict[str, Any]],
    cache_files: int,
    cache_entries: dict[str, dict[str, Any]] | None = None,
) -> CarrySummary:
    """Counts of what moved; ``bytes`` is the run's files plus the carried cache files."""
    moved = [
        e for e in [*run_entries.values(), *(cache_entries or {}).values()] if not e.get("rebuilt")
    ]
    return CarrySummary(
        run_dir=run_dir,
        carry_dir=carry_dir,
        files=sum("sha256" in e and not e.get("rebuilt") for e in run_entries.values()),
        rebuilt=sum(bool(e.get("rebuilt")) for e in run_entries.values()),
        links=sum("link" in e for e in run_entries.values()),
        cache_files=cache_files,
        bytes=sum(e.get("size", 0) for e in moved),
    )


def read_carry_record(carry_dir: Path) -> dict[str, Any]:
    """``carry.json``, checked for the fields :func:`unpack` uses."""
    path = carry_dir / CARRY_RECORD
    if not path.is_file():
        raise CarryError(f"{carry_dir} is not a carry folder (no {CARRY_RECORD})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CarryError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(record, dict) or record.get("format") != CARRY_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise CarryError(f"{path}: field 'format': expected {CARRY_FORMAT}, got {found!r}")
    for field_name in ("run", "origin", "files", "cache"):
        if field_name not in record:
            raise CarryError(f"{path}: field {field_name!r} is missing")
    return record


def _verify(carry_dir: Path, part: str, entries: dict[str, dict[str, Any]]) -> None:
    """Every recorded file is present with its size and SHA-256, every link its target."""
    where = carry_dir / CARRY_RECORD
    for relative, entry in entries.items():
        path = carry_dir / part / relative
        label = f"{where}: {part} entry {relative!r}"
        if "link" in entry:
            if not path.is_symlink() or os.readlink(path) != entry["link"]:
                raise CarryError(f"{label}: field 'link': expected a link to {entry['link']}")
            continue
        if entry.get("folder"):
            if not path.is_dir():
                raise CarryError(f"{label}: field 'folder': the folder is missing")
            continue
        if entry.get("rebuilt"):
            continue
        if not path.is_file():
            raise CarryError(f"{label}: the file is missing from the carry folder")
        if path.stat().st_size != entry["size"]:
            raise CarryError(
                f"{label}: field 'size': recorded {entry['size']}, found {path.stat().st_size}"
            )
        if file_sha256(path) != entry["sha256"]:
            raise CarryError(f"{label}: field 'sha256': the file's bytes differ from the record")


def unpack(
    carry_dir: str | Path,
    runs_root: str | Path,
    log: Any = print,
    rebuild: Callable[[Path, list[str], str], None] | None = None,
) -> CarrySummary:
    """Restore the carried run as ``<runs_root>/<run>`` and merge its cache entries.

    Refuses a run folder that exists (nothing is overwritten) and a carry folder whose
    files differ from ``carry.json`` (named by entry and field). Cache files the machine
    already has are kept: the cache is append-only, so the longer file is the newer one.
    Files packed as rebuilt are written by ``rebuild(folder, files, origin)`` into the run
    before it is put in place (module docstring).
    """
    carry_dir = Path(carry_dir).expanduser().resolve()
    record = read_carry_record(carry_dir)
    target = Path(runs_root).expanduser().resolve() / record["run"]
    if target.exists() or target.is_symlink():
        raise CarryError(f"{target} exists; a run folder is never overwritten: move it first")
    _verify(carry_dir, RUN_PART, record["files"])
    _verify(carry_dir, CACHE_PART, record["cache"])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _copy_tree(carry_dir / RUN_PART, staging, record["files"])
        _rebuild(staging, record, rebuild, log)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    cache_files = _merge_cache(carry_dir / CACHE_PART, record["cache"])
    if str(target) != record["origin"]:
        log(
            f"note: the run left from {record['origin']} and is now {target}: cached models "
            "are named by their path, and its notebooks name the old folder"
        )
    return _summary(target, carry_dir, record["files"], cache_files, record["cache"])


def _rebuild(
    folder: Path,
    record: dict[str, Any],
    rebuild: Callable[[Path, list[str], str], None] | None,
    log: Any,
) -> None:
    """Have the files packed as rebuilt written into ``folder`` and check them against the
    record: the same bytes get the recorded time, other bytes keep their own (reported)."""
    entries = {rel: e for rel, e in record["files"].items() if e.get("rebuilt")}
    if not entries:
        return
    if rebuild is None:
        raise CarryError(
            f"{record['run']}: {len(entries)} files were left to be rebuilt on unpack "
            f"(for example {next(iter(entries))!r}) and no way to rebuild them was given"
        )
    rebuild(folder, sorted(entries), record["origin"])
    for relative, entry in entries.items():
        path = folder / relative
        if not path.is_file():
            raise CarryError(f"run entry {relative!r}: the rebuild did not write the file")
        if path.stat().st_size == entry["size"] and file_sha256(path) == entry["sha256"]:
            os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))
        else:
            log(
                f"note: {relative} was rebuilt with other bytes than the packed file (another "
                "CPU's arithmetic): the steps that read it run again on --resume"
            )


def _merge_cache(source: Path, entries: dict[str, dict[str, Any]]) -> int:
    """Bring the carried cache files into this machine's cache; returns how many it touched.

    A file the machine lacks is copied whole (written beside and renamed in). Into one it
    has, the carried lines whose keys it lacks are appended under the cache's own ``flock``
    (:class:`fipo_utils.models.cache.GenerationCache`), so a process using the cache
    meanwhile loses nothing.
    """
    touched = 0
    for relative, entry in entries.items():
        if "sha256" not in entry:
            continue
        part, _, rest = relative.partition("/")
        destination = cache_dir(part) / rest
        destination.parent.mkdir(parents=True, exist_ok=True)
        carried = source / relative
        if not destination.exists():
            fd, temporary = tempfile.mkstemp(prefix=f".{destination.name}-", dir=destination.parent)
            os.close(fd)
            shutil.copyfile(carried, temporary)
            os.replace(temporary, destination)
            touched += 1
        elif destination.suffix == ".jsonl" and _append_missing_lines(carried, destination):
            touched += 1
    return touched


def _keys(path: Path) -> dict[str, str]:
    """``key -> line`` of a cache file; lines that do not parse are left out."""
    lines: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines[json.loads(line)["k"]] = line
        except (ValueError, KeyError, TypeError):
            continue
    return lines


def _append_missing_lines(carried: Path, destination: Path) -> bool:
    with destination.open("a+", encoding="utf-8") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
        have = _keys(destination)
        missing = [line for key, line in _keys(carried).items() if key not in have]
        if not missing:
            return False
        handle.seek(0, os.SEEK_END)
        if handle.tell() and destination.read_bytes()[-1:] != b"\n":
            handle.write("\n")  # a torn last line stays torn, on a line of its own
        handle.write("".join(f"{line}\n" for line in missing))
        handle.flush()
        os.fsync(handle.fileno())
    return True
