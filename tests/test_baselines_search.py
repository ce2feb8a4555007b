"""APE and OPRO: the search sees demonstrations and dev items only, keeps the best candidate
by dev accuracy, and its calls are counted."""

from __future__ import annotations

import pytest

from fipo_utils.analysis.search_table import break_even_queries
from fipo_utils.baselines.search.ape import run_ape
from fipo_utils.baselines.search.candidates import (
    DevScorer,
    SearchBudget,
    SearchInputs,
    clean_instruction,
)
from fipo_utils.baselines.search.cost import Cost, CountingGenerator
from fipo_utils.baselines.search.opro import render_meta_prompt, run_opro
from fipo_utils.baselines.search.split import split_for_search, with_instruction
from fipo_utils.data.benchmarks import BenchmarkItem, load_benchmark
from fipo_utils.models.generate import GenerationParams


def _items(n: int) -> list[BenchmarkItem]:
    return [
        BenchmarkItem(
            f"bbh/object_counting-{i}", "bbh/object_counting", "", f"question {i}?", [], str(i)
        )
        for i in range(n)
    ]


class WordTokenizer:
    """Counts whitespace-separated words as tokens (enough for the cost arithmetic)."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [text.split() for text in texts]}


class ScriptedProposer:
    """Replies with the next scripted instruction; records every request it saw."""

    backend = "scripted"
    tokenizer = WordTokenizer()

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.seen: list[str] = []

    def generate(self, prompts, params):
        self.seen.extend(prompts)
        return [self.replies.pop(0) for _ in prompts]


class KeywordTester:
    """Answers an item right (its gold, which is the item's number) only when the prompt
    holds ``keyword`` and the item's number is below ``reach``: instructions differ in
    dev accuracy in a way the test controls."""

    backend = "scripted"
    tokenizer = WordTokenizer()

    def __init__(self, scores: dict[str, int]) -> None:
        self.scores = scores  # keyword -> how many of the dev items it gets right
        self.seen: list[str] = []

    def generate(self, prompts, params):
        self.seen.extend(prompts)
        answers = []
        for prompt in prompts:
            number = int(prompt.rsplit("question ", 1)[1].split("?")[0])
            reach = max([n for k, n in self.scores.items() if k in prompt] or [0])
            answers.append(f"So the answer is {number}." if self._rank(number) < reach else "no")
        return answers

    def _rank(self, number: int) -> int:
        return self.order.index(number)


PARAMS = GenerationParams(8, 0.0, 1.0, 1)


def _split_and_tester(scores):
    split = split_for_search(_items(20), n_demos=2, dev_size=4, n_test=5, seed=3)
    tester = KeywordTester(scores)
    tester.order = [int(i.gold) for i in split.dev]
    return split, tester


def test_split_is_disjoint_seeded_and_leaves_test_items():
    items = _items(30)
    split = split_for_search(items, n_demos=3, dev_size=5, n_test=10, seed=7)
    again = split_for_search(items, n_demos=3, dev_size=5, n_test=10, seed=7)
    assert split == again
    test_ids = {i.id for i in split.test}
    assert len(split.demos) == 3 and len(split.dev) == 5 and len(test_ids) == 10
    assert not test_ids & split.search_ids()
    assert len(split.search_ids()) == 8
    other = split_for_search(items, n_demos=3, dev_size=5, n_test=10, seed=8)
    assert other.search_ids() != split.search_ids()
    with pytest.raises(ValueError, match="still leave test items"):
        split_for_search(items[:8], n_demos=3, dev_size=5, n_test=None, seed=7)


def test_ape_keeps_the_candidate_with_the_best_dev_accuracy():
    split, tester = _split_and_tester({"count": 1, "careful": 3})
    proposer = ScriptedProposer(["Instruction: count the things", '"Be careful."', "   "])
    budget = SearchBudget(n_candidates=3, dev_size=4, n_demos=2)
    result = run_ape(
        SearchInputs(proposer, DevScorer(tester, split, "raw", PARAMS), split, budget, "raw", 1)
    )
    assert result.best_instruction == "Be careful."
    assert result.best_dev_accuracy == pytest.approx(3 / 4)
    assert [c["instruction"] for c in result.candidates] == ["count the things", "Be careful."]
    # Every demonstration reached the proposer; no dev or test question did.
    requests = "\n".join(proposer.seen)
    assert all(item.instruction in requests for item in split.demos)
    assert not any(item.instruction in requests for item in split.test + split.dev)


def test_opro_shows_the_trajectory_worst_first_and_improves_on_the_empty_start():
    split, tester = _split_and_tester({"count": 1, "careful": 2, "slowly": 4})
    proposer = ScriptedProposer(["count them", "be careful", "go slowly", "count them"])
    budget = SearchBudget(n_steps=2, per_step=2, keep_top=2, dev_size=4, n_demos=2)
    result = run_opro(
        SearchInputs(proposer, DevScorer(tester, split, "raw", PARAMS), split, budget, "raw", 1)
    )
    assert result.best_instruction == "go slowly" and result.best_dev_accuracy == 1.0
    assert [c["instruction"] for c in result.candidates] == [
        "",
        "count them",
        "be careful",
        "go slowly",
    ]
    second = proposer.seen[2]  # step 2 shows the two best of step 1, worst first
    assert second.index("count them") < second.index("be careful")
    assert "(no instruction)" not in second  # the empty start fell out of the top 2
    meta = render_meta_prompt(result.candidates, "demos", keep_top=3)
    assert meta.index("be careful") < meta.index("go slowly")


def test_dev_scores_are_memoised_and_use_dev_items_only():
    split, tester = _split_and_tester({"x": 4})
    scorer = DevScorer(tester, split, "raw", PARAMS)
    assert scorer("x marks it") == 1.0 and scorer("x marks it") == 1.0
    assert len(tester.seen) == len(split.dev)
    asked = {p.rsplit("question ", 1)[1].split("?")[0] for p in tester.seen}
    assert asked == {i.gold for i in split.dev}


def test_clean_instruction_takes_the_first_line_without_labels():
    assert clean_instruction('Instruction: "Count each object."\nMore text') == "Count each object."
    assert clean_instruction("\n\n  ") == ""
    long = "Do this. " * 100
    assert len(clean_instruction(long)) <= 400 and clean_instruction(long).endswith(".")


def test_counting_generator_counts_calls_tokens_and_starts_over_on_take():
    counted = CountingGenerator(ScriptedProposer(["a b c", "d"]))
    counted.generate(["one two", "three"], PARAMS)
    spent = counted.take()
    assert (spent.calls, spent.prompt_tokens, spent.generated_tokens) == (2, 3, 4)
    assert counted.take() == Cost()


def test_break_even_of_a_trained_method_against_a_search():
    # training 100 s, 1 s per query vs search 10 s once, 2 s per query: 90 queries
    assert break_even_queries(100, 1, 10, 2) == pytest.approx(90)
    assert break_even_queries(100, 3, 10, 2) == float("inf")  # never cheaper
    assert break_even_queries(5, 1, 10, 2) == 0.0


@pytest.mark.shared
def test_no_test_item_reaches_the_search_with_a_real_model(shared_data, tiny_model_dir):
    from fipo_utils.models.generators import make_generator

    items = load_benchmark("bbh/object_counting").items
    split = split_for_search(items, n_demos=2, dev_size=2, n_test=None, seed=2024)
    generator = CountingGenerator(make_generator(str(tiny_model_dir), show_progress=False))
    seen: list[str] = []
    inner_generate = generator.generate

    def recording(prompts, params):
        seen.extend(prompts)
        return inner_generate(prompts, params)

    generator.generate = recording
    budget = SearchBudget(
        n_demos=2, dev_size=2, n_candidates=2, n_steps=1, per_step=1, propose_max_new_tokens=4
    )
    scorer = DevScorer(generator, split, "raw", GenerationParams(4, 0.0, 1.0, 1))
    inputs = SearchInputs(generator, scorer, split, budget, "raw", 1)
    run_ape(inputs)
    run_opro(inputs)
    text = "\n".join(seen)
    assert all(item.instruction in text for item in split.dev)
    leaked = [item.id for item in split.test if item.instruction in text]
    assert not leaked, f"test items reached the search: {leaked}"
    assert generator.cost.calls == len(seen) and generator.cost.prompt_tokens > 0
    assert with_instruction(split.test[0], "") == split.test[0].instruction


@pytest.mark.parametrize("name", ["smoke", "paper"])
def test_baseline_testers_decode_as_notebook_06(name):
    from fipo_utils.baselines.step import tester_params
    from fipo_utils.runs.profiles import load_profile

    profile = load_profile(name)
    params = tester_params(profile, profile["baselines"])
    evaluate = profile["evaluate"]
    assert params.temperature == float(evaluate.get("temperature") or 0.0)
    assert params.top_p == float(evaluate.get("top_p") or 1.0)
    assert params.max_new_tokens == int(profile["baselines"]["tester_max_new_tokens"])
    if name == "paper":  # the paper samples its testers; the baselines must too
        assert not params.greedy


def test_table8_rewrites_with_every_trained_optimizer_or_the_one_named(tmp_path):
    from fipo_utils.baselines.table8 import fipo_methods

    assert fipo_methods(tmp_path, "all", "smollm2-135m-instruct") == ["base"]
    for name in ("ipl-ipo-lora", "sft-lora", "bpo-sft"):
        final = tmp_path / "checkpoints" / name / "final"
        final.mkdir(parents=True)
        (final / "config.json").write_text("{}")
    # BPO's rewriter is another method, never a FIPO row
    assert fipo_methods(tmp_path, "all", "smollm2-135m-instruct") == ["ipl-ipo-lora", "sft-lora"]
    assert fipo_methods(tmp_path, "auto", "smollm2-135m-instruct") == ["ipl-ipo-lora"]
    assert fipo_methods(tmp_path, "sft-lora", "smollm2-135m-instruct") == ["sft-lora"]
    assert fipo_methods(tmp_path, "base", "smollm2-135m-instruct") == ["base"]
