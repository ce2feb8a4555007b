"""Shared fixtures. Tests never reach a network hub: the HF offline flags are forced here
(set unconditionally, whatever the calling shell had), and matplotlib draws off-screen.

nbformat and papermill are imported where a notebook runs: the vLLM environment
(``make test-vllm``) runs its tests with this conftest and has neither."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import nbformat

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["MPLBACKEND"] = "Agg"

from fipo_utils.runs.paths import NOTEBOOKS_DIR, reference_data_dir  # noqa: E402

RunNotebook = Callable[..., Any]


def _run_notebook(
    name: str,
    out_dir: Path,
    *,
    output: str | None = None,
    cwd: Path | None = None,
    **parameters: object,
) -> nbformat.NotebookNode:
    import nbformat
    import papermill

    executed = out_dir / (output or f"{name}.out.ipynb")
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / f"{name}.ipynb"),
        str(executed),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=None if cwd is None else str(cwd),
    )
    return nbformat.read(executed, as_version=4)


@pytest.fixture(scope="session")
def run_notebook() -> RunNotebook:
    """Execute a committed notebook headless through papermill and return the executed copy.

    ``run_notebook(name, out_dir, output=None, cwd=None, **parameters)`` runs
    ``notebooks/<name>.ipynb`` with ``parameters`` injected (exactly those: pass ``run_dir``
    and ``profile`` too), writes the executed notebook to ``out_dir / output`` (default
    ``<name>.out.ipynb``) and returns it read back with nbformat. Tests that call it are
    marked ``slow``: each one starts a kernel. (Not the chain runner
    ``fipo_utils.runs.runner.run_notebook``, which also writes a manifest.)
    """
    return _run_notebook


def _output_text(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            parts.extend(
                "".join(value) if isinstance(value, list) else str(value)
                for value in out.get("data", {}).values()
            )
    return "\n".join(parts)


@pytest.fixture(scope="session")
def notebook_text() -> Callable[[nbformat.NotebookNode], str]:
    """``notebook_text(book)``: every text an executed notebook printed or displayed (stream
    outputs and every MIME type of its display data), joined by newlines."""
    return _output_text


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; tests that need it are skipped where it is absent."""
    root = reference_data_dir()
    if root is None:
        pytest.skip("../shared/data (or FIPO_DATA_DIR) is not available")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A seeded tiny random Llama saved as safetensors (built once per cache)."""
    from fipo_utils.models.loading import build_tiny_model

    return build_tiny_model()
