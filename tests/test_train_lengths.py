"""Length caps from the rows' token lengths, and packing that keeps rows apart."""

from __future__ import annotations

import pytest
import torch

from fipo_utils.data.template import wrap_tulu
from fipo_utils.models.loading import build_tiny_tokenizer, load_model
from fipo_utils.training.lengths import cap_table, suggest_caps, token_lengths


def _rows() -> list[dict]:
    return [
        {"id": f"r{n}", "prompt": wrap_tulu(" ".join(["apple"] * n)), "completion": "one two"}
        for n in (4, 8, 16, 32)
    ]


def test_token_lengths_count_what_the_trainer_sees_and_caps_count_what_they_cut():
    tokenizer = build_tiny_tokenizer()
    rows = _rows()
    lengths = token_lengths(rows, tokenizer, "tulu")
    expected = [len(tokenizer(r["prompt"], add_special_tokens=False).input_ids) for r in rows]
    assert lengths["prompt"].tolist() == expected
    completion = len(tokenizer("one two", add_special_tokens=False).input_ids) + 1  # + EOS
    assert (lengths["response"] == completion).all()
    assert (lengths["total"] == lengths["prompt"] + completion).all()
    caps = [(expected[1], expected[1] + completion), (expected[3], 10_000)]
    table = cap_table(lengths, caps, current=caps[0])
    assert table["prompts_cut"].tolist() == [2, 0]
    assert table["responses_cut"].tolist() == [0, 0]
    assert table["share_cut"].tolist() == [0.5, 0.0]
    assert table["profile"].tolist() == [True, False]
    assert table.loc[1, "tokens_vs_uncapped"] == 1.0 > table.loc[0, "tokens_vs_uncapped"]
    prompt_cap, total_cap = suggest_caps(lengths, quantile=1.0, multiple=8)
    assert prompt_cap >= max(expected) and prompt_cap % 8 == 0 and total_cap > prompt_cap


@pytest.mark.slow
def test_packed_rows_do_not_attend_to_each_other(tiny_model_dir):
    """bfd packing (sft.packing) puts whole rows in one block with restarting position ids;
    in training (no cache) each row's logits equal those of the row alone."""
    model = load_model(str(tiny_model_dir)).model.eval()
    first, second = torch.tensor([[5, 6, 7, 8]]), torch.tensor([[9, 10, 11]])
    packed = model(
        input_ids=torch.cat([first, second], 1),
        position_ids=torch.tensor([[0, 1, 2, 3, 0, 1, 2]]),
        use_cache=False,
    ).logits
    alone = [model(input_ids=x, use_cache=False).logits for x in (first, second)]
    torch.testing.assert_close(packed[:, :4], alone[0])
    torch.testing.assert_close(packed[:, 4:], alone[1])
