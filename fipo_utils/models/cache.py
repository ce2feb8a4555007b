"""A persistent on-disk cache of generations and option scores.

Evaluation re-asks the same prompts often (a rerun of notebook 06, the naive condition
shared by every optimizer, a crashed run resumed), and on the paper profile each answer
costs GPU time. Entries are keyed by the model's identity (its resolved path plus the size
and modification time of its weight files, so a retrained checkpoint in the same folder is
a different model), the backend, the generation parameters and the prompt.

Storage is one append-only JSONL file per (model, backend, parameters): every finished batch
is appended and fsynced, so a crash loses at most the batch in flight and a rerun only pays
for what is missing. A torn last line (a crash mid-write) is cut off when the file is next
opened (:func:`fipo_utils.runs.io.cut_torn_tail`), so the next entry starts on a line of its
own instead of being glued onto it, and any other line that fails to parse is skipped; an
exclusive ``flock`` around healing and appending keeps two processes from tearing each
other's lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from fipo_utils.runs.io import read_jsonl
from fipo_utils.runs.kernel_output import progress_shown
from fipo_utils.runs.paths import cache_dir

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".json")


def model_identity(source: str) -> str:
    """A string naming exactly one set of weights.

    A local folder: its resolved path plus name, size and mtime of each weight and config
    file. A hub id (no local folder): the id itself, since its files are pinned by the hub
    cache and cannot be inspected without loading.
    """
    path = Path(source).expanduser()
    if not path.is_dir():
        return source
    parts = [str(path.resolve())]
    for file in sorted(path.iterdir()):
        if file.is_file() and file.name.endswith(_WEIGHT_SUFFIXES):
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _digest(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0

    def __str__(self) -> str:
        return f"{self.hits} cached, {self.misses} generated"


@dataclass
class GenerationCache:
    """The cache files of one model and backend; one JSONL file per parameter set."""

    model_id: str
    backend: str
    root: Path = field(default_factory=lambda: cache_dir("generations"))
    skipped_lines: int = field(default=0, init=False)  # unreadable lines passed over
    _memory: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)

    def file_for(self, params_key: dict[str, Any]) -> Path:
        folder = self.root / _digest(f"{self.backend}|{self.model_id}")
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "model.json"
        if not meta.exists():
            meta.write_text(json.dumps({"model": self.model_id, "backend": self.backend}) + "\n")
        return folder / f"{_digest(json.dumps(params_key, sort_keys=True))}.jsonl"

    def entries(self, params_key: dict[str, Any]) -> dict[str, Any]:
        """prompt hash -> stored output, read once per process and then kept in memory."""
        path = self.file_for(params_key)
        key = str(path)
        if key not in self._memory:
            table: dict[str, Any] = {}
            if path.exists():
                # a bad line (torn by a crash mid-write, undecodable) is skipped and counted:
                # its entry is recomputed
                bad: list[int] = []
                records = read_jsonl(
                    path, ("k", "v"), heal_torn_tail=True, skip_bad_lines=True, skipped=bad
                )
                if bad:
                    self.skipped_lines += len(bad)
                    print(f"generation cache {path}: {len(bad)} unreadable line(s) skipped")
                for record in records:
                    with contextlib.suppress(TypeError):  # a key that cannot be a dict key
                        table[record["k"]] = record["v"]
            self._memory[key] = table
        return self._memory[key]

    def append(self, params_key: dict[str, Any], items: dict[str, Any]) -> None:
        """Append finished outputs and fsync, so they survive a crash right after."""
        if not items:
            return
        path = self.file_for(params_key)
        lines = "".join(json.dumps({"k": k, "v": v}) + "\n" for k, v in items.items())
        with path.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file closes
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        self.entries(params_key).update(items)


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def cached_map(
    cache: GenerationCache,
    params_key: dict[str, Any],
    prompts: Sequence[str],
    compute: Callable[[list[str]], list[Any]],
    chunk_size: int,
    stats: CacheStats,
    desc: str = "generate",
    show_progress: bool = False,
) -> list[Any]:
    """``compute`` over the prompts not yet cached, chunk by chunk, each chunk persisted."""
    table = cache.entries(params_key)
    keys = [prompt_key(p) for p in prompts]
    missing: dict[str, str] = {}
    for key, prompt in zip(keys, prompts, strict=True):
        if key not in table and key not in missing:
            missing[key] = prompt
    stats.hits += sum(1 for key in keys if key not in missing)
    stats.misses += len(keys) - sum(1 for key in keys if key not in missing)
    todo = list(missing.items())
    chunks = range(0, len(todo), max(1, chunk_size))
    for start in tqdm(chunks, desc=desc, disable=not (show_progress and todo and progress_shown())):
        chunk = todo[start : start + chunk_size]
        outputs = compute([prompt for _, prompt in chunk])
        cache.append(params_key, {key: out for (key, _), out in zip(chunk, outputs, strict=True)})
    return [table[key] for key in keys]
