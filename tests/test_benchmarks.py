"""Benchmark loaders on the reference files (skipped where absent) and on small local copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fipo_utils.data.answers import gsm8k_gold_number
from fipo_utils.data.benchmarks import (
    BBH_TASKS,
    BenchmarkMissing,
    expand_names,
    load_benchmark,
    load_benchmarks,
    render_prompt,
)
from fipo_utils.evaluation.scoring import is_correct

pytestmark = pytest.mark.shared


def test_gsm8k_from_shared_files(shared_data: Path) -> None:
    bench = load_benchmark("gsm8k", 4, data_dir=shared_data / "benchmarks")
    assert bench.full_size == 1319 and len(bench.items) == 4
    item = bench.items[0]
    assert item.kind == "generation" and item.options == []
    assert item.gold.rstrip().split("####")[-1].strip() == "18"
    # three worked train examples, calculator annotations removed, strict answer template
    assert item.few_shot_context.count("Q: ") == 3
    assert item.few_shot_context.count("The answer is ") == 3
    assert "<<" not in item.few_shot_context
    prompt = render_prompt(item)
    assert prompt.startswith(item.few_shot_context) and prompt.endswith(
        f"Q: {item.instruction}\nA:"
    )
    # the gold of every loaded item is readable by the scorer
    assert all(gsm8k_gold_number(i.gold) is not None for i in bench.items)


def test_bbh_all_tasks_with_three_cot_shots(shared_data: Path) -> None:
    loaded, missing = load_benchmarks(["bbh"], 2, data_dir=shared_data / "benchmarks")
    assert missing == {} and len(loaded) == 27 == len(BBH_TASKS)
    for name, bench in loaded.items():
        item = bench.items[0]
        assert item.benchmark == name and item.id.startswith(name)
        assert item.few_shot_context.count("A: Let's think step by step.") == 3, name
        assert "canary" not in item.few_shot_context
        assert render_prompt(item).endswith("A: Let's think step by step.")
    # each target, phrased like the CoT examples, is scored correct
    for bench in loaded.values():
        for item in bench.items:
            assert is_correct(item.benchmark, f"So the answer is {item.gold}.", item.gold)


@pytest.mark.parametrize(
    ("name", "shots", "n_options", "full_size"),
    [("piqa", 3, 2, 1838 - 3), ("cosmosqa", 5, 4, 2985 - 5), ("mmlu", 5, 4, 14042)],
)
def test_multiple_choice_loaders(
    shared_data: Path, name: str, shots: int, n_options: int, full_size: int
) -> None:
    bench = load_benchmark(name, 5, seed=2024, data_dir=shared_data / "benchmarks")
    assert bench.full_size == full_size and len(bench.items) == 5
    for item in bench.items:
        assert item.kind == "multiple_choice" and len(item.options) == n_options
        assert item.gold in "ABCD"[:n_options]
        assert item.few_shot_context.count("\nAnswer: ") == shots
        prompt = render_prompt(item, "REWRITTEN")
        assert "REWRITTEN\nA. " in prompt and prompt.endswith("\nAnswer:")
        assert item.instruction not in item.few_shot_context  # shots are not test items


def test_selection_is_deterministic(shared_data: Path) -> None:
    root = shared_data / "benchmarks"
    first = load_benchmark("gsm8k", 3, data_dir=root)
    assert [i.id for i in first.items] == ["gsm8k-0", "gsm8k-1", "gsm8k-2"]
    a = load_benchmark("mmlu", 6, seed=7, data_dir=root)
    b = load_benchmark("mmlu", 6, seed=7, data_dir=root)
    c = load_benchmark("mmlu", 6, seed=8, data_dir=root)
    assert [i.id for i in a.items] == [i.id for i in b.items] != [i.id for i in c.items]
    subjects = {i.id.split("/")[1].rsplit("-", 1)[0] for i in a.items}
    assert len(subjects) > 1  # a seeded sample spans subjects, each with its own 5 shots
    for item in a.items:
        subject = item.id.split("/")[1].rsplit("-", 1)[0].replace("_", " ")
        assert item.few_shot_context.startswith(
            f"The following are multiple choice questions (with answers) about {subject}."
        )


def test_missing_benchmark_is_reported_not_faked(tmp_path: Path) -> None:
    loaded, missing = load_benchmarks(["gsm8k", "piqa"], 2, data_dir=tmp_path, allow_hub=False)
    assert loaded == {}
    assert set(missing) == {"gsm8k", "piqa"} and "local copy absent" in missing["gsm8k"]
    with pytest.raises(BenchmarkMissing, match="hub loading disabled"):
        load_benchmark("cosmosqa", data_dir=tmp_path, allow_hub=False)


def test_bad_local_file_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    good = json.dumps({"question": "q", "answer": "a\n#### 1"})
    (folder / "train.jsonl").write_text(good + "\n")
    (folder / "test.jsonl").write_text(good + "\n{not json\n")
    with pytest.raises(ValueError, match=r"test\.jsonl, line 2"):
        load_benchmark("gsm8k", data_dir=tmp_path, allow_hub=False)
    (folder / "test.jsonl").write_text(good + "\n" + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(ValueError, match=r"test\.jsonl, line 2: field 'answer' is missing"):
        load_benchmark("gsm8k", data_dir=tmp_path, allow_hub=False)


def test_names() -> None:
    assert expand_names(["gsm8k", "bbh/navigate"]) == ["gsm8k", "bbh/navigate"]
    assert len(expand_names(["bbh"])) == 27
    with pytest.raises(ValueError, match="unknown BBH task"):
        expand_names(["bbh/chess"])
    with pytest.raises(ValueError, match="unknown benchmark"):
        expand_names(["squad"])
