"""`fipo figures` regenerates a run folder's committed tables byte for byte.

The reference run (docs/reference-run/, the executed `study` profile) is published with its
tables; a reader must be able to trust that they come from the per-item files beside them.
The same check runs on a tiny-profile run made here, so it is exercised before the
reference run exists, and on the reference run as soon as it is committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from analysis_synthetic import make_run

from fipo_utils.cli import main as fipo_main
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.paths import PROJECT_ROOT
from fipo_utils.runs.runner import reproduce

REFERENCE_RUN = PROJECT_ROOT / "docs" / "reference-run"
TABLE_SUFFIXES = (".csv", ".md")


def tables_not_regenerated(run_folder: Path, tmp_path: Path, profile: str | None = None):
    """Copy ``run_folder``, delete its ``analysis/`` tables, run `fipo figures` on the copy and
    return the tables that did not come back byte-identical (and how many were checked).

    The profile (its `analysis` section: seed, replicates, confidence) is the run's own,
    from its manifest, unless given."""
    copy = tmp_path / "copy" / run_folder.name  # the run's name appears in report.md
    shutil.copytree(run_folder, copy)
    analysis = copy / "analysis"
    committed = {
        path.name: path.read_bytes()
        for path in sorted(analysis.glob("*"))
        if path.suffix in TABLE_SUFFIXES
    }
    for name in committed:
        (analysis / name).unlink()
    profile = profile or read_manifest(copy)["profile"]
    status = fipo_main(
        ["figures", str(copy), "--out", str(tmp_path / "figures"), "--profile", profile]
    )
    assert status == 0
    changed = [
        name
        for name, text in committed.items()
        if not (analysis / name).is_file() or (analysis / name).read_bytes() != text
    ]
    return changed, len(committed)


def test_figures_regenerates_a_synthetic_runs_tables(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs")
    assert (
        fipo_main(["figures", str(run), "--out", str(tmp_path / "first"), "--profile", "tiny"]) == 0
    )
    changed, checked = tables_not_regenerated(run, tmp_path, profile="tiny")
    assert checked >= 8 and changed == []
    # and the check can fail: a hand-edited table is caught
    table = run / "analysis" / "study_significance.csv"
    table.write_text(table.read_text().replace("no difference", "better", 1))
    changed, _ = tables_not_regenerated(run, tmp_path / "again", profile="tiny")
    assert changed == ["study_significance.csv"]


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.shared
def test_figures_regenerates_a_tiny_runs_tables(tmp_path: Path, shared_data: Path) -> None:
    profile = tmp_path / "tiny-eval.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "inherits": "tiny",
                "chain": [
                    {"notebook": "05_batch_inference", "parameters": {"optimizer": "all"}},
                    {"notebook": "06_evaluation"},
                    {"notebook": "07_analysis"},
                ],
                "infer": {"benchmarks": ["gsm8k", "piqa"], "n_items": 3},
                "analysis": {"figures_dir": str(tmp_path / "figures")},
            }
        )
    )
    run = reproduce(str(profile), runs_root=tmp_path / "runs", progress=False)
    assert (run / "optimized" / "identity").is_dir() and (run / "optimized" / "bpo-style").is_dir()
    changed, checked = tables_not_regenerated(run, tmp_path)
    assert checked >= 8 and changed == []


@pytest.mark.skipif(not REFERENCE_RUN.is_dir(), reason="docs/reference-run/ not committed yet")
def test_figures_regenerates_the_reference_runs_tables(tmp_path: Path) -> None:
    changed, checked = tables_not_regenerated(REFERENCE_RUN, tmp_path)
    assert checked > 0 and changed == []
