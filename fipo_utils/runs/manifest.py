"""The run manifest: enough to tell later what produced a run folder and to resume it.

It records the profile (its name, a copy of its resolved values and their hash, so a later
``--resume`` notices an edited profile), overrides, package versions, the git revision,
hashes of the input data, and per-step status and wall time. It is rewritten atomically after every
change so a crash leaves the last consistent state on disk.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import RunFolderGone, StaleResultError
from fipo_utils.runs.fingerprint import changed_keys, settings_hash
from fipo_utils.runs.io import write_atomic
from fipo_utils.runs.paths import PROJECT_ROOT, SAMPLE_DATA_DIR, reference_data_dir
from fipo_utils.runs.profiles import load_profile

MANIFEST_NAME = "manifest.json"
TRACKED_PACKAGES = (
    "fipo-companion",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "papermill",
    "xgboost",
    "lightgbm",
    "vllm",
)


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Commit id and whether the tree had uncommitted changes; ``None`` outside a checkout."""
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"revision": None, "dirty": None}
    return {"revision": revision, "dirty": bool(status.strip())}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: Path) -> str:
    """A cheap identity of a large data folder: relative paths and sizes, hashed.

    Hashing every byte of gigabytes of benchmarks at each run would cost more than the
    smoke run itself; names and sizes catch a swapped or truncated file.
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def input_data_hashes(extra_files: list[Path] | None = None) -> dict[str, str]:
    """sha256 of the project's sample data and any named input files; a fingerprint of the
    reference data folder when one is in use."""
    hashes: dict[str, str] = {}
    files = sorted(p for p in SAMPLE_DATA_DIR.glob("*") if p.is_file())
    for path in files + list(extra_files or []):
        if path.is_file():
            hashes[str(path)] = file_sha256(path)
    reference = reference_data_dir()
    if reference is not None:
        hashes[f"{reference}/ (names and sizes)"] = folder_fingerprint(reference)
    return hashes


def new_manifest(profile: str, overrides: dict[str, Any], steps: list[dict[str, Any]]) -> dict:
    resolved = load_profile(profile)
    return {
        "created": utc_now(),
        "profile": profile,
        "profile_resolved": resolved,
        "profile_hash": settings_hash(resolved),
        "overrides": overrides,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_revision(),
        "environment": {
            key: os.environ.get(key)
            for key in ("FIPO_DATA_DIR", "FIPO_CACHE_DIR", "HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES")
        },
        "data_hashes": input_data_hashes(),
        "steps": steps,
    }


def check_profile_unchanged(run_dir: Path, manifest: dict, accept_change: bool = False) -> None:
    """Stop a resume when the run's profile file resolves to values other than the recorded ones.

    Steps already done were made with the recorded values; continuing with new ones would
    mix two recipes in one run without a trace. ``accept_change`` records the change (time
    and keys) in the manifest and adopts the new values instead.
    """
    current = load_profile(manifest["profile"])
    changes = changed_keys(manifest["profile_resolved"], current)
    if not changes:
        return
    if not accept_change:
        raise StaleResultError(
            f"profile {manifest['profile']!r} changed since {run_dir} was made "
            f"({'; '.join(changes)}); resume with --accept-profile-change to continue with the "
            "new values (recorded in the manifest), or start a new run"
        )
    manifest.setdefault("profile_changes", []).append({"accepted": utc_now(), "changes": changes})
    manifest.update(profile_resolved=current, profile_hash=settings_hash(current))


def read_manifest(run_dir: Path) -> dict:
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a run folder made by fipo")
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Replace the manifest atomically; a run folder that is gone is not made again (a new
    manifest there would claim steps done whose outputs were deleted)."""
    if not Path(run_dir).is_dir():
        raise RunFolderGone(f"{run_dir} no longer exists; the manifest is not written there")
    write_atomic(run_dir / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
