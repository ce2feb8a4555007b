"""Faults named and healed (issue 26, items 4 and 6): a torn trainer checkpoint is passed
over for the previous complete one; an undecodable cache line is skipped and counted; a
damaged cached model is rebuilt; a full disk names the file and leaves no staging file;
a corrupt model folder or config is one line naming the file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fipo_utils.cli import main
from fipo_utils.runs.checkpoints import last_complete_checkpoint
from fipo_utils.runs.errors import DiskFull
from fipo_utils.runs.io import read_jsonl, write_json_atomic


def _checkpoint(folder: Path, step: int) -> Path:
    """A trainer checkpoint's files in the order the trainer writes them."""
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"w": torch.ones(4, 4)}, str(path / "adapter_model.safetensors"))
    (path / "optimizer.pt").write_bytes(b"optimizer")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def _no_state(path: Path) -> None:
    (path / "trainer_state.json").unlink()


def _torn_state(path: Path) -> None:
    (path / "trainer_state.json").write_text('{"global_st')


def _torn_weights(path: Path) -> None:
    weights = path / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])


def _fake_weights(path: Path) -> None:
    (path / "adapter_model.safetensors").write_bytes(b"not safetensors at all")


def _wrong_step(path: Path) -> None:
    (path / "trainer_state.json").write_text(json.dumps({"global_step": 2}))


# how the newest checkpoint was damaged, what the line says
TORN = [
    (_no_state, "trainer_state.json is missing"),
    (_torn_state, "trainer_state.json is not valid JSON"),
    (_torn_weights, "adapter_model.safetensors is not a complete safetensors file"),
    (_fake_weights, "adapter_model.safetensors is not a complete safetensors file"),
    (_wrong_step, "trainer_state.json is at step 2, not 6"),
]


@pytest.mark.parametrize(("damage", "expected"), TORN, ids=[t[0].__name__ for t in TORN])
def test_resume_passes_over_a_torn_checkpoint_for_the_last_complete_one(damage, expected, tmp_path):
    for step in (2, 4, 6):
        _checkpoint(tmp_path, step)
    damage(tmp_path / "checkpoint-6")
    lines: list[str] = []
    assert last_complete_checkpoint(tmp_path, lines.append) == str(tmp_path / "checkpoint-4")
    assert len(lines) == 1 and "checkpoint-6 is incomplete" in lines[0] and expected in lines[0]


def test_no_complete_checkpoint_means_a_fresh_start(tmp_path):
    _no_state(_checkpoint(tmp_path, 2))
    lines: list[str] = []
    assert last_complete_checkpoint(tmp_path, lines.append) is None
    assert last_complete_checkpoint(tmp_path / "absent", lines.append) is None
    assert len(lines) == 1


def test_an_undecodable_cache_line_is_skipped_and_counted(tmp_path, capsys):
    from fipo_utils.models.cache import GenerationCache

    cache = GenerationCache("m", "transformers", root=tmp_path)
    key = {"max_new_tokens": 4}
    cache.append(key, {"a": "first"})
    path = cache.file_for(key)
    with path.open("ab") as handle:
        handle.write(b'{"k": "\xff\xfe", "v": 1}\n')  # not UTF-8
        handle.write(b'{"k": "deep", "v": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
        handle.write(b'{"k": "b", "v": "second"}\n')
    fresh = GenerationCache("m", "transformers", root=tmp_path)
    assert fresh.entries(key) == {"a": "first", "b": "second"}
    assert fresh.skipped_lines == 2
    assert f"generation cache {path}: 2 unreadable line(s) skipped" in capsys.readouterr().out


def test_pathologically_nested_json_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "pop.jsonl"
    path.write_text('{"id": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(ValueError, match=r"pop\.jsonl, line 1: invalid JSON \(nested too deeply"):
        read_jsonl(path)


def test_a_damaged_cached_model_is_rebuilt(tmp_path, capsys):
    from fipo_utils.models.loading import build_tiny_model, load_model

    target = build_tiny_model(tmp_path / "tiny")
    weights = target / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    assert build_tiny_model(tmp_path / "tiny") == target
    assert "is damaged (model.safetensors is not a complete" in capsys.readouterr().out
    assert weights.read_bytes() == good  # seeded: the same model again
    assert load_model(str(target)).model.config.num_hidden_layers == 2


def test_a_full_disk_names_the_file_and_leaves_no_staging_file(tmp_path, monkeypatch):
    def full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "out" / "summary.json"
    with pytest.raises(DiskFull, match=r"out/summary\.json: no space left on device"):
        write_json_atomic(target, {"x": 1})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


@pytest.fixture
def broken_models(tmp_path: Path) -> Path:
    from fipo_utils.models.loading import build_tiny_model

    good = build_tiny_model(tmp_path / "good")
    for name, damage in (
        ("truncated", lambda d: (d / "model.safetensors").write_bytes(b"\x10\x00")),
        ("fake", lambda d: (d / "model.safetensors").write_bytes(b"PK\x03\x04 not weights")),
        ("badjson", lambda d: (d / "config.json").write_text("{oops")),
        ("listjson", lambda d: (d / "config.json").write_text("[1, 2]")),
        (
            "wrongtype",
            lambda d: (d / "config.json").write_text(
                json.dumps({**json.loads((d / "config.json").read_text()), "hidden_size": "big"})
            ),
        ),
    ):
        folder = tmp_path / name
        folder.mkdir()
        for file in good.iterdir():
            (folder / file.name).write_bytes(file.read_bytes())
        damage(folder)
    return tmp_path


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("truncated", "truncated: model.safetensors is not a complete safetensors file"),
        ("fake", "fake: model.safetensors is not a complete safetensors file"),
        ("badjson", "badjson: config.json is not valid JSON"),
        ("listjson", "listjson: config.json is not a JSON object"),
        ("wrongtype", "wrongtype/config.json"),
    ],
)
def test_a_corrupt_model_folder_is_one_line_naming_the_file(
    folder, expected, broken_models, capsys
):
    code = main(["optimize", "hi", "--profile", "tiny", "--model", str(broken_models / folder)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert expected in err.strip().splitlines()[-1], err


class Killed(RuntimeError):
    pass


@pytest.mark.slow
def test_a_training_killed_while_saving_resumes_from_the_previous_checkpoint(
    tmp_path, monkeypatch, capsys
):
    """The trainer dies between writing checkpoint-4's weights and its trainer_state.json
    (where a ``kill -9`` during the save leaves it); the next run passes it over."""
    from train_rows import write_run_data
    from transformers import Trainer

    from fipo_utils.training.train import train_strategy

    settings = {"max_steps": 4, "save_steps": 2, "batch_size": 2, "learning_rate": 1e-3}
    run_dir = write_run_data(tmp_path / "run")
    checkpoints = run_dir / "checkpoints" / "dpo-lora"
    original = Trainer._save_rng_state

    def dies_at_step_4(self, output_dir):
        if self.state.global_step == 4:
            raise Killed("killed while saving checkpoint-4")
        return original(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", dies_at_step_4)
    with pytest.raises(Killed):
        train_strategy(run_dir, "tiny", "dpo", **settings)
    assert (checkpoints / "checkpoint-4").is_dir()
    assert not (checkpoints / "checkpoint-4" / "trainer_state.json").exists()
    monkeypatch.setattr(Trainer, "_save_rng_state", original)

    record = train_strategy(run_dir, "tiny", "dpo", **settings)
    out = capsys.readouterr().out
    assert "checkpoint-4 is incomplete (trainer_state.json is missing" in out
    assert record["resumed_from"].endswith("checkpoint-2")
    assert (checkpoints / "checkpoint-4" / "trainer_state.json").is_file()
    assert (checkpoints / "final" / "model.safetensors").is_file()
