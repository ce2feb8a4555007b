"""Notebooks 05 and 06 through papermill, with an isolated generation cache.

The smoke chain (tests/test_main_job.py) runs both notebooks on SmolLM2 over all five
benchmarks; here they run in the `tiny` profile so per-item files, traceability of every
number and the cache-served rerun are checked in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from fipo_utils.data.benchmarks import WEIGHTED_AVERAGE
from fipo_utils.evaluation.columns import RESULT_COLUMNS

pytestmark = [pytest.mark.slow, pytest.mark.notebook, pytest.mark.shared]
TESTER = "tiny-random"

BENCHMARKS = ["gsm8k", "bbh/date_understanding", "piqa", "cosmosqa", "mmlu"]
N_ITEMS = 2


@pytest.fixture(scope="module")
def smoke_run(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path, run_notebook, notebook_text
) -> Iterator[Path]:
    """A run folder with notebook 05 executed (an isolated generation cache)."""
    root = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FIPO_CACHE_DIR", str(root / "cache"))
        run_dir = root / "run"
        nb = run_notebook(
            "05_batch_inference",
            root,
            cwd=root,
            run_dir=str(run_dir),
            profile="tiny",
            benchmarks=BENCHMARKS,
            n_items=N_ITEMS,
        )
        assert f"0 cached, {len(BENCHMARKS) * N_ITEMS} generated" in notebook_text(nb)
        yield run_dir


def test_05_writes_optimized_prompts_per_item(smoke_run: Path) -> None:
    folder = smoke_run / "optimized" / "base"  # no checkpoints in this run: the base model
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["missing"] == {}
    for benchmark in BENCHMARKS:
        rows = pd.read_json(folder / f"{benchmark}.jsonl", lines=True)
        assert len(rows) == N_ITEMS
        assert set(rows.optimizer) == {"base"}
        assert rows.optimized_instruction.str.len().gt(0).all()
        assert rows.raw_output.str.len().gt(0).any()
        assert rows.cheating_note.dtype == bool
    assert (smoke_run / "figures" / "05_instruction_lengths_base.png").is_file()


def test_06_scores_then_serves_rerun_from_cache(
    smoke_run: Path, monkeypatch: pytest.MonkeyPatch, run_notebook, notebook_text
) -> None:
    root = smoke_run.parent
    monkeypatch.setenv("FIPO_CACHE_DIR", str(root / "cache"))  # the cache notebook 05 used
    first = notebook_text(
        run_notebook("06_evaluation", root, cwd=root, run_dir=str(smoke_run), profile="tiny")
    )
    n_answers = len(BENCHMARKS) * N_ITEMS * 2  # two conditions, answered or scored
    assert f"{TESTER}: 0 cached, {n_answers} generated" in first
    results = pd.read_csv(smoke_run / "eval" / "results.csv")
    assert list(results.columns) == list(RESULT_COLUMNS)
    primary = results[results.primary]
    assert len(primary) == len(BENCHMARKS) * 2 and set(results.n_items) == {N_ITEMS}
    # generation benchmarks are also scored leniently beside the strict primary
    assert set(results[~results.primary].scoring) == {"lenient"}
    assert len(results) == len(primary) + 2 * 2  # gsm8k and one BBH task, two conditions
    assert results.accuracy.between(0, 1).all()
    predictions = smoke_run / "eval" / "predictions" / "base" / TESTER
    for benchmark in BENCHMARKS:
        rows = pd.read_json(predictions / f"{benchmark}.jsonl", lines=True)
        assert sorted(rows.condition.unique()) == ["naive", "optimized"]
        # every number, of every scoring, traces back to its items
        for condition, part in rows.groupby("condition"):
            lines = results[(results.benchmark == benchmark) & (results.condition == condition)]
            for line in lines.itertuples():
                verdicts = part.correct_by.map(lambda by, s=line.scoring: by[s])
                assert int(line.n_correct) == int(verdicts.sum())
            assert int(lines[lines.primary].n_correct.iloc[0]) == int(part.correct.sum())
    summary = pd.read_csv(smoke_run / "eval" / "summary.csv")
    assert WEIGHTED_AVERAGE in set(summary.benchmark)

    before = (smoke_run / "eval" / "results.csv").stat().st_mtime_ns
    second = notebook_text(
        run_notebook("06_evaluation", root, cwd=root, run_dir=str(smoke_run), profile="tiny")
    )
    assert f"{TESTER}: {n_answers} cached, 0 generated" in second
    assert (smoke_run / "eval" / "results.csv").stat().st_mtime_ns == before  # unchanged
