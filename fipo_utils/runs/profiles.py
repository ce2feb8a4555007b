"""Profiles: one YAML recipe per scale (``smoke`` on a laptop CPU, ``paper`` on GPU nodes).

A profile holds one section per pipeline step. Notebooks read their section and let
papermill parameters override single keys, so the CPU and GPU runs share one code path and
differ only in numbers.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.paths import CONFIGS_DIR
from fipo_utils.runs.profile_yaml import read_profile_yaml
from fipo_utils.runs.schema import check_mapping

PROFILES_DIR = CONFIGS_DIR / "profiles"
# The sections a profile may hold: one per pipeline step, plus the run-wide keys. A typo
# (``traim:``) would otherwise be a section no step reads, and its values silently unused.
SECTIONS = (
    "models",
    "diversify",
    "train",
    "sft",
    "preference",
    "ipl",
    "infer",
    "evaluate",
    "baselines",
    "analysis",
    "sizing",
    "gate",
    "grpo",
)
TOP_LEVEL = {"seed": int, "chain": list, "inherits": str, "name": str}


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


def profile_reference(name_or_path: str) -> str:
    """How a profile is handed to a notebook kernel or a later ``--resume``: a file path
    resolved against the caller's working folder (kernels run from the project root, so a
    relative path would name another file there), a shipped profile's name unchanged."""
    path = Path(name_or_path).expanduser()
    if path.suffix and not path.is_absolute() and path.is_file():
        return str(path.resolve())
    return name_or_path


def _check_sections(path: Path, data: dict[str, Any]) -> None:
    """Every top-level key a known section holding a mapping, or a run-wide key of its type."""
    for key, value in data.items():
        if key in TOP_LEVEL:
            expected = TOP_LEVEL[key]
            if value is not None and not isinstance(value, expected):
                noun = {int: "an integer", list: "a list", str: "a name"}[expected]
                raise SettingsError(f"{path}: {key}: expected {noun}, got {value!r}")
        elif key not in SECTIONS:
            close = difflib.get_close_matches(key, [*SECTIONS, *TOP_LEVEL], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SettingsError(
                f"{path}: unknown section {key!r}; {hint}sections: {', '.join(SECTIONS)}"
            )
        elif value is not None and not isinstance(value, dict):
            raise SettingsError(
                f"{path}: section {key!r} must be a mapping of keys, got {type(value).__name__}"
            )


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
    data = read_profile_yaml(path) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a profile must be a mapping of sections")
    _check_sections(path, data)
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
