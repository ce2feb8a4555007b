"""Continuation scoring (fipo_utils.models.loglikelihood) and its place in evaluation.

The shared-prefix path must give the scores of one plain forward per pair, and the
evaluation records must carry every scoring's verdict with the documented primary.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fipo_utils.evaluation.evaluate import (
    _answer,
    _job,
    _write_predictions,
    mc_scorings,
    primary_scoring,
)
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.loglikelihood import (
    ContinuationScorer,
    best_options,
    encode_pair,
    fit_window,
    model_max_length,
)

SHOTS = (
    "Answer each question.\n\nQ: what is two plus two?\nA: four\n\n"
    "Q: what colour is snow?\nA: white\n\n"
)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path):
    from fipo_utils.models.pool import get_model

    return get_model(str(tiny_model_dir))


def _requests() -> list[tuple[str, str]]:
    """Items sharing a few-shot context, options of one to many tokens, a context ending in
    a space, and a context shared with nothing."""
    requests = []
    for question in ("where is paris?", "what is a cat?", "who wrote hamlet, and when? "):
        for option in (" france", " an animal that purrs at night", " shakespeare", "x"):
            requests.append((f"{SHOTS}Q: {question}\nA:", option))
    requests.append(("An unrelated context", " yes"))
    requests.append(("An unrelated context", " no, not at all"))
    requests.append(("Another lone one:", " maybe"))
    return requests


def _plain(model, tokenizer, context: str, continuation: str) -> float:
    """One full forward of context + continuation through the causal LM's own head."""
    context_ids, continuation_ids = encode_pair(tokenizer, context, continuation)
    with torch.inference_mode():
        logits = model(torch.tensor([context_ids + continuation_ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(context_ids) - 1
    return sum(float(logprobs[start + k, t]) for k, t in enumerate(continuation_ids))


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_shared_prefix_scores_match_plain_forwards(tiny, batch_size: int) -> None:
    requests = _requests()
    expected = [_plain(tiny.model, tiny.tokenizer, c, x) for c, x in requests]
    shared = ContinuationScorer(tiny.model, tiny.tokenizer, batch_size, share_prefix=True)
    unshared = ContinuationScorer(tiny.model, tiny.tokenizer, batch_size, share_prefix=False)
    got_shared, got_unshared = shared.score(requests), unshared.score(requests)
    assert got_shared == pytest.approx(expected, abs=1e-3)
    assert got_unshared == pytest.approx(expected, abs=1e-3)
    # sharing computes the few-shot context and each item prompt once, not once per option
    assert shared.tokens_computed < unshared.tokens_computed / 2


def test_prefix_cache_is_reused_across_calls(tiny) -> None:
    scorer = ContinuationScorer(tiny.model, tiny.tokenizer, 4)
    first = scorer.score(_requests()[:8])
    after_first = scorer.tokens_computed
    again = scorer.score(_requests()[:8])
    assert again == pytest.approx(first, abs=1e-5)
    assert scorer.tokens_computed - after_first < after_first  # the prefix was not rerun


def test_requests_that_feed_the_same_tokens_read_one_unshared_row(tiny) -> None:
    """An item's option letters are one-token continuations of one context: scored alone
    (no prefix sharing, or past a sliding window) they cost one row, not one per letter,
    and each still equals its plain forward; a longer option feeds its own row."""
    context = f"{SHOTS}Q: where is paris?\nA:"
    one_token = [
        f" {letter}"
        for letter in "ABCDEFGH"
        if len(encode_pair(tiny.tokenizer, context, f" {letter}")[1]) == 1
    ][:2]
    assert len(one_token) == 2  # the tiny tokenizer has single-token letters
    requests = [(context, letter) for letter in one_token] + [(context, " in france")]
    context_ids, longer = encode_pair(tiny.tokenizer, context, " in france")
    assert len(longer) > 1
    scorer = ContinuationScorer(tiny.model, tiny.tokenizer, 8, share_prefix=False)
    got = scorer.score(requests)
    expected = [_plain(tiny.model, tiny.tokenizer, *r) for r in requests]
    assert got == pytest.approx(expected, abs=1e-3)
    assert scorer.requests_unshared == 3
    assert scorer.tokens_computed == len(context_ids) + len(context_ids) + len(longer) - 1


@pytest.fixture(scope="module")
def windowed(tiny):
    """A random Gemma 3 with a 12-token sliding window between full-attention layers, on
    the tiny tokenizer: contexts of 40-70 tokens reach well past its window."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tiny.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=4,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=12,
        layer_types=["sliding_attention", "full_attention"] * 2,
        max_position_embeddings=512,
        pad_token_id=tiny.tokenizer.pad_token_id,
    )
    return Gemma3ForCausalLM(config).eval()


@pytest.mark.parametrize("batch_size", [1, 4])
def test_rows_past_a_sliding_window_share_their_prefix_and_score_as_a_plain_forward(
    tiny, windowed, batch_size: int
) -> None:
    """Full and sliding layers get a mask each: a few-shot prefix and item prompts far
    longer than the window are shared (no request scored alone), and every score equals
    the model's own forward, which builds its own sliding masks."""
    requests = _requests()
    assert min(len(encode_pair(tiny.tokenizer, c, x)[0]) for c, x in requests[:12]) > 36
    scorer = ContinuationScorer(windowed, tiny.tokenizer, batch_size)
    assert scorer.window == 12 and scorer.mask_types == ("full_attention", "sliding_attention")
    got = scorer.score(requests)
    expected = [_plain(windowed, tiny.tokenizer, c, x) for c, x in requests]
    assert got == pytest.approx(expected, abs=1e-4)
    assert scorer.requests_unshared == 0
    # the same again, through the cached prefix, and what full masks alone would give
    assert scorer.score(requests) == pytest.approx(got, abs=1e-5)
    full_only = ContinuationScorer(windowed, tiny.tokenizer, batch_size)
    full_only.window = None  # the mask every layer got before sliding layers had their own
    assert full_only.score(requests) != pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("share_prefix", [True, False], ids=["shared", "unshared"])
def test_pairs_longer_than_the_window_are_cut_from_the_left(tiny, share_prefix: bool) -> None:
    """As lm-evaluation-harness: the model reads the last ``max_length`` tokens before each
    scored token; a long few-shot prompt is not scored at positions beyond the window."""
    assert model_max_length(tiny.model, tiny.tokenizer) == 2048  # the tiny config's own
    requests = _requests()
    scorer = ContinuationScorer(tiny.model, tiny.tokenizer, 4, share_prefix=share_prefix)
    scorer.max_length = 40  # shorter than the few-shot items, longer than the lone ones
    expected = []
    for context, continuation in requests:
        context_ids, continuation_ids = encode_pair(tiny.tokenizer, context, continuation)
        kept = (context_ids + continuation_ids)[-41:]
        with torch.inference_mode():
            logits = tiny.model(torch.tensor([kept[:-1]])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        start = len(kept) - len(continuation_ids) - 1
        expected.append(sum(float(logprobs[start + k, t]) for k, t in enumerate(continuation_ids)))
    untruncated = [_plain(tiny.model, tiny.tokenizer, c, x) for c, x in requests]
    assert expected != pytest.approx(untruncated, abs=1e-3)  # the window did cut something
    assert scorer.score(requests) == pytest.approx(expected, abs=1e-3)


def test_fit_window_keeps_the_continuation_whole() -> None:
    assert fit_window([1, 2, 3], [4, 5], 10) == ([1, 2, 3], [4, 5])
    assert fit_window([1, 2, 3, 4, 5], [6, 7], 4) == ([3, 4, 5], [6, 7])
    with pytest.raises(ValueError, match="does not fit"):
        fit_window([1], [2, 3, 4], 2)


def test_encode_pair_moves_trailing_space_to_the_continuation(tiny) -> None:
    tokenizer = tiny.tokenizer
    context_ids, continuation_ids = encode_pair(tokenizer, "Answer: ", "yes")
    assert context_ids == tokenizer("Answer:", add_special_tokens=False).input_ids
    whole = tokenizer("Answer: yes", add_special_tokens=False).input_ids
    assert context_ids + continuation_ids == whole
    with pytest.raises(ValueError, match="non-empty context"):
        encode_pair(tokenizer, "   ", "yes")


def test_best_options_raw_and_per_character() -> None:
    # the long option has the higher sum per character but the lower sum
    assert best_options([-4.0, -6.0], ["ab", "abcdefghij"]) == (0, 1)
    assert best_options([-1.0, -1.0], ["a", "b"]) == (0, 0)  # ties: the first, like argmax
    with pytest.raises(ValueError):
        best_options([-1.0], ["a", "b"])


def test_mc_scorings_names_and_primary() -> None:
    assert mc_scorings(None) == ("letter",)
    assert mc_scorings("letter") == ("letter",)
    assert mc_scorings(["continuation", "letter"]) == ("letter", "continuation")
    assert mc_scorings("continuation") == ("continuation",)
    with pytest.raises(ValueError, match="mc_scoring"):
        mc_scorings(["letters"])


@pytest.mark.parametrize(
    ("mc", "primary"),
    [(["letter", "continuation"], "letter"), ("continuation", "continuation")],
)
def test_evaluation_records_carry_every_scoring(
    tiny_model_dir: Path, shared_data: Path, tmp_path: Path, mc, primary: str
) -> None:
    from fipo_utils.data.benchmarks import LETTERS, load_benchmark
    from fipo_utils.models.generators import make_generator

    bench = load_benchmark("piqa", 3, seed=1, data_dir=shared_data / "benchmarks")
    index = {"piqa": {item.id: item for item in bench.items}}
    records = [
        {
            "id": item.id,
            "benchmark": "piqa",
            "optimizer": "opt",
            "naive_instruction": item.instruction,
            "optimized_instruction": item.instruction + " Think first.",
        }
        for item in bench.items
    ]
    jobs = [
        _job(index, {"piqa": bench}, record, condition, "tiny")
        for record in records
        for condition in ("naive", "optimized")
    ]
    generator = make_generator(str(tiny_model_dir), use_cache=False)
    scorings = mc_scorings(mc)
    _answer(generator, jobs, "raw", GenerationParams(max_new_tokens=4), scorings)
    rows = _write_predictions(tmp_path, jobs, scorings)
    path = tmp_path / "eval" / "predictions" / "opt" / "tiny" / "piqa.jsonl"
    predictions = [json.loads(line) for line in path.read_text().splitlines()]
    reference = ContinuationScorer(generator.model, generator.tokenizer, share_prefix=False)
    for record, job in zip(predictions, jobs, strict=True):
        assert record["scoring"] == primary == primary_scoring(job["item"], mc)
        assert set(record["correct_by"]) >= {"continuation", "continuation_norm"}
        assert ("letter" in record["correct_by"]) == (primary == "letter")
        assert record["correct"] == record["correct_by"][primary]
        options = job["item"].options
        expected = reference.score([(job["prompt"], " " + option) for option in options])
        assert record["continuation_logprobs"] == pytest.approx(expected, abs=1e-3)
        raw, normed = best_options(expected, options)
        assert record["correct_by"]["continuation"] == (LETTERS[raw] == job["item"].gold)
        assert record["correct_by"]["continuation_norm"] == (LETTERS[normed] == job["item"].gold)
        if primary == "continuation":
            assert record["prediction"] == LETTERS[raw]
    by_scoring = {(r["condition"], r["scoring"]): r for r in rows}
    assert {s for _, s in by_scoring} == {primary, "continuation", "continuation_norm"} | (
        {"letter"} if primary == "letter" else set()
    )
    assert all(r["primary"] == (r["scoring"] == primary) for r in rows)
    assert all(r["n_items"] == 3 for r in rows)


def _letter_prompts() -> list[str]:
    """Items of two benchmarks' few-shot contexts, each in two conditions, plus a lone one."""
    prompts = []
    for question in ("where is paris?", "what is a cat?"):
        for instruction in ("Answer the question.", "Pick the best option, thinking first."):
            prompts.append(f"{SHOTS}{instruction}\n{question}\nA. yes\nB. no\nC. maybe\nAnswer:")
    prompts.append("A lone prompt with nothing in common:\nA. up\nB. down\nC. left\nAnswer:")
    return prompts


@pytest.mark.parametrize("batch_size", [1, 3])
def test_letter_scores_on_the_shared_path_equal_a_plain_forward(tiny, batch_size: int) -> None:
    """Option letters go through the shared-prefix scorer; the plain path
    (``encoding.score_options``, one forward per prompt) gives the same scores, and the
    few-shot context the prompts share is computed once rather than once per prompt."""
    from fipo_utils.models.encoding import score_options
    from fipo_utils.models.generate import TransformersGenerator

    prompts, letters = _letter_prompts(), ["A", "B", "C"]
    generator = TransformersGenerator(tiny.model, tiny.tokenizer, batch_size=batch_size)
    shared = generator.option_logprobs(prompts, letters)
    plain = score_options(tiny.model, tiny.tokenizer, prompts, letters, batch_size=1)
    for got, expected in zip(shared, plain, strict=True):
        assert got == pytest.approx(expected, abs=1e-4)
    assert len({tuple(round(v, 4) for v in row) for row in shared}) == len(prompts)
    scorer = generator._scorer()
    prompt_tokens = sum(len(tiny.tokenizer(p).input_ids) for p in prompts)
    assert scorer.requests_unshared == 0
    assert scorer.tokens_computed < prompt_tokens * 0.75
