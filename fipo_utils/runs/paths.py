"""Where things live: the project, the optional reference data, the on-disk caches.

Kept in one place so that a notebook, a test and the CLI agree on every location and a
user can move any of them with one environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # fipo_utils/runs/paths.py -> project
SAMPLE_DATA_DIR = PROJECT_ROOT / "data"
CONFIGS_DIR = PROJECT_ROOT / "configs"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
FIGURES_DIR = PROJECT_ROOT / "figures"
RUNS_DIR = PROJECT_ROOT / "runs"


def runs_root() -> Path:
    """Where run folders go: ``FIPO_RUNS_DIR`` when set (tests, CI, a scratch disk), else
    ``runs/`` in the project."""
    return Path(os.environ.get("FIPO_RUNS_DIR") or RUNS_DIR)


def reference_data_dir() -> Path | None:
    """The folder of real reference data (benchmarks, POP, BPO, OIRL logs), if any.

    ``FIPO_DATA_DIR`` wins; otherwise ``../shared/data`` beside the project is used when it
    exists. ``None`` means a fresh machine without files: callers fall back to the sample
    data or report a benchmark as missing, never fake it.
    """
    env = os.environ.get("FIPO_DATA_DIR")
    if env:
        path = Path(env).expanduser().resolve()
        return path if path.is_dir() else None
    beside = PROJECT_ROOT.parent / "shared" / "data"
    return beside if beside.is_dir() else None


def reference_path(*parts: str) -> Path | None:
    """A file or folder inside the reference data, or ``None`` when it is not there."""
    root = reference_data_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


def cache_dir(*parts: str) -> Path:
    """A persistent cache folder (converted models, generations, embeddings).

    ``FIPO_CACHE_DIR`` overrides the default ``~/.cache/fipo`` so CI and tests can isolate it.
    """
    root = Path(os.environ.get("FIPO_CACHE_DIR", Path.home() / ".cache" / "fipo")).expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def offline_by_default() -> bool:
    """Set ``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` unless the user opted in to
    downloads (``FIPO_ONLINE=1``, or either variable set to ``0`` already). Returns whether
    runs are offline.

    Offline, a missing local file is reported as missing instead of being fetched from a hub
    behind the user's back. Called by the ``fipo`` command before any library reads the
    variables; notebook kernels started by the runner inherit them.
    """
    if os.environ.get("FIPO_ONLINE", "") not in ("", "0"):
        return False
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    return os.environ["HF_HUB_OFFLINE"] not in ("", "0")
