"""Every optimizer on the same items: the optimizer list, the identity control and the
BPO-style rewriter as optimizers of notebook 05 (tiny random model, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fipo_utils.inference.optimize_step import (
    optimizer_names,
    run_optimizer_inference,
    trained_optimizers,
)
from fipo_utils.runs.io import read_jsonl
from fipo_utils.runs.profiles import load_profile, section


def make_final(run_dir: Path, name: str) -> None:
    final = run_dir / "checkpoints" / name / "final"
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")


def test_all_lists_references_and_every_trained_checkpoint(tmp_path: Path) -> None:
    for name in ("ipl-ipo-lora", "ipo-lora", "sft-lora", "dpo-lora"):
        make_final(tmp_path, name)
    (tmp_path / "checkpoints" / "dpo-full").mkdir()  # unfinished: no final/
    assert trained_optimizers(tmp_path) == ["sft-lora", "dpo-lora", "ipo-lora", "ipl-ipo-lora"]
    assert optimizer_names(tmp_path, "all") == [
        "identity",
        "base",
        "sft-lora",
        "dpo-lora",
        "ipo-lora",
        "ipl-ipo-lora",
        "bpo-style",
    ]
    assert optimizer_names(tmp_path, ["base", "identity"]) == ["base", "identity"]
    assert optimizer_names(tmp_path, "auto") == ["auto"]


@pytest.mark.shared
def test_identity_and_bpo_style_rewrite_the_same_items(tmp_path: Path, shared_data, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    profile = load_profile("tiny")
    settings = section(
        "tiny", "infer", optimizer=["identity", "bpo-style"], benchmarks=["piqa"], n_items=3
    )
    out = run_optimizer_inference(tmp_path, profile, settings)
    assert out["optimizer"] == "identity-bpo-style"
    identity = read_jsonl(tmp_path / "optimized" / "identity" / "piqa.jsonl")
    bpo = read_jsonl(tmp_path / "optimized" / "bpo-style" / "piqa.jsonl")
    assert [r["id"] for r in identity] == [r["id"] for r in bpo]
    assert all(r["optimized_instruction"] == r["naive_instruction"] for r in identity)
    assert all(r["optimizer"] == "bpo-style" and r["raw_output"] for r in bpo)
    # a reply that cleans to nothing falls back to the naive prompt, and says so
    for record in bpo:
        if record["fell_back"]:
            assert record["optimized_instruction"] == record["naive_instruction"]
