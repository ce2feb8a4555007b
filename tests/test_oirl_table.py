"""Prompt-OIRL table reconstruction: row counts against the logs, row order, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.baselines.oirl.logs import OirlLogError, read_correctness
from fipo_utils.baselines.oirl.questions import QuestionDataError, fold_questions
from fipo_utils.baselines.oirl.table import build_table

# (rows, released test rows, test accuracy of the no-prompt column = Prompt-OIRL's published
# best single prompt): a wrong row order or split would not reproduce these.
EXPECTED = {
    "gsm8k": (8473, 1000, 0.248),
    "mawps": (7685, 1685, 0.646),
    "svamp": (19690, 4690, 0.637),
}


@pytest.mark.shared
@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_table_matches_log_counts_and_published_single_prompt(shared_data, dataset):
    rows, n_test, no_prompt_accuracy = EXPECTED[dataset]
    table = build_table(shared_data, dataset)
    assert table.n_rows == rows
    assert table.correct.shape == (rows, 6)
    assert int(table.original_test.sum()) == n_test
    assert table.prompt_aliases[0] == "nan"
    assert table.correct[table.original_test, 0].mean() == pytest.approx(
        no_prompt_accuracy, abs=5e-4
    )
    assert table.critics is not None and table.critics.shape == (n_test, 6)
    assert (table.critic_row[table.original_test] == np.arange(n_test)).all()


@pytest.mark.shared
def test_fold_numbers_are_filled_as_written(shared_data):
    questions = fold_questions(shared_data / "svamp", "svamp")
    assert len(questions) == 19690
    assert "number0" not in " ".join(questions[:500])
    # Row 15000 is the first released SVAMP test row; LLaMA-2's logged answer used these numbers.
    assert "3409" in questions[15000] and "145" in questions[15000]
    mawps = fold_questions(shared_data / "svamp", "mawps")
    assert mawps[0].startswith("Mary is baking a cake . The recipe wants 8.0 cups")


def test_malformed_log_line_names_file_and_line(tmp_path):
    path = tmp_path / "llama_x_corr_CoT.txt"
    path.write_text("(0, True)\n(1, maybe)\n")
    with pytest.raises(OirlLogError, match=r"llama_x_corr_CoT.txt, line 2"):
        read_correctness(path)


def test_out_of_order_log_rows_are_rejected(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("(0, True)\n(2, False)\n")
    with pytest.raises(OirlLogError, match="out of order"):
        read_correctness(path)


def test_correctness_values_parse(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("(0, True)\n(1, False)\n(2, True)\n")
    assert read_correctness(path).tolist() == [True, False, True]


def test_missing_number_in_fold_row_is_reported(tmp_path):
    for fold in range(5):
        folder = tmp_path / "data" / "cv_mawps" / f"fold{fold}"
        folder.mkdir(parents=True)
        (folder / "train.csv").write_text("Question,Numbers\nAdd number0 and number1 .,3.0\n")
    with pytest.raises(QuestionDataError, match=r"fold0/train.csv, row 2.*number1"):
        fold_questions(tmp_path, "mawps")
