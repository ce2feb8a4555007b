"""Tables built from synthetic run folders, checked against hand-computed values."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from analysis_synthetic import TESTER, make_run

from fipo_utils.analysis import published, readings, report, tables
from fipo_utils.analysis.results import ResultFileError, collect_runs
from fipo_utils.data.benchmarks import WEIGHTED_AVERAGE
from fipo_utils.evaluation.intervals import paired_difference_interval
from fipo_utils.runs.folders import MissingStepOutput

FAST = report.AnalysisSettings()
SIZES = published.PAPER_TEST_SIZES


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    """Built once: the tests below only read it."""
    return report.build_tables(collect_runs([make_run(tmp_path_factory.mktemp("run"))]), FAST)


def _cell(frame, **where):
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= frame[column].to_numpy() == value
    assert mask.sum() == 1, f"expected one row for {where}, found {mask.sum()}"
    return frame[mask].iloc[0]


def test_benchmark_scores_pool_bbh_tasks_and_count_items(analysis):
    scores = analysis.tables["benchmark_scores"]
    bbh = _cell(scores, optimizer="ipl-ipo-lora", benchmark="bbh")
    # object_counting naive [1,0] opt [1,1]; navigate naive [0,0,1] opt [0,1,1]
    assert (bbh["n_naive"], bbh["n_optimized"]) == (5, 5)
    assert bbh["naive"] == pytest.approx(2 / 5)
    assert bbh["optimized"] == pytest.approx(4 / 5)
    assert bbh["n_paired"] == 5
    # 2 of 5 improved, none worse: exact McNemar p = 0.5, so Tango's interval covers 0
    assert bbh["delta_low"] < 0 < bbh["delta"] < bbh["delta_high"]
    gsm = _cell(scores, optimizer="sft-lora", benchmark="gsm8k")
    assert gsm["delta"] == pytest.approx(1 / 4 - 2 / 4)
    # one item worse of 4: the interval is Tango's on those counts, never a point
    assert (gsm["delta_low"], gsm["delta_high"]) == pytest.approx(
        paired_difference_interval(0, 1, 4)
    )
    assert gsm["delta_low"] < gsm["delta"] < 0 < gsm["delta_high"]


def test_weighted_averages_by_paper_sizes_and_by_evaluated_items(analysis):
    scores = analysis.tables["benchmark_scores"]
    paper = _cell(scores, optimizer="ipl-ipo-lora", benchmark=WEIGHTED_AVERAGE)
    total = SIZES["gsm8k"] + SIZES["bbh"] + SIZES["piqa"]
    expected_opt = (SIZES["gsm8k"] * 0.75 + SIZES["bbh"] * 0.8 + SIZES["piqa"] * 0.8) / total
    expected_naive = (SIZES["gsm8k"] * 0.5 + SIZES["bbh"] * 0.4 + SIZES["piqa"] * 0.6) / total
    assert paper["optimized"] == pytest.approx(expected_opt)
    assert paper["naive"] == pytest.approx(expected_naive)
    assert paper["benchmarks"] == "bbh,gsm8k,piqa"
    assert paper["optimized_low"] <= paper["optimized"] <= paper["optimized_high"]
    assert paper["n_optimized"] == 14
    # one weighted average only, the paper's
    assert {b for b in scores["benchmark"] if b.startswith("wavg")} == {WEIGHTED_AVERAGE}


def test_table2_puts_published_row_and_difference_beside_ours(analysis):
    table = analysis.tables["table2_tester_benchmark"]
    ours = _cell(table, kind="ours", optimizer="ipl-ipo-lora", benchmark="gsm8k")
    pub = _cell(table, kind="published", optimizer="ipl-ipo-lora", benchmark="gsm8k")
    diff = _cell(table, kind=tables.GAIN_VS_PUBLISHED, optimizer="ipl-ipo-lora", benchmark="gsm8k")
    assert ours["tester"] == TESTER and ours["published_tester"] == "Tulu2-13B"  # reference
    assert (ours["naive"], ours["optimized"]) == pytest.approx((50.0, 75.0))
    assert (pub["naive"], pub["optimized"]) == pytest.approx((39.06, 40.17))
    assert diff["delta"] == pytest.approx((75.0 - 50.0) - (40.17 - 39.06))
    # accuracies of different testers are never subtracted: only the gains compare
    assert np.isnan(diff["naive"]) and np.isnan(diff["optimized"])
    wavg_pub = _cell(table, kind="published", optimizer="ipl-ipo-lora", benchmark=WEIGHTED_AVERAGE)
    assert wavg_pub["optimized"] == pytest.approx(54.79)
    text = analysis.markdown["table2_tester_benchmark"]
    assert "50.00" in text and "75.00" in text and "n=4" in text and "39.06 -> 40.17" in text
    # every paper-shaped table says it is descriptive and where the tests and MDEs are
    for name in ("table2_tester_benchmark", "table6_strategies", "table8_bbh_tasks"):
        assert tables.PAPER_SHAPED in analysis.markdown[name], name


def test_matching_tester_gets_its_own_published_row(tmp_path):
    run = make_run(tmp_path)
    for path in (run / "eval").rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace(TESTER, "meta-llama/Llama-2-7b-hf"))
    table = report.build_tables(collect_runs([run]), FAST).tables["table2_tester_benchmark"]
    pub = _cell(table, kind="published", optimizer="ipl-ipo-lora", benchmark="piqa")
    assert pub["published_tester"] == "Llama2-7B"
    assert (pub["naive"], pub["optimized"]) == pytest.approx((62.78, 69.37))


def test_aggregate_bbh_row_is_not_counted_twice(run):
    path = run / "eval" / "results.csv"
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerow(
            ["ipl-ipo-lora", TESTER, "bbh", "optimized", "answer", True, 5, 4, 0.8]
        )
    scores = tables.benchmark_scores(collect_runs([run]), tables.CIOptions())
    assert _cell(scores, optimizer="ipl-ipo-lora", benchmark="bbh")["n_optimized"] == 5


def test_strategy_table_matches_published_strategies(analysis):
    table = analysis.tables["table6_strategies"]
    ipl = _cell(table, optimizer="ipl-ipo-lora", benchmark=WEIGHTED_AVERAGE)
    assert ipl["published_row"] == "ipl-ipo e3"
    assert ipl["published_70B"] == pytest.approx(52.13)
    assert ipl["delta_minus_published_delta_70B"] == pytest.approx(ipl["delta"] - (52.13 - 47.79))
    sft = _cell(table, optimizer="sft-lora", benchmark=WEIGHTED_AVERAGE)
    assert (sft["published_13B"], sft["published_70B"]) == pytest.approx((44.93, 46.96))
    bpo = _cell(table, optimizer="bpo", benchmark=WEIGHTED_AVERAGE)
    assert bpo["published_row"] == "" and np.isnan(bpo["published_70B"])


@pytest.mark.parametrize(
    ("name", "strategy", "kind", "round_no", "seed"),
    [
        ("ipl-ipo-lora/round_2", "ipl-ipo", "lora", 2, None),
        ("ipo-full", "ipo", "full", None, None),
        ("ipl-dpo-gen-lora", "ipl-dpo", "lora", None, None),
        ("dpo-lora-seed7", "dpo", "lora", None, 7),
        ("ipl-ipo-lora-seed2/round_1", "ipl-ipo", "lora", 1, 2),
        ("base", "base", None, None, None),
    ],
)
def test_optimizer_names_parse(name, strategy, kind, round_no, seed):
    parsed = tables.parse_optimizer(name)
    assert (parsed["strategy"], parsed["kind"], parsed["round"]) == (strategy, kind, round_no)
    assert parsed["seed"] == seed


def test_bbh_table_uses_table8_tasks_and_counts_naive_once(analysis):
    table = analysis.tables["table8_bbh_tasks"]
    naive = _cell(table, kind="ours", method="naive")
    assert naive["tasks"] == "object_counting"  # the only one of the six tasks present
    assert naive["n_items"] == 2 and naive["accuracy"] == pytest.approx(50.0)
    assert naive["source"] == "eval"  # where its answers came from, not a fixed label
    assert _cell(table, kind="ours", method="ipl-ipo-lora")["accuracy"] == pytest.approx(100.0)
    assert _cell(table, kind="published", method="FIPO")["published_tester"] == "Tulu2-7B"
    diff = _cell(table, kind=tables.GAIN_VS_PUBLISHED, method="ipl-ipo-lora")
    assert diff["accuracy"] == pytest.approx((100.0 - 50.0) - (55.4 - 44.7))


def test_run_without_training_baselines_or_predictions_still_gets_tables(tmp_path):
    run = make_run(tmp_path, baselines=False, training=False)
    shutil.rmtree(run / "eval" / "predictions")
    shutil.rmtree(run / "optimized")
    analysis = report.analyse([run], FAST)
    scores = analysis.tables["benchmark_scores"]
    gsm = _cell(scores, optimizer="ipl-ipo-lora", benchmark="gsm8k")
    assert gsm["n_paired"] == 0 and np.isnan(gsm["delta_low"])  # cannot pair without items
    assert not np.isnan(gsm["optimized_low"])  # accuracy intervals need only counts
    names = [f.name for f in analysis.figures]
    assert names == ["analysis_accuracy", "analysis_strategies"]
    report.close_figures(analysis)


def test_several_runs_are_laid_side_by_side(tmp_path):
    first = make_run(tmp_path / "a")
    second = make_run(tmp_path / "b", optimized={"dpo-lora": {"gsm8k": [1, 1, 1, 1]}})
    collection = collect_runs([first, second])
    assert collection.runs == [first.name, first.name + "'"]  # same folder name, kept apart
    table = report.build_tables(collection, FAST).tables["table2_tester_benchmark"]
    assert set(table["run"]) == set(collection.runs)
    assert _cell(table, kind="ours", optimizer="dpo-lora", benchmark="gsm8k")["optimized"] == 100


def test_bad_results_row_names_file_line_and_field(run):
    path = run / "eval" / "results.csv"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.endswith(",4,3,0.75"))
    lines[index] = lines[index].replace(",4,3,0.75", ",4,9,2.25")
    path.write_text("\n".join(lines) + "\n")
    where = rf"results.csv, line {index + 1}: fields 'n_correct'/'n_items'"
    with pytest.raises(ResultFileError, match=where):
        collect_runs([run])


def test_bad_prediction_record_names_file_line_and_field(run):
    path = run / "eval" / "predictions" / "sft-lora" / TESTER / "gsm8k.jsonl"
    path.write_text(path.read_text().replace('"correct": true', '"correct": "yes"', 1))
    with pytest.raises(ResultFileError, match=r"gsm8k\.jsonl, line 1: field 'correct'"):
        collect_runs([run])


def test_run_without_results_says_which_notebook_to_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingStepOutput, match="06"):
        collect_runs([tmp_path / "empty"])


def test_two_identical_runs_compare_equal_and_a_changed_item_is_reported(tmp_path):
    first = make_run(tmp_path, "20260101-000000-a")
    second = make_run(tmp_path, "20260101-000000-b")
    assert report.compare_runs(first, second, FAST) == []
    changed = make_run(tmp_path, "20260101-000000-c", optimized=_flip_first_gsm8k_item())
    problems = report.compare_runs(first, changed, FAST)
    assert problems and any(p.startswith("results_tidy: ") for p in problems)


def _flip_first_gsm8k_item():
    from analysis_synthetic import OPTIMIZED

    flipped = {k: dict(v) for k, v in OPTIMIZED.items()}
    flipped["ipl-ipo-lora"]["gsm8k"] = [0, 1, 0, 1]
    return flipped


def test_accuracy_in_percent_instead_of_a_fraction_is_rejected(run):
    path = run / "eval" / "results.csv"
    path.write_text(path.read_text().replace(",4,3,0.75", ",4,3,75.0", 1))
    with pytest.raises(ResultFileError, match=r"line \d+: field 'accuracy' is 75.0"):
        collect_runs([run])


def test_newest_run_with_results_is_the_default_and_its_absence_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("FIPO_RUNS_DIR", str(tmp_path))
    with pytest.raises(MissingStepOutput, match="no run under"):
        report.latest_analysable_run()
    older = make_run(tmp_path, "20260101-000000-old", baselines=False, training=False)
    newer = make_run(tmp_path, "20260102-000000-new", baselines=False, training=False)
    (tmp_path / "20260103-000000-unfinished").mkdir()  # no results yet: not analysable
    assert report.latest_analysable_run() == newer != older


def test_settings_come_from_the_profile_section():
    from fipo_utils.runs.profiles import load_profile

    smoke = report.AnalysisSettings.from_profile(load_profile("smoke"))
    paper = report.AnalysisSettings.from_profile(load_profile("paper"))
    assert smoke.confidence == 0.95
    assert paper.primary == {"multiple_choice": "letter", "generation": "strict"}
    assert paper.table2_reference_tester == "Tulu2-13B"


def test_non_primary_scoring_rows_stay_out_of_paper_tables(run):
    collection = collect_runs([run])
    assert set(collection.all_results["scoring"]) == {"answer", "lenient"}
    assert set(collection.results["scoring"]) == {"answer"}
    assert collection.results["primary"].all()
    # every lenient row says 100%, which would move every cell if it leaked into the tables
    assert (collection.all_results.query("scoring == 'lenient'")["accuracy"] == 1.0).all()
    assert len(collection.all_results) == 2 * len(collection.results)


def test_results_row_with_unreadable_primary_flag_names_the_field(run):
    path = run / "eval" / "results.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(",True,", ",yes,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ResultFileError, match=r"results.csv, line 2: field 'primary' is 'yes'"):
        collect_runs([run])


def _bbh_table_with_table8_ape(tmp_path, tester: str, task: str):
    """The Table 8 view of a synthetic run plus a notebook-09 results file in which APE
    answers 4 items of ``bbh/<task>`` for ``tester`` (1 right naive, 3 optimized)."""
    run = make_run(tmp_path)
    folder = run / "baselines" / "table8"
    folder.mkdir(parents=True)
    header = "optimizer,tester,benchmark,condition,scoring,primary,n_items,n_correct,accuracy\n"
    (folder / "results.csv").write_text(
        header
        + f"ape,{tester},bbh/{task},naive,strict,True,4,1,0.25\n"
        + f"ape,{tester},bbh/{task},optimized,strict,True,4,3,0.75\n"
    )
    return report.build_tables(collect_runs([run]), FAST).tables["table8_bbh_tasks"]


def test_bbh_table_names_where_the_naive_answers_came_from(tmp_path):
    """A task answered naively only by the Table 8 run (notebook 09) is labelled so."""
    table = _bbh_table_with_table8_ape(tmp_path, TESTER, "penguins_in_a_table")
    naive = _cell(table, kind="ours", method="naive")
    assert naive["source"] == "eval,table8"
    assert naive["tasks"] == "object_counting,penguins_in_a_table"
    assert _cell(table, kind="ours", method="ape")["source"] == "table8"


def test_bbh_table_compares_with_the_paper_only_on_table8_tasks(tmp_path):
    """A tester scored only on other BBH tasks still gets its row, labelled with those
    tasks, but no difference to Table 8's six-task average."""
    table = _bbh_table_with_table8_ape(tmp_path, "other-tester", "navigate")
    other = table[table["tester"] == "other-tester"]
    assert set(other.loc[other["kind"] == "ours", "tasks"]) == {"navigate"}
    assert tables.GAIN_VS_PUBLISHED not in set(other["kind"])
    assert tables.GAIN_VS_PUBLISHED in set(table.loc[table["tester"] == TESTER, "kind"])
    markdown = tables.bbh_task_markdown(table)
    assert "not Table 8's tasks: navigate" in markdown
    assert "1 Table 8 task)" in markdown


def test_valid_only_reading_with_no_valid_rewrite_is_an_empty_reading(run):
    """Every rewrite invalid leaves a header-only valid-only table: the as-written reading
    stays, the valid-only one is absent, and nothing fails on the empty table."""
    header = (run / "eval" / "results.csv").read_text().splitlines()[0]
    (run / "eval" / "results_valid_only.csv").write_text(header + "\n")
    table = readings.readings_table(collect_runs([run]))
    assert not table.empty
    assert set(table["reading"]) == {readings.AS_WRITTEN}
