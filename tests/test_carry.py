"""A run carried to another machine resumes there: what is done stays done, what is cached
stays cached, and a carry that does not match its record is refused by entry and field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from step_notebooks import step_notebook

from fipo_utils.cli import main
from fipo_utils.runs.carry import CarryError, pack, unpack
from fipo_utils.runs.errors import RunFolderLocked
from fipo_utils.runs.lock import run_folder_lock
from fipo_utils.runs.manifest import file_sha256, read_manifest
from fipo_utils.runs.runner import StepFailed, reproduce

QUIET = {"log": lambda _: None, "progress": False}


def _cache_line(key: str, value: str) -> str:
    return json.dumps({"k": key, "v": value}) + "\n"


def _run_that_stops_at_its_last_step(tmp_path: Path) -> Path:
    """Three steps: one writes, one links and reads, the last fails until ``go`` exists."""
    writer = step_notebook(
        tmp_path / "a.ipynb",
        "from pathlib import Path\n(Path(run_dir) / 'out').mkdir(exist_ok=True)\n"
        "(Path(run_dir) / 'out' / 'rows.txt').write_text('1 2 3')",
    )
    linker = step_notebook(
        tmp_path / "b.ipynb",
        "from pathlib import Path\nroot = Path(run_dir)\n"
        "if not (root / 'final').is_symlink():\n    (root / 'final').symlink_to('out')\n"
        "(root / 'read.txt').write_text((root / 'final' / 'rows.txt').read_text())",
    )
    waiter = step_notebook(
        tmp_path / "c.ipynb",
        "from pathlib import Path\nassert (Path(run_dir) / 'go').exists(), 'not yet'",
    )
    profile = tmp_path / "chain.yaml"
    chain = "".join(f"  - notebook: {nb}\n" for nb in (writer, linker, waiter))
    profile.write_text(f"inherits: tiny\nchain:\n{chain}")
    with pytest.raises(StepFailed, match="not yet"):
        reproduce(str(profile), runs_root=tmp_path / "runs", **QUIET)
    (run,) = (tmp_path / "runs").iterdir()
    return run


@pytest.mark.notebook
def test_a_run_carried_through_git_resumes_where_it_stopped(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FIPO_CACHE_DIR", str(cache))
    run = _run_that_stops_at_its_last_step(tmp_path)
    entry = cache / "generations" / "model-x" / "params.jsonl"
    entry.parent.mkdir(parents=True)
    entry.write_text(_cache_line("k1", "a rewrite"))

    carry = tmp_path / "repo" / "carried" / run.name
    summary = pack(run, carry)
    assert summary.files >= 4 and summary.links == 1 and summary.cache_files == 1
    assert not (carry / "run" / ".lock").exists()

    # the journey: a commit, a clone on the "new machine" (git keeps no file times)
    repo = carry.parents[1]
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, str(repo), "add", "-A"], check=True)
    subprocess.run([*git, str(repo), "commit", "-qm", "carry"], check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    shutil.rmtree(run)
    shutil.rmtree(cache)

    # a copy that loses the files' times, as a checkout does, makes a done step that read
    # the folder (b read out/rows.txt; a read nothing) stale
    plain = tmp_path / "plain-runs" / run.name
    shutil.copytree(clone / "carried" / run.name / "run", plain, symlinks=True)
    (plain / "go").touch()
    lines: list[str] = []
    reproduce(resume=plain, log=lines.append, progress=False)
    assert sum(": stale (its inputs changed since it ran: out/rows.txt" in x for x in lines) == 1

    restored = unpack(clone / "carried" / run.name, run.parent)
    assert restored.run_dir == run and (run / "final").is_symlink()
    (run / "go").touch()
    lines.clear()
    reproduce(resume=run, log=lines.append, progress=False)
    assert sum("already done, skipped" in line for line in lines) == 2
    assert [s["status"] for s in read_manifest(run)["steps"]] == ["done"] * 3
    assert entry.read_text() == _cache_line("k1", "a rewrite")


def test_a_carry_that_differs_from_its_record_is_refused_by_entry_and_field(tmp_path, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "runs" / "r1"
    (run / "data").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"profile": "tiny", "steps": []}))
    (run / "data" / "rows.jsonl").write_text('{"a": 1}\n')
    carry = tmp_path / "carried" / "r1"
    pack(run, carry)
    target = tmp_path / "elsewhere"

    copy = carry / "run" / "data" / "rows.jsonl"
    copy.write_text('{"a": 2}\n')  # same size, other bytes
    with pytest.raises(CarryError, match=r"run entry 'data/rows\.jsonl': field 'sha256'"):
        unpack(carry, target)
    copy.write_text('{"a": 10}\n')
    with pytest.raises(CarryError, match=r"field 'size': recorded 9, found 10"):
        unpack(carry, target)
    copy.unlink()
    with pytest.raises(CarryError, match=r"'data/rows\.jsonl': the file is missing"):
        unpack(carry, target)
    assert not target.exists()

    pack(run, carry)  # a fresh pack replaces the damaged carry
    with pytest.raises(CarryError, match="never overwritten"):
        unpack(carry, run.parent)
    notes: list[str] = []
    unpack(carry, target, log=notes.append)
    assert (target / "r1" / "data" / "rows.jsonl").read_text() == '{"a": 1}\n'
    assert notes and f"left from {run}" in notes[0]


def test_a_run_in_use_is_not_packed(tmp_path, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"profile": "tiny", "steps": []}))
    with run_folder_lock(run), pytest.raises(RunFolderLocked):
        pack(run, tmp_path / "carried" / "r1")
    assert not (tmp_path / "carried" / "r1").exists()
    with pytest.raises(CarryError, match="inside the run folder"):
        pack(run, run / "carry")


def test_carried_cache_lines_join_the_ones_this_machine_has(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FIPO_CACHE_DIR", str(cache))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"profile": "tiny", "steps": []}))
    entry = cache / "generations" / "m" / "p.jsonl"
    entry.parent.mkdir(parents=True)
    entry.write_text(_cache_line("k1", "one") + _cache_line("k2", "two"))
    carry = tmp_path / "carried" / "r1"
    pack(run, carry)
    shutil.rmtree(run)
    # meanwhile this machine cached k1 and k3, and its last line was torn by a crash
    entry.write_text(_cache_line("k1", "one") + _cache_line("k3", "three") + '{"k": "k4", "v')
    unpack(carry, run.parent)
    lines = entry.read_text().splitlines()
    keys = [json.loads(line)["k"] for line in lines if line.endswith("}")]
    assert sorted(keys) == ["k1", "k2", "k3"] and len(keys) == 3


def test_the_command_line_names_a_folder_that_is_not_a_carry(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    assert main(["carry", "unpack", str(tmp_path / "empty"), "--runs-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("fipo carry: error: ") and "no carry.json" in err[-1]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "carry.json").write_text(json.dumps({"format": 7}))
    assert main(["carry", "unpack", str(bad)]) == 1
    assert "field 'format': expected 1, got 7" in capsys.readouterr().err


def _lora_checkpoint(run: Path, name: str, start: str, seed: int) -> Path:
    """``checkpoints/<name>/{adapter,final}`` as a LoRA training step leaves them: an
    adapter with nonzero weights (a fresh one merges to the start model) and the merge."""
    import torch

    from fipo_utils.models.loading import load_model
    from fipo_utils.training.lora import attach_lora, merge_lora, save_adapter, save_standalone

    loaded = load_model(start)
    model = attach_lora(loaded.model)
    torch.manual_seed(seed)
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data.normal_(0, 0.05)
    save_adapter(model, run / "checkpoints" / name / "adapter")
    return save_standalone(
        merge_lora(model), loaded.tokenizer, run / "checkpoints" / name / "final"
    )


@pytest.mark.slow
def test_a_merged_model_is_left_behind_and_merged_again_to_the_same_bytes(
    tmp_path, tiny_model_dir, monkeypatch
):
    from fipo_utils.training.merged_weights import merged_weight_files, rebuild_merged_weights

    monkeypatch.setenv("FIPO_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"profile": "tiny", "steps": []}))
    first = _lora_checkpoint(run, "sft-lora", str(tiny_model_dir), seed=1)
    # a second round trained from the first round's merge, as IPL's rounds are
    second = _lora_checkpoint(run, "ipl/round_2", str(first), seed=2)
    weights = [first / "model.safetensors", second / "model.safetensors"]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in weights}
    assert merged_weight_files(run) == [
        "checkpoints/ipl/round_2/final/model.safetensors",
        "checkpoints/sft-lora/final/model.safetensors",
    ]

    carry = tmp_path / "carried" / "r1"
    summary = pack(run, carry, rebuilt=merged_weight_files)
    assert summary.rebuilt == 2 and not list(carry.rglob("final/model.safetensors"))
    assert (carry / "run" / "checkpoints" / "sft-lora" / "final" / "config.json").is_file()
    with pytest.raises(CarryError, match="no way to rebuild them"):
        unpack(carry, tmp_path / "elsewhere")

    shutil.rmtree(run)
    unpack(carry, run.parent, rebuild=rebuild_merged_weights)
    for path, (data, mtime) in before.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime

    # an adapter that no longer gives the packed merge: the rebuild says so, and the file
    # keeps a time of its own, so the runner sees a changed input
    shutil.rmtree(run)
    shutil.rmtree(carry / "run" / "checkpoints" / "ipl")
    record = json.loads((carry / "carry.json").read_text())
    record["files"] = {k: e for k, e in record["files"].items() if "/ipl/" not in f"/{k}"}
    adapter = carry / "run" / "checkpoints" / "sft-lora" / "adapter" / "adapter_model.safetensors"
    other = _lora_checkpoint(tmp_path / "other", "x", str(tiny_model_dir), seed=3).parent
    shutil.copyfile(other / "adapter" / "adapter_model.safetensors", adapter)
    entry = record["files"]["checkpoints/sft-lora/adapter/adapter_model.safetensors"]
    entry.update(size=adapter.stat().st_size, sha256=file_sha256(adapter))
    (carry / "carry.json").write_text(json.dumps(record))
    notes: list[str] = []
    unpack(carry, run.parent, log=notes.append, rebuild=rebuild_merged_weights)
    assert any("rebuilt with other bytes" in note for note in notes)
    assert weights[0].stat().st_mtime_ns != before[weights[0]][1]
