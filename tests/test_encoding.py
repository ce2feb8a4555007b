"""Inference encodes like training (BOS once) and scores option letters on their in-context
token, on a Llama-style SentencePiece tokenizer trained here and on Gemma-3-270M (slow)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

from fipo_utils.data.template import wrap_prompt
from fipo_utils.models.encoding import (
    encode_like_training,
    option_targets,
    score_options,
)
from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.loading import load_model
from fipo_utils.training.judge import judge_letters

# A chat template that writes the BOS text itself, as Gemma's and Llama's do.
BOS_WRITING_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
MC_PROMPT = "Goal: open a jar.\nA: twist the lid\nB: paint the lid\nAnswer:\n"


@pytest.fixture(scope="module")
def sentencepiece_tokenizer() -> LlamaTokenizer:
    """A Llama-2-style tokenizer (SentencePiece BPE, byte fallback, ``▁`` word prefix, BOS
    added) trained with ``sentencepiece`` on a few kilobytes of text made here."""
    spm = pytest.importorskip("sentencepiece")
    from transformers.tokenization_utils_base import generate_merges

    lines = [
        f"Question {i}: which option is right? A: the first answer B: the second answer "
        f"C: a third one D: the last one.\nAnswer: {'ABCD'[i % 4]}\nThe answer is {'ABCD'[i % 4]}."
        for i in range(60)
    ]
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buffer,
        vocab_size=400,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    processor = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    size = processor.get_piece_size()
    vocab = {processor.id_to_piece(i): i for i in range(size)}
    scores = {processor.id_to_piece(i): processor.get_score(i) for i in range(size)}
    merges = generate_merges(vocab, vocab_scores=scores, skip_tokens={"<unk>", "<s>", "</s>"})
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)
    tokenizer.pad_token = tokenizer.eos_token
    # the transformers tokenizer splits exactly as the trained SentencePiece model does
    for text in lines[:5]:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert tokenizer.convert_ids_to_tokens(ids) == processor.encode(text, out_type=str)
    return tokenizer


@pytest.fixture(scope="module")
def sentencepiece_model(sentencepiece_tokenizer: LlamaTokenizer) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(sentencepiece_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        bos_token_id=sentencepiece_tokenizer.bos_token_id,
        eos_token_id=sentencepiece_tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


def _last_logprobs(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)


def test_a_letter_after_a_newline_is_not_the_bare_letter_token(sentencepiece_tokenizer) -> None:
    tok = sentencepiece_tokenizer
    targets = option_targets(tok, MC_PROMPT, ["A", "B"])
    # the model would write "A" (no word prefix) after the newline ...
    assert [tok.convert_ids_to_tokens(t) for _, t in targets] == ["A", "B"]
    assert all(context == tuple(encode_like_training(tok, MC_PROMPT)) for context, _ in targets)
    # ... while the letter tokenized alone, without the prompt, is "▁A"
    alone = tok("A", add_special_tokens=False).input_ids
    assert tok.convert_ids_to_tokens(alone) == ["▁A"]
    assert alone[0] != targets[0][1]


def test_inference_input_carries_bos_once_in_every_prompt_format(sentencepiece_tokenizer) -> None:
    tok = sentencepiece_tokenizer
    tok.chat_template = BOS_WRITING_TEMPLATE
    for fmt in ("tulu", "raw", "chat_template"):
        text = wrap_prompt("Which option opens a jar?", fmt, tok)
        ids = encode_like_training(tok, text)
        assert ids[0] == tok.bos_token_id, fmt
        assert ids.count(tok.bos_token_id) == 1, fmt
    # a text that already starts with the BOS text gets no second one
    assert encode_like_training(tok, "<s>Hi").count(tok.bos_token_id) == 1


def test_option_scores_are_the_in_context_token_log_probs(
    sentencepiece_tokenizer, sentencepiece_model
) -> None:
    tok, model = sentencepiece_tokenizer, sentencepiece_model
    prompts = [MC_PROMPT, "Question 3: which option is right?\nAnswer:", "Hi\n"]
    scores = score_options(model, tok, prompts, ["A", "B", "C"], batch_size=2)
    # after a newline the letter itself; after the cue "Answer:" the letter with its space,
    # as the examples write "Answer: A"
    pieces = [["A", "B", "C"], ["▁A", "▁B", "▁C"], ["A", "B", "C"]]
    for prompt, row, spelled in zip(prompts, scores, pieces, strict=True):
        ids = tok(prompt).input_ids  # what trl feeds in training: BOS + prompt
        logprobs = _last_logprobs(model, ids)
        letters = tok.convert_tokens_to_ids(spelled)
        assert row == pytest.approx([float(logprobs[t]) for t in letters], abs=1e-5)


def test_the_ipl_judge_decides_on_the_same_scores(
    sentencepiece_tokenizer, sentencepiece_model
) -> None:
    tok, model = sentencepiece_tokenizer, sentencepiece_model
    prompts = [f"Question {i}: which prompt is better?\nAnswer:\n" for i in range(6)]
    scores = score_options(model, tok, prompts, ["A", "B"])
    expected = ["A" if a >= b else "B" for a, b in scores]
    assert judge_letters(model, tok, prompts, batch_size=4) == expected


def test_a_letter_that_merges_with_the_prompt_end_is_scored_where_it_starts(
    tiny_model_dir: Path,
) -> None:
    """Byte-level BPE glues " A" into one token: after "Answer: " the letter's token starts
    before the trailing space, so it is scored in the context without that space."""
    tiny = load_model(str(tiny_model_dir))
    tok = tiny.tokenizer
    prompt = "Question: how many apples are left? Answer: "
    (context, token), _ = option_targets(tok, prompt, ["A", "B"])
    assert list(context) == tok(prompt.rstrip(" "), add_special_tokens=False).input_ids
    assert tok.decode([token]) == " A"
    score = score_options(tiny.model, tok, [prompt], ["A", "B"])[0][0]
    assert score == pytest.approx(float(_last_logprobs(tiny.model, list(context))[token]), abs=1e-5)


def test_options_that_share_their_token_are_refused(sentencepiece_tokenizer) -> None:
    with pytest.raises(ValueError, match="share their first token"):
        option_targets(sentencepiece_tokenizer, MC_PROMPT, ["Apple", "Apricot"])


# --- Gemma-3-270M (a real SentencePiece model; ~30 s to load from the converted cache) ---


@pytest.fixture(scope="module")
def gemma():
    return load_model("gemma3-270m")


def _record_inputs(model) -> tuple[list[torch.Tensor], object]:
    """Every ``input_ids`` the model's forward receives (a pre-hook, nothing replaced)."""
    seen: list[torch.Tensor] = []

    def hook(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            seen.append(ids.detach().cpu())

    return seen, model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.slow
def test_gemma_inference_input_starts_with_bos_once_for_every_format(gemma) -> None:
    tok = gemma.tokenizer
    saved_template = tok.chat_template
    tok.chat_template = BOS_WRITING_TEMPLATE  # Gemma's own template writes <bos> too
    generator = TransformersGenerator(gemma.model, tok, batch_size=4)
    try:
        prompts = [wrap_prompt(MC_PROMPT, fmt, tok) for fmt in ("tulu", "raw", "chat_template")]
        assert not prompts[2].startswith(tok.bos_token)  # left to the tokenizer, as in training
        seen, handle = _record_inputs(gemma.model)
        try:
            generator.generate(prompts, GenerationParams(max_new_tokens=1))
        finally:
            handle.remove()
    finally:
        tok.chat_template = saved_template
    # Option scoring shares each prompt's prefix below the model's forward (the base model
    # runs the prefix once, then the letters): its inputs are the ids checked here, which
    # test_gemma_option_scores_use_the_letter_token_in_context compares with a plain pass.
    rows = [row[row != tok.pad_token_id] for batch in seen for row in batch if len(row) > 2]
    assert len(rows) >= len(prompts)
    for row in rows:
        assert int(row[0]) == tok.bos_token_id
        assert int((row == tok.bos_token_id).sum()) == 1


@pytest.mark.slow
def test_gemma_greedy_continuation_equals_model_generate_on_the_tokenized_text(gemma) -> None:
    text = "The capital of France is"
    generator = TransformersGenerator(gemma.model, gemma.tokenizer, batch_size=2)
    ours = generator.generate([text, MC_PROMPT], GenerationParams(max_new_tokens=8))[0]
    encoded = gemma.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        reference = gemma.model.generate(**encoded, max_new_tokens=8, do_sample=False)
    expected = gemma.tokenizer.decode(
        reference[0, encoded.input_ids.shape[1] :], skip_special_tokens=True
    )
    assert ours == expected


@pytest.mark.slow
def test_gemma_option_scores_use_the_letter_token_in_context(gemma) -> None:
    tok = gemma.tokenizer
    prompts = [MC_PROMPT, "Which is heavier?\nA. a feather\nB. a brick\nAnswer:"]
    scores = TransformersGenerator(gemma.model, tok).option_logprobs(prompts, ["A", "B"])
    # after a newline Gemma writes the bare letter; after "Answer:" the letter with its space
    for prompt, row, pieces in zip(prompts, scores, [["A", "B"], ["▁A", "▁B"]], strict=True):
        ids = tok(prompt).input_ids
        letters = tok.convert_tokens_to_ids(pieces)
        logprobs = _last_logprobs(gemma.model, ids)
        assert row == pytest.approx([float(logprobs[t]) for t in letters], abs=1e-4)


def _plain_continuation(model, bos: int, context_ids, continuation_ids) -> float:
    """The continuation's log-probability in one plain forward pass of BOS + context +
    continuation (the model builds its own causal and sliding-window masks)."""
    ids = torch.tensor([[bos, *context_ids, *continuation_ids]])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    start = 1 + len(context_ids)
    return sum(float(logprobs[start + i - 1, t]) for i, t in enumerate(continuation_ids))


@pytest.mark.slow
def test_gemma_shared_prefix_scores_equal_a_plain_forward(gemma) -> None:
    """Gemma 3's sliding-window layers (512 tokens): every row shares the few-shot prefix,
    a row reaching past the window included (its sliding layers get their own mask), and
    every score (continuations and option letters) equals a plain forward pass within 1e-4,
    BOS in front as in training."""
    from fipo_utils.models.encoding import score_options
    from fipo_utils.models.loglikelihood import ContinuationScorer, encode_pair

    tok, model = gemma.tokenizer, gemma.model
    scorer = ContinuationScorer(model, tok, batch_size=2)
    assert scorer.share_prefix and scorer.window == 512 and scorer._bos == [tok.bos_token_id]
    shots = "".join(f"Q: what is {i} plus {i}?\nA: {2 * i}\n\n" for i in range(8))
    short = [f"{shots}Q: which is heavier, a brick or a {w}?\nA:" for w in ("feather", "leaf")]
    long_context = shots * 8 + "Q: which is heavier, a brick or a feather?\nA:"
    requests = [(c, x) for c in [*short, long_context] for x in (" a brick", " a feather")]
    assert len(tok(long_context).input_ids) > 600  # past the window
    assert len(tok(short[0]).input_ids) < 400
    scores = scorer.score(requests)
    encoded = [encode_pair(tok, ctx, cont) for ctx, cont in requests]
    for pair, score in zip(encoded, scores, strict=True):
        expected = _plain_continuation(model, tok.bos_token_id, *pair)
        assert score == pytest.approx(expected, abs=1e-4)
    assert scorer.requests_unshared == 0
    # one row per request would feed BOS + context + continuation but its last token each;
    # shared, the few-shot prefix and each context run once
    row_costs = [1 + len(c) + len(x) - 1 for c, x in encoded]
    assert scorer.tokens_computed < sum(row_costs) / 2

    prompts = [f"{p}\nA. a brick\nB. a feather\nAnswer:" for p in (*short, long_context)]
    letters = TransformersGenerator(model, tok, batch_size=2).option_logprobs(prompts, ["A", "B"])
    plain = score_options(model, tok, prompts, ["A", "B"], batch_size=1)
    for got, expected in zip(letters, plain, strict=True):
        assert got == pytest.approx(expected, abs=1e-4)
