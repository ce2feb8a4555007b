"""The training fingerprint: every setting that shaped a checkpoint, stored beside it.

``checkpoints/<name>/fingerprint.json`` is written before the first training step. A later
call with the same name compares what it would train with what is there: equal, and the
finished checkpoint is reused (or an interrupted one resumed); different, and it stops with
one line naming the changed keys instead of returning stale weights. Training under a new
``name`` (or in a new run folder) keeps both.

What counts: the resolved settings (profile values with notebook parameters applied), the
sha256 of the training data file and the rows used, and the base model's identity. Keys that
only change bookkeeping (logging and checkpoint cadence) do not count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import StaleResultError
from fipo_utils.runs.fingerprint import changed_keys, settings_hash
from fipo_utils.runs.io import read_json_or_none, write_json_atomic
from fipo_utils.runs.manifest import file_sha256, utc_now

FINGERPRINT_NAME = "fingerprint.json"
BOOKKEEPING_KEYS = frozenset({"logging_steps", "save_steps", "save_total_limit"})
_WEIGHT_SUFFIXES = (".safetensors", ".json", ".gguf", ".model")


def model_fingerprint(source: str | None) -> str | None:
    """A model's identity without loading it: a name or hub id as given; a local folder by
    the names, sizes and modification times of its weight and config files (not its path,
    so a run folder moved with ``cp -a`` or ``mv`` keeps its fingerprints)."""
    if not source:
        return source
    path = Path(source).expanduser()
    if not path.is_dir():
        return source
    parts = []
    for file in sorted(path.iterdir()):
        if file.is_file() and file.name.endswith(_WEIGHT_SUFFIXES):
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "folder " + settings_hash(parts)[:16]


def training_fingerprint(
    settings: dict[str, Any],
    data_path: str | Path,
    n_rows: int,
    *,
    overrides: dict[str, Any] | None = None,
    profile: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record written to ``fingerprint.json``; only ``shaped_by`` is compared."""
    shaped_by = {
        # base_model is compared through its identity below, not its (movable) path
        "settings": {
            k: v for k, v in settings.items() if k not in BOOKKEEPING_KEYS | {"base_model"}
        },
        "data_sha256": file_sha256(Path(data_path)),
        "n_rows": n_rows,
        "base_model": model_fingerprint(settings.get("base_model")),
        **(extra or {}),
    }
    return {
        "shaped_by": shaped_by,
        "hash": settings_hash(shaped_by),
        "profile": profile,
        "overrides": {k: v for k, v in (overrides or {}).items() if v is not None},
        "data": str(data_path),
        "written": utc_now(),
    }


def check_fingerprint(checkpoint_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Raise :class:`StaleResultError` when ``checkpoint_dir`` was trained differently.

    A checkpoint folder without a fingerprint has nothing to compare and passes.
    """
    stored = read_fingerprint(checkpoint_dir)
    if stored is None:
        return
    changes = changed_keys(stored.get("shaped_by", {}), fingerprint["shaped_by"])
    if changes:
        raise StaleResultError(
            f"{checkpoint_dir} was trained with other settings ({'; '.join(changes)}); "
            "its results are kept. To train with the new settings give the checkpoint a new "
            "name (notebook parameter `name`, e.g. `-p name "
            f"{checkpoint_dir.name}-2`; `fipo train --name ...`) or use a new run folder"
        )


def read_fingerprint(checkpoint_dir: Path) -> dict[str, Any] | None:
    return read_json_or_none(checkpoint_dir / FINGERPRINT_NAME)


def write_fingerprint(checkpoint_dir: Path, fingerprint: dict[str, Any]) -> Path:
    """Atomically write ``fingerprint.json`` (before training starts, so a crash keeps it)."""
    return write_json_atomic(checkpoint_dir / FINGERPRINT_NAME, fingerprint)
