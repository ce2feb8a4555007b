"""Throw-away notebooks for runner tests: a tagged ``parameters`` cell and one body cell."""

from __future__ import annotations

from pathlib import Path

import nbformat


def step_notebook(path: Path, body: str) -> Path:
    """Write a notebook whose parameters are ``run_dir`` and ``profile`` and whose one cell
    runs ``body``; returns ``path``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('run_dir = ""\nprofile = "tiny"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Py", "language": "python"}
    nbformat.write(nb, path)
    return path
