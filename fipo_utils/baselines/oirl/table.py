"""The (question, prompt, correct) table of one dataset, rebuilt from logs and question texts.

Row counts are checked against every log: a question file and a log that disagree in
length mean the row order cannot be trusted, so building stops with both paths named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fipo_utils.baselines.oirl import DATASETS
from fipo_utils.baselines.oirl.logs import (
    OirlLogError,
    logs_dir,
    read_correctness,
    read_critics,
    read_prompt_names,
)
from fipo_utils.baselines.oirl.questions import fold_questions, gsm8k_questions

# First test row of the datasets whose logs hold train and test rows in one file.
ORIGINAL_TEST_START = {"mawps": 6000, "svamp": 15000}
EXPECTED_ROWS = {"gsm8k": 7473 + 1000, "mawps": 7685, "svamp": 19690}


@dataclass(frozen=True)
class OirlTable:
    """One row per logged question; one column per training prompt.

    ``critic_row[i]`` indexes the self-critique arrays (test rows only) and is -1 elsewhere.
    """

    dataset: str
    questions: list[str]
    prompt_aliases: list[str]
    prompts: list[str]
    correct: np.ndarray  # bool [n_rows, n_prompts]
    original_test: np.ndarray  # bool [n_rows]
    critic_row: np.ndarray  # int [n_rows]
    critics: np.ndarray | None  # float [n_critic_rows, n_prompts]: signed confidence
    confidence: np.ndarray | None = None  # the stated confidence alone (the original's score)

    @property
    def n_rows(self) -> int:
        return len(self.questions)


def build_table(data_dir: Path, dataset: str) -> OirlTable:
    """Rebuild the table from ``<data_dir>/oirl``, ``benchmarks/gsm8k`` and ``svamp``."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    data_dir = Path(data_dir)
    oirl_dir = data_dir / "oirl"
    names = read_prompt_names(oirl_dir, dataset)
    folder = logs_dir(oirl_dir, dataset)
    if dataset == "gsm8k":
        train_q, test_q = gsm8k_questions(data_dir / "benchmarks")
        questions = train_q + test_q
        columns = []
        for alias in names.aliases:
            train = _checked(folder / f"llama_gsm8k_corr_{alias}.txt", len(train_q))
            test = _checked(folder / f"llama_gsm8k_test_corr_{alias}.txt", len(test_q))
            columns.append(np.concatenate([train, test]))
        original_test = np.arange(len(questions)) >= len(train_q)
    else:
        questions = fold_questions(data_dir / "svamp", dataset)
        columns = [
            _checked(folder / f"llama_{dataset}_corr_{alias}.txt", len(questions))
            for alias in names.aliases
        ]
        original_test = np.arange(len(questions)) >= ORIGINAL_TEST_START[dataset]
    if len(questions) != EXPECTED_ROWS[dataset]:
        raise OirlLogError(
            f"{dataset}: rebuilt {len(questions)} question rows, the released logs have "
            f"{EXPECTED_ROWS[dataset]}"
        )
    critics = read_critics(oirl_dir, dataset, len(names.aliases))
    critic_row = np.full(len(questions), -1, dtype=int)
    test_index = np.flatnonzero(original_test)
    if critics is not None:
        if len(critics) != len(test_index):
            raise OirlLogError(
                f"{oirl_dir / 'critics'}: {dataset} critics have {len(critics)} rows, "
                f"the test split has {len(test_index)}"
            )
        critic_row[test_index] = np.arange(len(test_index))
    return OirlTable(
        dataset=dataset,
        questions=questions,
        prompt_aliases=names.aliases,
        prompts=names.texts,
        correct=np.stack(columns, axis=1),
        original_test=original_test,
        critic_row=critic_row,
        critics=critics,
        confidence=read_critics(oirl_dir, dataset, len(names.aliases), signed=False),
    )


def _checked(path: Path, expected: int) -> np.ndarray:
    values = read_correctness(path)
    if len(values) != expected:
        raise OirlLogError(f"{path}: {len(values)} rows, the question texts give {expected}")
    return values
