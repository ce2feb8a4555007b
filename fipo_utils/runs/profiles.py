"""Profiles: one YAML recipe per scale (``smoke`` on a laptop CPU, ``paper`` on GPU nodes).

A profile holds one section per pipeline step. Notebooks read their section and let
papermill parameters override single keys, so the CPU and GPU runs share one code path and
differ only in numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.paths import CONFIGS_DIR
from fipo_utils.runs.schema import check_mapping

PROFILES_DIR = CONFIGS_DIR / "profiles"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> dict[str, Any]:
    """Load a profile by name (``configs/profiles/<name>.yaml``) or by file path.

    A profile may name another in ``inherits`` (a file beside it, or a shipped profile);
    its sections are merged key by key so a small profile only states what it changes. An
    inheritance loop, a non-mapping file and a value the schema rejects
    (:mod:`fipo_utils.runs.schema`) are errors naming the file and key.
    """
    data = _load_chain(name_or_path, [])
    check_mapping(data, f"profile {data['name']!r}")
    return data


def _profile_path(name_or_path: str, beside: Path | None) -> Path:
    path = Path(name_or_path)
    if path.suffix:
        return path if path.is_absolute() or beside is None else beside / path
    if beside is not None and (beside / f"{name_or_path}.yaml").is_file():
        return beside / f"{name_or_path}.yaml"
    return PROFILES_DIR / f"{name_or_path}.yaml"


def _load_chain(name_or_path: str, seen: list[Path], beside: Path | None = None) -> dict[str, Any]:
    path = _profile_path(name_or_path, beside)
    if not path.is_file():
        raise FileNotFoundError(
            f"profile {name_or_path!r} not found (looked for {path}); "
            f"available: {', '.join(available_profiles())}"
        )
    if path.resolve() in seen:
        chain = " -> ".join(p.name for p in [*seen, path.resolve()])
        raise SettingsError(f"profile inheritance loop: {chain}; remove one `inherits`")
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a profile must be a mapping of sections")
    parent = data.pop("inherits", None)
    if parent:
        inherited = _load_chain(str(parent), [*seen, path.resolve()], path.parent)
        data = merge_settings(inherited, data, skip_none=False)
    data["name"] = path.stem
    inherit_template(data)
    return data


# Steps that render the FIPO template after diversification rendered the training data.
TEMPLATE_STEPS = ("infer", "baselines", "ipl")


def inherit_template(profile: dict[str, Any]) -> dict[str, Any]:
    """Test with the template the data was trained with: a step whose ``template`` is unset
    (``null``) takes ``diversify.template`` (the original runs one template throughout)."""
    trained_with = (profile.get("diversify") or {}).get("template")
    for step in TEMPLATE_STEPS:
        settings = profile.get(step)
        if isinstance(settings, dict) and settings.get("template") is None:
            settings["template"] = trained_with
    return profile


def merge_settings(
    base: dict[str, Any], override: dict[str, Any], skip_none: bool = True
) -> dict[str, Any]:
    """Recursive dict merge; ``override`` wins.

    With ``skip_none`` (notebook parameters) a ``None`` value means "take the profile's
    value", so a notebook can pass every parameter through unchanged. Between profiles
    (``inherits``) an explicit ``null`` is a value and does override.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and skip_none:
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value, skip_none)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def section(profile: str | dict[str, Any], name: str, **overrides: Any) -> dict[str, Any]:
    """One step's settings from a profile, with non-``None`` overrides applied."""
    data = load_profile(profile) if isinstance(profile, str) else profile
    if name not in data:
        raise SettingsError(f"profile {data.get('name', '?')!r} has no section {name!r}")
    return merge_settings(data[name], overrides)


def load_step(
    profile: str | dict[str, Any], name: str, **overrides: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A notebook's profile and its step's section, the profile loaded once: ``(profile,
    section(profile, name, **overrides))``, the two arguments a step function takes after the
    run folder."""
    data = load_profile(profile) if isinstance(profile, str) else profile
    return data, section(data, name, **overrides)
