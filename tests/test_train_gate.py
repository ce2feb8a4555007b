"""The "did it learn" gate: trained against base on held-out rows, written beside the
checkpoint, and the label tables and figures print for it."""

from __future__ import annotations

import json

import pytest
from train_rows import write_run_data

from fipo_utils.data.template import wrap_tulu
from fipo_utils.runs.records import RewriteRecord, write_rewrites
from fipo_utils.runs.settings import GateSettings
from fipo_utils.training.gate import (
    GateCheck,
    GateResult,
    add_differ_share,
    differ_share,
    evaluate_gate,
    gate_label,
    read_gate,
    refresh_differ_shares,
    write_gate,
)
from fipo_utils.training.strategies import settings_from_profile
from fipo_utils.training.train import prepare_examples


def _held_out_pairs(n: int = 4) -> list[dict]:
    """Optimizer rows: two with a rewritten rejected side (non-trivial), two whose rejected
    side is the naive prompt itself (the BPO stand-in: trivial, left out of the margins)."""
    rows = []
    for i in range(n):
        naive = f"how many apples are in basket {i}"
        rejected = naive if i % 2 else f"Tell me the apples of basket {i}."
        rows.append(
            {
                "id": f"h{i}",
                "prompt": wrap_tulu(f"Rewrite the prompt: {naive}"),
                "chosen": f"Count the apples in basket {i} and give the number.",
                "rejected": rejected,
                "r_p": naive,
                "case_type": 0,
            }
        )
    return rows


@pytest.mark.slow
def test_a_model_identical_to_its_base_fails_the_gate_and_is_labelled(tiny_model_dir, tmp_path):
    settings = settings_from_profile("tiny", "dpo", base_model=str(tiny_model_dir))
    examples = [{"id": "h0", "naive": "how many apples", "reference": "Count the apples."}]
    result = evaluate_gate(
        "dpo-lora",
        tiny_model_dir,
        settings,
        _held_out_pairs(),
        examples,
        GateSettings(n_rewrites=1),
        prepare=prepare_examples,
        template_path=None,
        max_new_tokens=4,
    )
    checks = {c.name: c for c in result.checks}
    assert set(checks) == {
        "held-out loss",
        "preference accuracy",
        "preference margin",
        "rewrite similarity",
    }
    # the same weights: every gain is zero; only the two non-trivial pairs count
    assert all(c.gain == pytest.approx(0.0, abs=1e-5) for c in result.checks)
    assert checks["preference margin"].n == 2 and checks["held-out loss"].n == 4
    assert not result.passed
    label = result.label()
    assert label.startswith("not trained (gate: held-out loss gain")
    assert "preference margin" in label and "rewrite similarity" not in label
    write_gate(tmp_path / "dpo-lora", result)
    assert gate_label(tmp_path / "dpo-lora" / "final") == label


def test_gate_labels_follow_the_checks(tmp_path):
    assert gate_label(tmp_path / "missing") == "not gated"
    passed = GateResult("sft-lora", "base", [GateCheck("held-out loss", 2.4, 2.1, 0.3, 0.01, 8)])
    write_gate(tmp_path / "sft-lora", passed)
    assert gate_label(tmp_path / "sft-lora") == "trained (gate passed)"
    stored = json.loads((tmp_path / "sft-lora" / "gate.json").read_text())
    assert stored["passed"] is True and stored["checks"][0]["passed"] is True
    unmeasured = GateResult("x", "base", [GateCheck("held-out loss", None, None, None, 0.01, 0)])
    assert unmeasured.label() == "not gated (no held-out rows)" and not unmeasured.passed


def _rewrite(item: str, optimizer: str, text: str) -> RewriteRecord:
    return RewriteRecord(
        id=item,
        benchmark="gsm8k",
        optimizer=optimizer,
        naive_instruction="q",
        optimized_instruction=text,
        raw_output=text,
        cheating_note=False,
        fell_back=False,
        word_limit=30,
        cut_at_max_new_tokens=False,
        audit={},
    )


def test_differ_share_compares_rewrites_item_by_item_and_fails_a_copy_of_the_base(tmp_path):
    base = ["same", "same", "same", "same"]
    trained = ["same", "other", "same ", "new"]  # whitespace alone is no difference
    for name, texts in (("base", base), ("dpo-lora", trained)):
        write_rewrites(
            tmp_path / "optimized" / name / "gsm8k.jsonl",
            [_rewrite(f"g{i}", name, t) for i, t in enumerate(texts)],
        )
    assert differ_share(tmp_path, "dpo-lora") == (0.5, 4)
    assert differ_share(tmp_path, "nothing") == (None, 0)
    assert add_differ_share(tmp_path, "dpo-lora") is None  # no gate to extend
    loss = GateCheck("held-out loss", 2.4, 2.1, 0.3, 0.01, 8)
    write_gate(tmp_path / "checkpoints" / "dpo-lora", GateResult("dpo-lora", "base", [loss]))
    gate_file = tmp_path / "checkpoints" / "dpo-lora" / "gate.json"
    trained = gate_file.read_bytes(), gate_file.stat().st_mtime_ns
    result = add_differ_share(tmp_path, "dpo-lora", profile={"gate": {"min_differ_share": 0.6}})
    assert result is not None and not result.passed
    # the training's record is not touched: every step after the training has it as an input
    assert (gate_file.read_bytes(), gate_file.stat().st_mtime_ns) == trained
    differ = tmp_path / "optimized" / "dpo-lora" / "gate_differ.json"
    assert json.loads(differ.read_text())["gain"] == 0.5
    stored = read_gate(tmp_path / "checkpoints" / "dpo-lora")
    assert stored is not None and [c.name for c in stored.checks][-1].startswith("benchmark")
    assert "benchmark rewrites differing from base gain +0.5 < 0.6 (n=4)" in stored.label()
    # notebook 05 refreshes every gated checkpoint it rewrote with, whatever the order
    write_gate(tmp_path / "checkpoints" / "ipo-lora", GateResult("ipo-lora", "base", [loss]))
    assert refresh_differ_shares(tmp_path) == ["dpo-lora"]  # ipo-lora rewrote nothing yet
    stored = read_gate(tmp_path / "checkpoints" / "dpo-lora")
    assert stored is not None and stored.passed  # the default threshold is 0.5
    # the same check again (a later 05 step refreshes every gate) leaves the file as it was
    written = differ.stat().st_mtime_ns
    assert refresh_differ_shares(tmp_path) == ["dpo-lora"]
    assert differ.stat().st_mtime_ns == written
    assert (gate_file.read_bytes(), gate_file.stat().st_mtime_ns) == trained
    assert refresh_differ_shares(tmp_path / "elsewhere") == []


@pytest.mark.slow
def test_training_writes_its_gate_beside_the_checkpoint(tiny_model_dir, tmp_path):
    from fipo_utils.training.train import train_strategy

    run = write_run_data(tmp_path / "run", n=12)
    record = train_strategy(
        run, "tiny", "sft", base_model=str(tiny_model_dir), max_rows=6, max_steps=1
    )
    gate = json.loads((run / "checkpoints" / "sft-lora" / "gate.json").read_text())
    assert record["gate"] == gate and gate["base_model"] == str(tiny_model_dir)
    assert [c["name"] for c in gate["checks"]][0] == "held-out loss"
    assert gate["checks"][0]["n"] == 4  # the tiny profile's eval rows
    # a second call returns the saved metrics with the same gate, measured once
    assert (
        train_strategy(run, "tiny", "sft", base_model=str(tiny_model_dir), max_rows=6, max_steps=1)[
            "gate"
        ]
        == gate
    )


@pytest.mark.slow
def test_the_preview_shows_the_rewrites_the_gate_scored(tiny_model_dir, monkeypatch):
    """Notebooks 02-04 preview the held-out rewrites after the gate: the same inputs and
    decoding, answered by the generation cache, so no model generates a second time."""
    from fipo_utils.models.generate import TransformersGenerator
    from fipo_utils.training.preview import heldout_rewrites, preview_rewrites

    examples = [
        {"id": "p0", "naive": "how many pears are left", "reference": "Count the pears left."},
        {"id": "p1", "naive": "name the capital", "reference": "Name the capital city."},
    ]
    options = {"prompt_format": "tulu", "template_path": None, "max_new_tokens": 6}
    scored = heldout_rewrites(str(tiny_model_dir), examples, **options)
    calls = []
    original = TransformersGenerator._generate_batch

    def counting(self, prompts, params):
        calls.append(len(prompts))
        return original(self, prompts, params)

    monkeypatch.setattr(TransformersGenerator, "_generate_batch", counting)
    table = preview_rewrites({"base model": tiny_model_dir}, examples, **options)
    assert calls == []
    assert table["base model"].tolist() == scored
    assert table["reference (chosen)"].tolist() == [e["reference"] for e in examples]
