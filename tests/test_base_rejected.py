"""Rejected prompts with a signal: the untrained base optimizer's rewrite replaces BPO's
unchanged-prompt stand-in, and only that."""

from __future__ import annotations

import json

import pytest

from fipo_utils.data.pop import PopRecord
from fipo_utils.inference.base_rejected import (
    REWRITES_FILE,
    rejected_from_profile,
    rejected_source,
    with_base_rejected,
)
from fipo_utils.inference.registry import Rewrite
from fipo_utils.runs.profiles import load_profile, merge_settings


def _records() -> list[PopRecord]:
    stand_in = PopRecord("b1", "Write a poem.", "bad", "good", "Write a poem.", "Write a sonnet.")
    pop = PopRecord("p1", "Sum 2+2.", "5", "4", "Add two and two.", "Compute 2 + 2 exactly.")
    empty = PopRecord("b2", "Name a fruit.", "x", "apple", "Name a fruit.", "Name one fruit.")
    return [stand_in, pop, empty]


class _Optimizer:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def rewrite_texts(self, texts):
        self.seen.extend(texts)
        return [
            Rewrite(prompt=t, raw_output="", fell_back=True)
            if "fruit" in t
            else Rewrite(prompt=f"Please: {t}", raw_output=f"Please: {t}")
            for t in texts
        ]


def test_only_stand_in_rejected_prompts_are_rewritten():
    optimizer = _Optimizer()
    records, log = with_base_rejected(_records(), optimizer)
    assert optimizer.seen == ["Write a poem.", "Name a fruit."]  # POP's own rewrite stays
    assert records[0].rejected_prompt == "Please: Write a poem."
    assert records[1] == _records()[1]
    # a reply that cleaned to nothing keeps the stand-in, and the log says so
    assert records[2].rejected_prompt == "Name a fruit."
    assert [(row["id"], row["fell_back"]) for row in log] == [("b1", False), ("b2", True)]
    assert all(r.chosen_prompt == o.chosen_prompt for r, o in zip(records, _records(), strict=True))


def test_the_profile_names_the_rejected_source():
    assert rejected_source(load_profile("smoke")) == "unchanged"
    assert rejected_source(load_profile("study")) == "base_rewrite"
    with pytest.raises(ValueError, match="diversify.rejected: 'gpt'"):
        rejected_source({"name": "x", "diversify": {"rejected": "gpt"}})


def test_base_rewrites_are_generated_once_and_recorded(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    profile = merge_settings(
        load_profile("tiny"),
        {
            "models": {"optimizer_base": str(tiny_model_dir)},
            "diversify": {"rejected": "base_rewrite"},
        },
    )
    records, provenance = rejected_from_profile(_records(), profile, tmp_path / "run")
    assert provenance["rejected"] == "base_rewrite" and provenance["n_rejected_rewritten"] == 2
    assert provenance["rejected_model"] == str(tiny_model_dir)
    log = [json.loads(line) for line in (tmp_path / "run" / REWRITES_FILE).read_text().splitlines()]
    assert [row["id"] for row in log] == ["b1", "b2"]
    assert [r.rejected_prompt for r in records[::2]] == [row["rejected_prompt"] for row in log]
    again, _ = rejected_from_profile(_records(), profile, tmp_path / "run2")
    assert again == records  # greedy and cached: the same rewrites
    unchanged, kept = rejected_from_profile(_records(), load_profile("tiny"), tmp_path / "run3")
    assert unchanged == _records() and kept == {"rejected": "unchanged"}
