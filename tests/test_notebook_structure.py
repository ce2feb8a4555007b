"""Every committed notebook is clean: no outputs, a markdown title cell, and exactly one
cell tagged ``parameters`` that papermill reads in full."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
from papermill.translators import PythonTranslator

from fipo_utils.runs.paths import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))

# The parameter names (in order) of the notebooks whose parameters other code passes by name.
PARAMETERS = {
    "08_baselines": [
        "run_dir",
        "profile",
        "n_items",
        "n_candidates",
        "fipo_optimizer",
        "rewriter",
        "testers",
        "oirl_datasets",
    ],
    "09_search_baselines": ["run_dir", "profile", "tasks", "n_items", "testers", "proposer"],
}
INLINE_CODE = re.compile(r"`[^`\n]*`")


def test_every_notebook_is_collected():
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs_and_one_parameters_cell(path):
    book = nbformat.read(path, as_version=4)
    assert book.cells[0].cell_type == "markdown"
    assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code")
    tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    source = tagged[0].source
    assert 'run_dir = ""' in source and 'profile = "smoke"' in source
    # papermill must see every parameter (a comment it cannot parse hides the name)
    names = [p.name for p in PythonTranslator.inspect(tagged[0])]
    assigned = [
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    ]
    assert names == assigned
    if path.stem in PARAMETERS:
        assert names == PARAMETERS[path.stem]
    # no escaped newline written into a cell's text (a source saved as one long line);
    # a `\n` inside inline code in markdown is meant
    assert not any("\\n" in c.source.splitlines()[0] for c in book.cells if c.source)
    for cell in book.cells:
        if cell.cell_type == "markdown":
            assert "\\n" not in INLINE_CODE.sub("", cell.source)
