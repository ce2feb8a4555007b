"""The main job end to end: the smoke chain on SmolLM2, as `make reproduce` runs it.

The chain runs once per test session (it is the expensive part) and each test checks what
one step left in the run folder. Determinism (same seed, same tables) is checked on two runs
of the same chain in the `tiny` profile, which exercises the same seeding and decoding code
at a fraction of the cost.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from fipo_utils.analysis.report import AnalysisSettings, compare_runs
from fipo_utils.models.loading import load_model
from fipo_utils.runs.manifest import read_manifest
from fipo_utils.runs.paths import SAMPLE_DATA_DIR
from fipo_utils.runs.profiles import load_profile
from fipo_utils.runs.runner import chain_from_profile, reproduce

pytestmark = [pytest.mark.slow, pytest.mark.notebook]

TRAINED = ["sft-lora", "dpo-lora", "ipo-lora", "ipl-ipo-lora"]


def _profile_with_private_figures(base: str, folder: Path) -> Path:
    """``base`` unchanged, except that figures go to ``folder`` instead of the project's
    figures/ (which the main job itself refreshes)."""
    path = folder / f"{base}-test.yaml"
    path.write_text(
        yaml.safe_dump({"inherits": base, "analysis": {"figures_dir": str(folder / "figures")}})
    )
    return path


@pytest.fixture(scope="session")
def smoke_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _profile_with_private_figures("smoke", tmp_path_factory.mktemp("profile"))


@pytest.fixture(scope="session")
def run_dir(smoke_profile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reproduce(str(smoke_profile), runs_root=tmp_path_factory.mktemp("runs"), progress=False)


def test_every_step_of_the_chain_is_done_and_recorded(run_dir: Path, smoke_profile: Path):
    manifest = read_manifest(run_dir)
    expected = [step.key for step in chain_from_profile(str(smoke_profile))]
    assert [s["key"] for s in manifest["steps"]] == expected
    assert all(s["status"] == "done" and s["wall_time_s"] > 0 for s in manifest["steps"])
    for step in manifest["steps"]:
        assert (run_dir / step["output_notebook"]).is_file()


def test_diversification_covers_every_sample_record(run_dir: Path):
    sample = (SAMPLE_DATA_DIR / "sample_pop.jsonl").read_text().splitlines()
    sample_rows = sum(1 for line in sample if line.strip())
    sft = json.loads((run_dir / "data" / "sft.json").read_text())
    ipl = [json.loads(line) for line in (run_dir / "data" / "ipl.jsonl").read_text().splitlines()]
    assert len(sft) == sample_rows
    assert len(ipl) >= 2 * sample_rows - 4  # fixed mode may drop chosen == rejected rows
    assert {row["case_type"] for row in ipl} <= set(range(9))


@pytest.mark.parametrize("name", TRAINED)
def test_each_strategy_leaves_a_loadable_checkpoint_and_its_losses(run_dir: Path, name: str):
    final = run_dir / "checkpoints" / name / "final"
    assert (final / "model.safetensors").is_file() and (final / "config.json").is_file()
    metrics = json.loads((run_dir / "train" / name / "metrics.json").read_text())
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert losses and all(loss == loss for loss in losses), "losses must be logged and finite"


def test_sft_loss_falls_over_the_smoke_steps(run_dir: Path):
    metrics = json.loads((run_dir / "train" / "sft-lora" / "metrics.json").read_text())
    losses = [e["loss"] for e in metrics["log_history"] if "loss" in e]
    assert sum(losses[-2:]) < sum(losses[:2])


def test_trained_optimizer_loads_and_generates(run_dir: Path):
    loaded = load_model(str(run_dir / "checkpoints" / "ipl-ipo-lora" / "final"))
    assert loaded.model.config.model_type == "llama"


def test_optimized_prompts_exist_for_every_available_benchmark(run_dir: Path):
    infer = load_profile("smoke")["infer"]
    folders = [p for p in (run_dir / "optimized").iterdir() if p.is_dir()]
    assert len(folders) == 1, "the smoke chain optimizes with one optimizer"
    files = sorted(folders[0].rglob("*.jsonl"))  # bbh/<task>.jsonl sits one level down
    assert len(files) == len(infer["benchmarks"])
    for path in files:
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(records) == infer["n_items"]
        assert all(r["optimized_instruction"].strip() for r in records)


def test_evaluation_scores_naive_and_optimized_on_every_benchmark(run_dir: Path):
    with (run_dir / "eval" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    benchmarks = {r["benchmark"] for r in rows}
    assert {"gsm8k", "piqa", "cosmosqa", "mmlu"} <= benchmarks
    assert any(b.startswith("bbh/") for b in benchmarks)
    for benchmark in benchmarks:
        conditions = {r["condition"] for r in rows if r["benchmark"] == benchmark}
        assert conditions == {"naive", "optimized"}
    for r in rows:
        assert int(r["n_correct"]) <= int(r["n_items"])
        assert abs(float(r["accuracy"]) - int(r["n_correct"]) / int(r["n_items"])) < 1e-6


def test_baselines_sit_in_the_same_table_format(run_dir: Path):
    with (run_dir / "baselines" / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    optimizers = {r["optimizer"] for r in rows}
    assert len(optimizers) >= 3, optimizers
    assert set(rows[0]) >= {"optimizer", "tester", "benchmark", "condition", "accuracy"}


def test_analysis_lays_our_numbers_beside_the_published_ones(run_dir: Path, smoke_profile: Path):
    table = (run_dir / "analysis" / "table2_tester_benchmark.md").read_text()
    assert "published" in table and "ours" in table
    figures = load_profile(str(smoke_profile))["analysis"]["figures_dir"]
    produced = {p.name for p in Path(figures).glob("*.png")}
    assert "analysis_accuracy.png" in produced
    assert {p.name for p in (run_dir / "figures").glob("analysis_*.png")} == produced


def test_a_finished_run_resumed_runs_nothing_again(run_dir: Path):
    """No step rewrites what an earlier step made. Each done step records the run folder as
    it found it, so a later step that changes one of those files makes it stale, and a run
    resumed in another session would redo it (hours of training in the study)."""
    lines: list[str] = []
    reproduce(resume=run_dir, log=lines.append, progress=False)
    steps = read_manifest(run_dir)["steps"]
    skipped = [line for line in lines if line.endswith("already done, skipped")]
    assert len(skipped) == len(steps), [line for line in lines if "stale" in line]


def test_two_runs_with_the_same_seed_give_identical_tables(tmp_path: Path):
    profile = _profile_with_private_figures("tiny", tmp_path)
    first, second = (
        reproduce(str(profile), runs_root=tmp_path / "runs", progress=False) for _ in range(2)
    )
    assert first != second
    settings = AnalysisSettings.from_profile(load_profile("tiny"))
    assert compare_runs(first, second, settings) == []
    # the tables compared are real: the evaluation scored every benchmark of the profile
    with (first / "eval" / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) >= 2 * len(
            load_profile("tiny")["infer"]["benchmarks"]
        )
