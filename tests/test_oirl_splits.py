"""Leak-free splitting: no question text on both sides; the released MAWPS/SVAMP split leaks."""

from __future__ import annotations

import numpy as np
import pytest

from fipo_utils.baselines.oirl.splits import leaking_rows, make_split, normalize_question
from fipo_utils.baselines.oirl.table import OirlTable, build_table


def _table(questions: list[str], n_test: int) -> OirlTable:
    n = len(questions)
    return OirlTable(
        dataset="synthetic",
        questions=questions,
        prompt_aliases=["a", "b"],
        prompts=["A", "B"],
        correct=np.zeros((n, 2), dtype=bool),
        original_test=np.arange(n) >= n - n_test,
        critic_row=np.full(n, -1),
        critics=None,
    )


def test_leak_free_split_keeps_each_text_on_one_side():
    texts = [f"question {i % 7} ." for i in range(40)]  # every text repeated, like CV folds
    table = _table(texts, n_test=10)
    assert (
        leaking_rows(
            table.questions, *[make_split(table, "original").__dict__[k] for k in ("train", "test")]
        )
        > 0
    )
    split = make_split(table, "leak-free", seed=1)
    train_keys = {normalize_question(texts[i]) for i in split.train}
    test_keys = {normalize_question(texts[i]) for i in split.test}
    assert not train_keys & test_keys
    assert len(split.train) + len(split.test) == 40
    assert len(split.test) >= 10
    again = make_split(table, "leak-free", seed=1)
    assert np.array_equal(split.test, again.test)


def test_clean_split_is_kept_as_released():
    table = _table([f"q{i}" for i in range(20)], n_test=5)
    split = make_split(table, "leak-free")
    assert split.test.tolist() == list(range(15, 20))


def test_normalization_folds_case_and_spacing():
    assert normalize_question("Mary has 3 apples .") == normalize_question("mary  has 3 apples.")


def test_unknown_split_name():
    with pytest.raises(ValueError, match="leak-free"):
        make_split(_table(["q"], 0), "random")


@pytest.mark.shared
@pytest.mark.parametrize("dataset", ["mawps", "svamp"])
def test_released_fold_split_leaks_and_leak_free_does_not(shared_data, dataset):
    table = build_table(shared_data, dataset)
    original = make_split(table, "original")
    assert leaking_rows(table.questions, original.train, original.test) > len(original.test)
    clean = make_split(table, "leak-free")
    assert leaking_rows(table.questions, clean.train, clean.test) == 0
    assert len(clean.test) >= len(original.test)


@pytest.mark.shared
def test_gsm8k_released_split_is_already_clean(shared_data):
    table = build_table(shared_data, "gsm8k")
    clean = make_split(table, "leak-free")
    assert np.array_equal(clean.test, make_split(table, "original").test)
    assert leaking_rows(table.questions, clean.train, clean.test) == 0
