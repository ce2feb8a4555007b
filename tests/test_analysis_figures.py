"""Figures carry the axes, titles and captions a reader needs, and land as PNG and SVG."""

from __future__ import annotations

import pytest
from analysis_synthetic import make_run

from fipo_utils.analysis import figures as report_figures
from fipo_utils.analysis import report

FAST = report.AnalysisSettings()


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("fig"), "20260101-000000-figs")
    result = report.analyse([run], FAST)
    yield result
    report.close_figures(result)


def _by_name(analysis):
    return {f.name: f for f in analysis.figures}


EXPECTED = {
    "analysis_strategies": (
        "weighted average accuracy (%)",
        "optimizer / tester",
        "Optimization strategies: weighted average accuracy",
    ),
    "analysis_type_mix": (
        "case type (0-5 main rows, 6-8 extra IPL rows)",
        "share within its group (%)",
        "Diversified data: case-type mix",
    ),
    "analysis_prompt_lengths": (
        "instruction length (words)",
        "items",
        "Instruction length before and after optimization",
    ),
    "analysis_cheating_notes": (  # the first benchmark's panel
        "optimized prompts with a cheating note (%)",
        "prompt optimizer",
        "GSM8K",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_figures_have_their_axes_labels_and_title(analysis, name):
    ax = _by_name(analysis)[name].figure.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == EXPECTED[name]


def test_every_caption_names_the_run(analysis):
    assert len(analysis.figures) == 7
    for result in analysis.figures:
        assert "20260101-000000-figs" in result.caption, result.name
        texts = [t.get_text() for t in result.figure.texts]
        assert any("20260101-000000-figs" in t for t in texts), result.name


def test_accuracy_figure_shows_absolute_naive_and_optimized_per_tester(analysis):
    result = _by_name(analysis)["analysis_accuracy"]
    panels = {ax.get_title(): ax for ax in result.figure.axes}
    ax = panels["tester smollm2-135m-instruct, optimizer ipl-ipo-lora"]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:3] == ["GSM8K\nn=4", "BBH\nn=5", "PiQA\nn=5"]
    assert ticks[3].startswith("weighted avg")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("benchmark (items evaluated)", "accuracy (%)")
    heights = [round(p.get_height(), 6) for p in ax.patches]
    # naive GSM8K 2/4, BBH 2/5, PiQA 3/5; ipl-ipo optimized 3/4, 4/5, 4/5 (percent)
    assert heights[:3] == [50.0, 40.0, 60.0] and heights[4:7] == [75.0, 80.0, 80.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == ["chance", "naive", "optimized", "published"]
    # chance: a random option on PiQA (50%), none on GSM8K (free numbers) or BBH (tasks differ)
    chance = [c for c in ax.collections if c.get_label() == "chance"]
    assert len(chance) == 1 and [s[0][1] for s in chance[0].get_segments()] == [50.0]


def test_ipl_and_training_panels_follow_the_logged_keys(analysis):
    ipl = _by_name(analysis)["analysis_ipl_rounds"].figure
    titles = [ax.get_title() for ax in ipl.axes]
    assert titles == ["prompts replaced", "judge accuracy (held out)", "mean training loss"]
    assert ipl.axes[0].get_ylabel() == "prompts replaced (%)"
    # round 1 has no replaced share (nothing rewritten yet)
    assert list(ipl.axes[0].lines[0].get_xdata()) == [2, 3]
    paper = [c for c in ipl.axes[0].collections if c.get_label() == "paper"]
    assert list(paper[0].get_offsets()[:, 1]) == pytest.approx([1.25, 2.40])  # percent
    assert list(ipl.axes[0].lines[0].get_ydata()) == pytest.approx([2.0, 3.0])
    assert list(ipl.axes[1].lines[0].get_ydata()) == pytest.approx([80.0, 90.0, 95.0])
    training = _by_name(analysis)["analysis_training_curves"].figure
    # one row per trained model, one panel per metric: no axis shared across models
    rows = {}
    for ax in training.axes:
        rows.setdefault(ax.get_title(), []).append(ax)
    assert all(len(axes) == 2 for axes in rows.values()) and len(rows) >= 2
    assert [ax.get_ylabel() for ax in rows["ipl-ipo-lora"]] == [
        "IPO loss",
        "reward margin (chosen - rejected)",
    ]
    assert all(ax.get_xlabel() == "step" for ax in training.axes)
    ipl_loss = [list(line.get_xdata()) for line in rows["ipl-ipo-lora"][0].lines]
    assert ipl_loss == [[1, 2], [3, 4], [5, 6]]  # rounds laid end to end, one line each
    # a metric a model did not log is said so, not drawn as an empty frame
    margins = rows["ipl-ipo-lora"][1]
    assert margins.lines or [t.get_text() for t in margins.texts] == ["not logged for this model"]


def test_cheating_note_bars_show_counts(analysis):
    axes = _by_name(analysis)["analysis_cheating_notes"].figure.axes
    labels = {t.get_text().strip() for ax in axes for t in ax.texts}
    assert "1/4" in labels  # one flagged GSM8K prompt of four per optimizer
    assert "0/5" in labels
    # one panel per benchmark, all on the same x-range so their bars compare
    shown = [ax for ax in axes if ax.get_visible()]
    assert len(shown) >= 2 and len({ax.get_xlim() for ax in shown}) == 1


@pytest.mark.parametrize(
    ("mix", "expected"),
    [
        ({"counts": {"0": 3, "8": 1}, "shares": {"0": 0.75}}, {0: 3.0, 8: 1.0}),
        ({"counts": {"main": {"0": 3}, "extra": {"8": 1}}, "seed": 1}, {0: 3.0, 8: 1.0}),
        ({"main": {"0": 3}, "extra": {"6": 2}}, {0: 3.0, 6: 2.0}),
        ({"main": {"case_1": 2}}, {1: 2.0}),
        ([{"case_type": 6, "count": 4}], {6: 4.0}),
        ({"unrelated": "x"}, {}),
    ],
)
def test_case_type_counts_read_several_shapes(mix, expected):
    assert report_figures.case_type_counts(mix) == expected


def test_figures_are_written_into_the_run_and_copied_to_figures_dir(analysis, tmp_path):
    run_dir = tmp_path / "run"
    subset = report.Analysis(analysis.collection, figures=analysis.figures[:1])
    written = report.write_figures(subset, run_dir, tmp_path / "figures")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == [
        "figures/analysis_accuracy.png",
        "figures/analysis_accuracy.svg",
        "run/figures/analysis_accuracy.png",
        "run/figures/analysis_accuracy.svg",
    ]
    png = (tmp_path / "figures" / "analysis_accuracy.png").read_bytes()
    assert (
        png.startswith(b"\x89PNG")
        and png == (run_dir / "figures/analysis_accuracy.png").read_bytes()
    )
    assert b"<svg" in (tmp_path / "figures" / "analysis_accuracy.svg").read_bytes()[:2000]


def test_accuracy_figure_keeps_one_optimizer_name_from_two_sources_apart(tmp_path):
    # notebook 08 and the Table 8 run of 09 can both score an optimizer of the same name
    run = make_run(tmp_path, "20260101-000000-shared", optimized={"bpo": {"gsm8k": [0, 0, 1, 1]}})
    result = report.analyse([run], FAST)
    try:
        figure = _by_name(result)["analysis_accuracy"].figure
        titles = sorted(ax.get_title() for ax in figure.axes)
        assert titles == [
            "tester smollm2-135m-instruct, optimizer bpo, baselines",
            "tester smollm2-135m-instruct, optimizer bpo, eval",
        ]
        heights = {
            ax.get_title().rsplit(", ", 1)[1]: round(
                ax.patches[len(ax.get_xticks())].get_height(), 6
            )
            for ax in figure.axes
        }
        assert heights == {"eval": 50.0, "baselines": 75.0}  # optimized GSM8K in each source
    finally:
        report.close_figures(result)
