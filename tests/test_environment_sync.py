"""environment.yml must describe the same packages as pyproject.toml."""

import tomllib

import yaml

from fipo_utils.runs.paths import PROJECT_ROOT


def _pip_lines() -> list[str]:
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    return [line.replace("--no-deps ", "").strip() for line in pip_sections[0]]


def test_environment_yml_lists_every_pyproject_requirement_with_the_same_pin():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    spec = project["project"]
    wanted = set(spec["dependencies"])
    wanted |= set(spec["optional-dependencies"]["dev"])
    wanted |= set(spec["optional-dependencies"]["models"])
    listed = set(_pip_lines())
    assert wanted - listed == set(), f"missing from environment.yml: {sorted(wanted - listed)}"
    assert listed - wanted == set(), f"only in environment.yml: {sorted(listed - wanted)}"


def test_environment_yml_uses_the_python_the_project_requires():
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert "python=3.11" in env["dependencies"]
