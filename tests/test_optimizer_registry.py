"""The optimizer registry: names resolve to registered factories, every other name to the
FIPO family, kinds list in registration order, and a step that asks for a resource it was
not given gets an error naming it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import fipo_utils.baselines.optimizers  # noqa: F401 - registers the baselines' optimizers
from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.inference import registry
from fipo_utils.inference.optimizers import NEUTRAL_PREFACE, FipoOptimizer, IdentityOptimizer
from fipo_utils.inference.registry import (
    OptimizerContext,
    OptimizerKind,
    Rewrite,
    get_optimizer,
    register_optimizer,
    registered_optimizers,
)
from fipo_utils.models.generate import GenerationParams


def context(run_dir: Path, **resources) -> OptimizerContext:
    def no_model(name: str):
        raise AssertionError(f"no model should be opened here ({name})")

    return OptimizerContext(
        run_dir=run_dir,
        base_model="tiny-random",
        prompt_format="raw",
        params=GenerationParams(8),
        open_generator=no_model,
        resources=dict(resources),
    )


ITEMS = [
    BenchmarkItem(id=f"i{k}", benchmark="gsm8k", few_shot_context="", instruction=f"q{k}")
    for k in range(3)
]


def test_identity_returns_every_naive_instruction_and_opens_no_model(tmp_path: Path) -> None:
    optimizer = get_optimizer("identity", context(tmp_path))
    assert isinstance(optimizer, IdentityOptimizer) and optimizer.kind is OptimizerKind.IDENTITY
    assert [r.prompt for r in optimizer.rewrite(ITEMS)] == ["q0", "q1", "q2"]
    assert optimizer.generator is None


def test_neutral_preface_changes_the_bytes_not_the_instruction(tmp_path: Path) -> None:
    optimizer = get_optimizer("neutral-preface", context(tmp_path))
    assert optimizer.kind is OptimizerKind.CONTROL and optimizer.generator is None
    prompts = [r.prompt for r in optimizer.rewrite(ITEMS)]
    assert prompts == [f"{NEUTRAL_PREFACE} q{k}" for k in range(3)]
    assert all(p != item.instruction for p, item in zip(prompts, ITEMS, strict=True))
    assert registered_optimizers(OptimizerKind.CONTROL) == ["neutral-preface"]


def test_unregistered_names_are_fipo_optimizers(tmp_path: Path) -> None:
    final = tmp_path / "checkpoints" / "dpo-lora" / "final"
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")
    base = get_optimizer("auto", context(tmp_path / "empty"))
    assert isinstance(base, FipoOptimizer) and (base.name, base.trained) == ("base", False)
    trained = get_optimizer("auto", context(tmp_path))
    assert (trained.name, trained.source, trained.trained) == ("dpo-lora", str(final), True)
    assert trained.kind is OptimizerKind.TRAINED and trained.generator is None  # opened lazily


def test_kinds_list_the_registered_optimizers_in_order() -> None:
    assert registered_optimizers(OptimizerKind.IDENTITY) == ["identity"]
    assert registered_optimizers(OptimizerKind.REWRITER) == ["bpo-style"]
    assert registered_optimizers(OptimizerKind.SEARCH) == ["ape", "opro"]
    assert registered_optimizers(OptimizerKind.SELECTOR) == ["fipo-x-oirl", "oirl-best-of-n"]


def test_a_new_optimizer_is_one_registration(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @dataclass
    class Shouting:
        name: str
        kind: OptimizerKind = OptimizerKind.REWRITER
        source: str = "upper case"
        trained: bool = False
        generator: None = None

        def rewrite(self, items):
            return [Rewrite(prompt=item.instruction.upper()) for item in items]

        def close(self):
            return None

    register_optimizer("shout", kind=OptimizerKind.REWRITER, summary="upper case")(
        lambda name, ctx: Shouting(name)
    )
    assert [r.prompt for r in get_optimizer("shout", context(tmp_path)).rewrite(ITEMS)] == [
        "Q0",
        "Q1",
        "Q2",
    ]
    assert registered_optimizers(OptimizerKind.REWRITER) == ["bpo-style", "shout"]
    assert registry.expand_optimizer_spec(tmp_path, "all")[-2:] == ["bpo-style", "shout"]
    with pytest.raises(ValueError, match="registered twice"):
        register_optimizer("shout", kind=OptimizerKind.REWRITER, summary="again")(
            lambda name, ctx: Shouting(name)
        )


def test_a_selector_without_its_resource_names_what_is_missing(tmp_path: Path) -> None:
    optimizer = get_optimizer("oirl-best-of-n", context(tmp_path, reward=object()))
    with pytest.raises(KeyError, match="no 'oirl_prompts'.*it has: \\['reward'\\]"):
        optimizer.rewrite(ITEMS)
