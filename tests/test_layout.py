"""The package's shape: stage subpackages, no import circles, lower stages never import
higher ones, and a small public API that ``import fipo_utils`` does not pay for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fipo_utils"
# A stage may import stages of a lower rank and itself. Analysis and the baselines are
# peers: both read the results of 01-06 from the run folder, neither imports the other.
RANKS = {
    "runs": 0,
    "data": 1,
    "models": 2,
    "training": 3,
    "inference": 4,
    "evaluation": 5,
    "analysis": 6,
    "baselines": 6,
    "feedback": 6,
    "doctor": 6,  # the GPU check: runs training and generation, read by commands only
    "commands": 7,
    "cli": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Every fipo_utils module that ``path`` imports, at any depth of its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import module`` imports the module; ``from module import name`` the module
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    # The top-level facade names every API module for type checkers only; it is the one
    # module allowed to point upwards, and nothing inside the package imports it.
    return {
        name: imported_modules(name, path, known)
        for name, path in modules.items()
        if name != "fipo_utils"
    }


def stage_of(module: str) -> str:
    return module.split(".")[1]


def test_top_level_holds_at_most_four_python_files() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 4, top
    assert {"__init__.py", "cli.py"} <= set(top)


def test_every_subpackage_is_a_known_stage_and_says_what_it_does() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"):
        if not any(folder.glob("*.py")):
            continue
        assert folder.name in RANKS, f"{folder.name}/ is not a stage named in this test"
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
        assert docstring and len(docstring.splitlines()) >= 3, f"{folder.name}/__init__.py"


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan): the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_circle_finder_finds_a_circle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_no_stage_imports_a_higher_or_peer_stage() -> None:
    violations = [
        f"{module} -> {target}"
        for module, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if target != "fipo_utils"
        and stage_of(module) != stage_of(target)
        and RANKS[stage_of(target)] >= RANKS[stage_of(module)]
    ]
    assert violations == []


def test_the_walker_sees_lazy_imports_inside_functions(tmp_path: Path) -> None:
    source = "def f():\n    from fipo_utils.training.ipl import run_ipl\n    return run_ipl\n"
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = imported_modules("fipo_utils.training.probe", path, set(all_modules()))
    assert found == {"fipo_utils.training.ipl"}


def test_public_api_imports_from_the_top_level() -> None:
    from fipo_utils import is_correct, load_benchmark, optimize_prompts

    assert is_correct("gsm8k", "So the answer is 42.", "#### 42")
    assert not is_correct("gsm8k", "The answer is 41.", "#### 42")
    assert is_correct("piqa", "The answer is (B).", 1)
    assert callable(load_benchmark) and callable(optimize_prompts)


@pytest.mark.parametrize(
    "name",
    [
        "load_pop",
        "diversify",
        "optimize_prompts",
        "load_benchmark",
        "is_correct",
        "make_generator",
        "load_profile",
    ],
)
def test_public_name_is_the_stage_function(name: str) -> None:
    import fipo_utils

    value = getattr(fipo_utils, name)
    assert callable(value) and value.__module__.startswith("fipo_utils.")
    assert name in fipo_utils.__all__ and name in dir(fipo_utils)


def test_unknown_top_level_name_is_an_attribute_error() -> None:
    import fipo_utils

    with pytest.raises(AttributeError, match="no attribute 'optimise_prompts'"):
        fipo_utils.optimise_prompts  # noqa: B018


def test_importing_the_package_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, fipo_utils; "
        "print(sorted(m for m in ('torch', 'pandas', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
