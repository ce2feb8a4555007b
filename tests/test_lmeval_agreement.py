"""The companion scores items exactly as lm-evaluation-harness does (``make test-lmeval``).

Both sides run on the tiny random model over a few PiQA, MMLU and GSM8K items in the
harness's task formats (benchmarks/lmeval_agreement.py): the contexts must be the same
bytes, every option's log-likelihood the same to float tolerance, every item's choice the
same, and GSM8K's greedy answers the same text; with the paper's few-shot examples too
(PiQA through the harness's own ``num_fewshot``, MMLU's per-subject examples rendered by
the task), where prefix sharing must also compute fewer tokens than one row per request
(MMLU's letters, one-token continuations of one context, read one row on both paths).
Needs the harness's own environment (``.venv-lmeval``, ``make lmeval-env``); skipped
elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.lmeval_agreement import LMEVAL_PYTHON, agreement

pytestmark = [
    pytest.mark.lmeval,
    pytest.mark.skipif(not LMEVAL_PYTHON.exists(), reason="no .venv-lmeval: make lmeval-env"),
]


@pytest.mark.parametrize("fewshot", [False, True], ids=["zero-shot", "few-shot"])
def test_tiny_model_agrees_item_for_item(
    tiny_model_dir: Path, shared_data: Path, tmp_path: Path, fewshot: bool
) -> None:
    counts = {"piqa": 6, "mmlu": 6, "gsm8k": 0 if fewshot else 2}
    report = agreement(
        str(tiny_model_dir), counts, tmp_path, max_gen_toks=8, unshared=fewshot, fewshot=fewshot
    )
    for name in ("piqa", "mmlu"):
        entry = report[name]
        assert entry["contexts_identical"] == counts[name]
        assert entry["max_abs_logprob_difference"] < 1e-3
        for metric in ("acc", "acc_norm"):
            m = entry["metrics"][metric]
            assert m["item_agreement"] == 1.0, m["disagreements"]
            assert m["companion_accuracy"] == m["harness_accuracy"]
            assert m["harness_accuracy"] == pytest.approx(m["harness_reported"])
        if fewshot:
            shared, unshared = entry["tokens_shared_vs_unshared"]
            if name == "piqa":  # the examples run once, not once per option of every item
                assert 2 * shared < unshared
            else:  # letters read one row per item either way; a subject's examples run once
                assert shared < unshared
    if fewshot:
        return
    gsm8k = report["gsm8k"]
    assert gsm8k["contexts_identical"] == gsm8k["texts_identical"] == counts["gsm8k"]
    assert all(f["item_agreement"] == 1.0 for f in gsm8k["filters"].values())
