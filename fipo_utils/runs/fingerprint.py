"""Fingerprints of settings: a stable hash of a nested mapping and the keys two of them differ in.

Checkpoints (the training fingerprint) and run manifests (the resolved profile) are checked
against the settings a re-run asks for; this module says which keys changed, so the message
can name them instead of silently reusing stale outputs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def settings_hash(settings: Any) -> str:
    """sha256 of the canonical JSON of ``settings`` (keys sorted): equal settings, equal hash."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """``["key.sub: old -> new", ...]`` for every leaf that differs (added or removed too)."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                changes.append(f"{path}: (absent) -> {_short(new[key])}")
            elif key not in new:
                changes.append(f"{path}: {_short(old[key])} -> (absent)")
            else:
                changes += changed_keys(old[key], new[key], path)
        return changes
    if _canonical(old) == _canonical(new):
        return []
    return [f"{prefix or '(value)'}: {_short(old)} -> {_short(new)}"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
