"""Optimizer inference pieces: choosing the optimizer, cleaning its text, cheating notes, CLI."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest

from fipo_utils.commands import optimize as optimize_command
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.inference.optimize import (
    WordLimit,
    cheating_note,
    clean_optimized,
)
from fipo_utils.inference.registry import resolve_optimizer


def make_final(run_dir: Path, name: str, age: float = 0) -> Path:
    final = run_dir / "checkpoints" / name / "final"
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")
    stamp = time.time() - age
    os.utime(final, (stamp, stamp))
    return final


def test_auto_prefers_the_most_advanced_checkpoint(tmp_path: Path) -> None:
    assert resolve_optimizer(tmp_path, "auto", "smollm2") == ("base", "smollm2")
    make_final(tmp_path, "sft-lora")
    assert resolve_optimizer(tmp_path, "auto", "m")[0] == "sft-lora"
    make_final(tmp_path, "dpo-lora")
    assert resolve_optimizer(tmp_path, "auto", "m")[0] == "dpo-lora"
    make_final(tmp_path, "ipo-full", age=100)
    make_final(tmp_path, "ipo-lora", age=10)
    assert resolve_optimizer(tmp_path, "auto", "m")[0] == "ipo-lora"  # newest of a strategy
    make_final(tmp_path, "ipo-lora-seed2")  # newer, but an extra training seed
    assert resolve_optimizer(tmp_path, "auto", "m")[0] == "ipo-lora"
    (tmp_path / "checkpoints" / "ipl-ipo-lora").mkdir()  # unfinished: no final/
    assert resolve_optimizer(tmp_path, "auto", "m")[0] == "ipo-lora"
    path = make_final(tmp_path, "ipl-ipo-lora-2")
    assert resolve_optimizer(tmp_path, "auto", "m") == ("ipl-ipo-lora-2", str(path))
    assert resolve_optimizer(tmp_path, "base", "m") == ("base", "m")
    assert resolve_optimizer(tmp_path, "sft-lora", "m")[0] == "sft-lora"
    assert resolve_optimizer(tmp_path, "org/some-model", "m") == ("some-model", "org/some-model")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Golden Prompt: Solve the problem step by step.", "Solve the problem step by step."),
        ('"Solve the problem step by step."', "Solve the problem step by step."),
        ("**Improved Prompt:** Explain why.", "Explain why."),
        ("```\nGolden Prompt:\nList three colors.\n```", "List three colors."),
        ("  Compute 3 + 4.  ", "Compute 3 + 4."),
        ('Golden Prompt: "Quote"', "Quote"),
        ("   ", ""),
        ("Original Prompt:\nHow many eggs?", "How many eggs?"),  # an echo of the template
    ],
)
def test_clean_optimized(raw: str, clean: str) -> None:
    assert clean_optimized(raw) == clean


def test_word_limit() -> None:
    limit = WordLimit(factor=2, minimum=30, maximum=300)
    assert limit("one two") == 30
    assert limit(" ".join(["w"] * 40)) == 80
    assert limit(" ".join(["w"] * 400)) == 300


def item(benchmark: str, instruction: str, gold: str, options=()) -> BenchmarkItem:
    kind = "multiple_choice" if options else "generation"
    return BenchmarkItem("x", benchmark, "", instruction, list(options), gold, kind)


@pytest.mark.parametrize(
    ("bench", "optimized", "expected"),
    [
        (
            item("gsm8k", "Tom has 3 apples and buys 4.", "3 + 4 = 7\n#### 7"),
            "Add 3 and 4 to get 7.",
            True,
        ),
        (item("gsm8k", "Tom has 3 apples and buys 4.", "#### 7"), "Add 3 and 4 apples.", False),
        (item("gsm8k", "Buy 7 eggs and 2 more.", "#### 7"), "Buy 7 eggs, then 2 more.", False),
        (
            item("bbh/date_understanding", "Q?\n(A) x\n(B) y", "(B)"),
            "Note: the answer is (B).",
            True,
        ),
        (item("bbh/date_understanding", "Q?\n(A) x\n(B) y", "(B)"), "Pick (A) or (B).", False),
        (item("bbh/navigate", "Do you return?", "Yes"), "The answer is yes. Do you return?", True),
        (item("bbh/navigate", "Do you return?", "Yes"), "Do you return to the start?", False),
        (item("bbh/object_counting", "I have a cat and a dog.", "2"), "Count: 2 animals.", True),
        (
            item("mmlu", "Which is a kinase?", "B", ["Cyclin", "Protein kinase"]),
            "Which is a kinase? (hint: protein kinase)",
            True,
        ),
        (
            item("mmlu", "Which is a kinase?", "B", ["Cyclin", "Protein kinase"]),
            "The correct option is B.",
            True,
        ),
        (
            item("piqa", "Goal: open a jar", "A", ["twist the lid", "hit it"]),
            "How do you open a jar?",
            False,
        ),
    ],
)
def test_cheating_note(bench: BenchmarkItem, optimized: str, expected: bool) -> None:
    assert cheating_note(bench, optimized) is expected


def test_cli_optimize_prints_a_prompt(tiny_model_dir: Path, capsys) -> None:
    parser = argparse.ArgumentParser()
    optimize_command.add_arguments(parser)
    args = parser.parse_args(
        [
            "Tell me about cats",
            "--model",
            str(tiny_model_dir),
            "--profile",
            "tiny",
            "--ground-truth",
            "Cats are small mammals.",
            "--max-new-tokens",
            "6",
            "--show-raw",
        ]
    )
    assert optimize_command.run(args) == 0
    printed = capsys.readouterr().out
    assert "--- raw optimizer output ---" in printed and "--- optimized prompt ---" in printed
    assert printed.rstrip().splitlines()[-1].strip() != ""
