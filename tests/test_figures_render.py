"""Every figure the notebooks draw, rendered from a tiny run, reads like a paper's figure.

One test per figure builder over the same small inputs: the synthetic run folder of the
analysis tests (docs/CONTRACTS.md layout), the sample POP diversified as notebook 01 does, a
trainer log history shaped like trl's, IPL rounds as notebook 04 records them, and a
notebook-06 summary with a benchmark no item got right. Each figure must label its axes,
print plain tick labels (no offset text such as "+1e3" and no scientific notation) and keep
internal names (file names, fields, this project's notes) out of every text it shows.
"""

from __future__ import annotations

import re

import matplotlib
import pandas as pd
import pytest
from analysis_synthetic import make_run
from matplotlib.collections import PathCollection
from matplotlib.text import Text

from fipo_utils.analysis import figures as analysis_figures
from fipo_utils.analysis import report
from fipo_utils.data.benchmarks import WEIGHTED_AVERAGE
from fipo_utils.evaluation import summary_figures
from fipo_utils.evaluation.evaluate import SUMMARY_COLUMNS
from fipo_utils.inference.figures import PAGE_INCHES

INTERNAL = re.compile(
    r"\.py\b|\.jsonl?\b|\.csv\b|FACTS|run_dir|metrics\.json|rounds\.json|\b[a-z]+_[a-z_]+\b"
)  # file names, notes, and snake_case field names such as replaced_share


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def check_figure(fig) -> None:
    """Axis labels on every panel that shows data, no offset text, no internal names."""
    fig.canvas.draw()  # offset texts are only computed when the figure is drawn
    for ax in fig.axes:
        if not (ax.lines or ax.patches or ax.collections):
            continue
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (ax.get_title(), fig)
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", (ax.get_title(), axis)
    leaks = [t for t in _texts(fig) if INTERNAL.search(t)]
    assert not leaks, leaks
    width, height = fig.get_size_inches()
    assert width <= PAGE_INCHES[0] and height <= PAGE_INCHES[1], (_texts(fig)[:1], width, height)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("render"), "20260101-000000-render")
    result = report.analyse([run], report.AnalysisSettings())
    yield result
    report.close_figures(result)


def test_every_analysis_figure_reads_cleanly(analysis):
    names = sorted(f.name for f in analysis.figures)
    assert "analysis_accuracy" in names and "analysis_training_curves" in names
    for result in analysis.figures:
        assert not INTERNAL.search(result.caption), (result.name, result.caption)
        check_figure(result.figure)


def test_strategies_figure_compares_identical_benchmark_sets(analysis):
    result = next(f for f in analysis.figures if f.name == "analysis_strategies")
    ticks = [t.get_text() for t in result.figure.axes[0].get_yticklabels()]
    # bpo evaluated GSM8K only; the others three benchmarks: bpo is left out, and said so
    assert ticks and not any("bpo" in t for t in ticks)
    assert "left out" in result.caption and "bpo" in result.caption


@pytest.fixture(scope="module")
def diversified(tmp_path_factory):
    from fipo_utils.data.diversify import diversify_to_dir
    from fipo_utils.data.pop import load_pop, resolve_pop_source
    from fipo_utils.data.template import load_template

    folder = tmp_path_factory.mktemp("data")
    records = load_pop(resolve_pop_source("sample"))
    summaries = {
        variant: diversify_to_dir(
            records, folder / variant, variant=variant, template=load_template()
        )
        for variant in ("full", "gen")
    }
    return folder, summaries


def test_data_figures_read_cleanly(diversified):
    from fipo_utils.data import plots

    folder, summaries = diversified
    for fig in (
        plots.plot_type_mix(summaries["full"]),
        plots.plot_length_distributions(plots.length_frame(folder / "full")),
        plots.plot_variant_mixes(summaries),
    ):
        check_figure(fig)
        matplotlib.pyplot.close(fig)


LOG = [
    {"step": s, "loss": 2500.0 - s, "rewards/margins": 0.1 * s, "rewards/accuracies": 0.5}
    for s in (1, 2, 3)
] + [{"step": 3, "eval_loss": 2499.0, "eval_rewards/margins": 0.25}]


def test_training_figures_read_cleanly_and_show_ipo_target():
    from fipo_utils.training import plots

    sft = plots.plot_sft_loss([{"step": 1, "loss": 10.1}, {"step": 2, "loss": 10.0}], "SFT")
    check_figure(sft)
    ipo = plots.plot_training_curves([plots.Curve(LOG, loss="ipo")], "IPO")
    check_figure(ipo)
    margin = ipo.axes[1]
    assert any(line.get_label() == "IPO target (0.5)" for line in margin.lines)
    assert any(line.get_label() == "eval (held out)" for line in margin.lines)
    assert ipo.axes[0].get_ylabel() == "IPO loss"
    for fig in (sft, ipo):
        matplotlib.pyplot.close(fig)


def test_analysis_training_curves_never_share_an_axis_across_losses():
    logs = {
        ("r", "dpo-lora"): [{"step": s, "loss": 0.69, "rewards/margins": 0.01 * s} for s in (1, 2)],
        ("r", "ipo-lora"): [
            {"step": s, "loss": 2500.0, "rewards/margins": 0.1 * s} for s in (1, 2)
        ],
    }
    [result] = analysis_figures.training_curves_figure(logs)
    check_figure(result.figure)
    loss_axes = [ax for ax in result.figure.axes if ax.get_ylabel().endswith("loss")]
    assert [ax.get_title() for ax in loss_axes] == ["dpo-lora", "ipo-lora"]
    assert loss_axes[0].get_ylim()[1] < 10 < loss_axes[1].get_ylim()[0]  # own scale each
    ipo_margin = next(
        ax
        for ax in result.figure.axes
        if ax.get_title() == "ipo-lora" and ax.get_ylabel().startswith("reward margin")
    )
    assert any(line.get_label() == "IPO target (0.5)" for line in ipo_margin.lines)
    matplotlib.pyplot.close(result.figure)


def test_ipl_rounds_figure_marks_the_paper_and_annotates_counts():
    from fipo_utils.training import plots

    rounds = [
        {"round": 1, "replaced_share": None, "judge_accuracy": 1.0, "n_judge_holdout": 3},
        {
            "round": 2,
            "replaced_share": 0.25,
            "n_replaced": 2,
            "n_optimizer_rows": 8,
            "judge_accuracy": 0.5,
            "n_judge_holdout": 3,
        },
    ]
    for r in rounds:
        r["loss_mean"] = 1000.5
    fig = plots.plot_ipl_rounds({"this run": rounds}, "IPL")
    check_figure(fig)
    texts = _texts(fig)
    assert "n/a" in texts and "25.0%\n2/8" in texts and "50%\nn=3" in texts
    replaced = fig.axes[0]
    paper = [c for c in replaced.collections if c.get_label() == "paper"]
    assert paper and list(paper[0].get_offsets()[:, 0]) == [2]  # aligned with round 2
    matplotlib.pyplot.close(fig)


def test_notebook_06_accuracy_figure_marks_zero_bars():
    summary = pd.DataFrame(
        [
            ("base", "tiny-random", "naive", "gsm8k", 2, 0, 0.0, 1319),
            ("base", "tiny-random", "optimized", "gsm8k", 2, 1, 0.5, 1319),
            ("base", "tiny-random", "naive", "piqa", 2, 2, 1.0, 1838),
            ("base", "tiny-random", "optimized", "piqa", 2, 1, 0.5, 1838),
        ],
        columns=SUMMARY_COLUMNS,
    )
    accuracy = summary_figures.accuracy_with_intervals(summary)
    assert accuracy.loc[0, "low"] == 0.0 and accuracy.loc[3, "high"] <= 100.0
    [result] = summary_figures.absolute_accuracy_figure(accuracy)
    check_figure(result.figure)
    ax = result.figure.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0"]  # the naive GSM8K bar of height zero
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["GSM8K\nn=2", "PiQA\nn=2", "weighted avg\nn=4"]
    # the paper's weighted average, by full test-set sizes (GSM8K 1,319; PiQA 1,838)
    naive = accuracy[(accuracy.benchmark == WEIGHTED_AVERAGE) & (accuracy.condition == "naive")]
    assert naive["accuracy"].item() == round(100 * 1838 / (1319 + 1838), 2)
    matplotlib.pyplot.close(result.figure)


def _study_rows() -> pd.DataFrame:
    """Pooled study cells as `significance.study_table` writes them: two testers, three
    optimizers, two scorings; one cell called better, one worse, the rest not called."""
    rows = []
    for scoring in ("letter", "strict"):
        for tester in ("smollm2-135m-instruct", "gemma3-270m"):
            for optimizer, gain, verdict in (
                ("identity", 0.0, "no difference"),
                ("sft-lora", 0.08, "better" if scoring == "letter" else "no difference"),
                ("dpo-lora", -0.06, "worse" if tester == "gemma3-270m" else "no difference"),
            ):
                rows.append(
                    {
                        "run": "20260101-000000-study",
                        "source": "eval",
                        "optimizer": optimizer,
                        "tester": tester,
                        "benchmark": "pooled",
                        "scoring": scoring,
                        "n_items": 85 if scoring == "letter" else 40,
                        "gain": gain,
                        "gain_low_family": gain - 0.04,
                        "gain_high_family": gain + 0.04,
                        "endpoint": "primary" if scoring == "strict" else "secondary",
                        "verdict": verdict,
                    }
                )
    # the Table 8 run scores one of the same optimizers on other items: not in this figure
    rows.append(
        {
            **rows[1],
            "source": "table8",
            "gain": 0.5,
            "gain_low_family": 0.4,
            "gain_high_family": 0.6,
        }
    )
    return pd.DataFrame(rows)


def test_study_gain_figure_reads_cleanly_and_marks_the_called_cells():
    """The study's headline: one panel per scoring, the primary endpoint's first, every
    optimizer and tester, zero marked; a cell the Holm-corrected test calls is drawn filled,
    one it does not call hollow."""
    study = _study_rows()
    [result] = analysis_figures.study_gain_figure(study)
    assert result.name == "analysis_study_gains"
    check_figure(result.figure)
    assert "exact-consistent Tango interval" in result.caption and "85" in result.caption
    assert len(result.figure.axes) == 2  # strict (primary) leads, then letter
    titles = [ax.get_title() for ax in result.figure.axes]
    assert titles[0].startswith("PRIMARY: generation") and titles[1].startswith("secondary")
    for ax, scoring in zip(result.figure.axes, ("strict", "letter"), strict=True):
        assert any(list(line.get_xdata()) == [0, 0] for line in ax.lines)  # the zero line
        assert [t.get_text() for t in ax.get_yticklabels()] == ["identity", "sft-lora", "dpo-lora"]
        white = [
            len(c.get_offsets())
            for c in ax.collections
            if isinstance(c, PathCollection) and tuple(c.get_facecolors()[0][:3]) == (1, 1, 1)
        ]
        view = study[(study["scoring"] == scoring) & (study["source"] == "eval")]
        assert max(abs(x) for c in ax.collections for x, _ in c.get_offsets()) < 20
        assert sum(white) == int((view["verdict"] == "no difference").sum())
    matplotlib.pyplot.close(result.figure)
    assert analysis_figures.study_gain_figure(study.iloc[0:0]) == []


def test_many_panels_are_split_into_pages_a_page_can_show():
    """A study-sized run (16 optimizer x tester panels) gives several accuracy pages, each
    within a page; the first keeps the figure's name, the others are numbered."""
    rows = [
        (f"optimizer-{o}", tester, condition, benchmark, 10, 5, 0.5, 1000)
        for o in range(8)
        for tester in ("smollm2-135m-instruct", "gemma3-270m")
        for condition in ("naive", "optimized")
        for benchmark in ("gsm8k", "piqa", "mmlu")
    ]
    accuracy = summary_figures.accuracy_with_intervals(pd.DataFrame(rows, columns=SUMMARY_COLUMNS))
    results = summary_figures.absolute_accuracy_figure(accuracy)
    assert [r.name for r in results] == ["06_accuracy", "06_accuracy-2", "06_accuracy-3"]
    panels = [len([ax for ax in r.figure.axes if ax.get_visible()]) for r in results]
    assert sum(panels) == 16 and max(panels) <= summary_figures.PANELS_PER_PAGE
    for number, result in enumerate(results, start=1):
        check_figure(result.figure)
        assert result.figure.get_suptitle().endswith(f"(page {number} of 3)")
        matplotlib.pyplot.close(result.figure)


def test_cheating_notes_of_many_optimizers_stay_within_a_page():
    optimized = pd.DataFrame(
        [
            {
                "run": "r",
                "optimizer": f"optimizer-{o}",
                "benchmark": benchmark,
                "id": f"{benchmark}-{i}",
                "cheating_note": i == 0 and o % 2 == 0,
            }
            for o in range(14)
            for benchmark in ("gsm8k", "bbh/date_understanding", "piqa", "cosmosqa", "mmlu")
            for i in range(4)
        ]
    )
    results = analysis_figures.cheating_note_figure(optimized)
    assert results[0].name == "analysis_cheating_notes" and len(results) >= 2
    titles = [ax.get_title() for r in results for ax in r.figure.axes if ax.get_visible()]
    assert sorted(titles) == ["BBH", "CosmosQA", "GSM8K", "MMLU", "PiQA"]
    for result in results:
        check_figure(result.figure)
        matplotlib.pyplot.close(result.figure)
