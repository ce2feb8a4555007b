"""No stale results: a checkpoint remembers the settings that shaped it, and a re-run with
other settings stops naming them instead of returning the old weights."""

from __future__ import annotations

import json

import pytest
from train_rows import write_run_data

from fipo_utils.runs.errors import StaleResultError
from fipo_utils.runs.fingerprint import changed_keys, settings_hash
from fipo_utils.training.train import train_strategy

QUICK = {"max_steps": 1, "batch_size": 2, "prompt_format": "tulu"}


def test_changed_keys_names_every_leaf_that_differs():
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "gone": True}
    new = {"a": 1, "b": {"c": [1, 3], "d": "x"}, "added": 0.5}
    assert changed_keys(old, new) == [
        "added: (absent) -> 0.5",
        "b.c: [1, 2] -> [1, 3]",
        "gone: true -> (absent)",
    ]
    assert changed_keys(old, old) == []
    assert settings_hash({"x": 1, "y": 2}) == settings_hash({"y": 2, "x": 1})


@pytest.mark.slow  # trains the tiny model
def test_rerun_with_other_settings_stops_and_names_them(tmp_path):
    run_dir = write_run_data(tmp_path / "run")
    first = train_strategy(run_dir, "tiny", "sft", **QUICK)
    fingerprint = json.loads((run_dir / "checkpoints/sft-lora/fingerprint.json").read_text())
    assert fingerprint["shaped_by"]["settings"]["max_steps"] == 1
    assert len(fingerprint["shaped_by"]["data_sha256"]) == 64
    assert first["fingerprint"] == fingerprint["hash"]
    weights = run_dir / "checkpoints/sft-lora/final/model.safetensors"
    written = weights.stat().st_mtime_ns

    # same settings: the finished checkpoint is reused, not retrained
    assert train_strategy(run_dir, "tiny", "sft", **QUICK) == first

    # another training seed is another optimizer: it trains beside, under its own name
    seeded = train_strategy(run_dir, "tiny", "sft", **{**QUICK, "seed": 5})
    assert seeded["name"] == "sft-lora-seed5" and seeded["final_dir"].endswith("seed5/final")
    shaped = json.loads((run_dir / "checkpoints/sft-lora-seed5/fingerprint.json").read_text())
    assert shaped["shaped_by"]["settings"]["seed"] == 5
    assert weights.stat().st_mtime_ns == written

    # other settings: one message naming each changed key, weights untouched
    with pytest.raises(StaleResultError) as caught:
        train_strategy(run_dir, "tiny", "sft", **{**QUICK, "max_steps": 2, "learning_rate": 0.5})
    message = str(caught.value)
    assert "max_steps: 1 -> 2" in message and "learning_rate" in message
    assert "-p name sft-lora-2" in message and "\n" not in message
    assert weights.stat().st_mtime_ns == written

    # changed data is a change too
    sft = run_dir / "data/sft.json"
    sft.write_text(sft.read_text().replace("apples", "pears"))
    with pytest.raises(StaleResultError, match="data_sha256"):
        train_strategy(run_dir, "tiny", "sft", **QUICK)

    # the explicit way out: a new name trains beside the old checkpoint
    other = train_strategy(run_dir, "tiny", "sft", name="sft-lora-2", **{**QUICK, "max_steps": 2})
    assert other["final_dir"].endswith("sft-lora-2/final")
    assert weights.stat().st_mtime_ns == written


def _profile(path, learning_rate: float):
    import yaml

    path.write_text(
        yaml.safe_dump({"inherits": "tiny", "sft": {"learning_rate": learning_rate}, "chain": []})
    )
    return path


def test_resume_after_the_profile_changed_stops_unless_accepted(tmp_path):
    from fipo_utils.runs.folders import new_run_dir
    from fipo_utils.runs.manifest import new_manifest, read_manifest, write_manifest
    from fipo_utils.runs.profiles import load_profile
    from fipo_utils.runs.runner import reproduce

    profile = _profile(tmp_path / "mine.yaml", 0.001)
    run_dir = new_run_dir("mine", root=tmp_path / "runs")
    write_manifest(run_dir, new_manifest(str(profile), {}, []))
    manifest = read_manifest(run_dir)
    assert manifest["profile_resolved"] == load_profile(str(profile))
    assert len(manifest["profile_hash"]) == 64

    reproduce(str(profile), resume=run_dir, log=lambda _: None)  # unchanged: fine
    _profile(profile, 0.5)
    with pytest.raises(StaleResultError, match=r"sft\.learning_rate: 0\.001 -> 0\.5"):
        reproduce(str(profile), resume=run_dir, log=lambda _: None)
    reproduce(str(profile), resume=run_dir, log=lambda _: None, accept_profile_change=True)
    manifest = read_manifest(run_dir)
    assert manifest["profile_resolved"]["sft"]["learning_rate"] == 0.5
    assert manifest["profile_changes"][0]["changes"] == ["sft.learning_rate: 0.001 -> 0.5"]


@pytest.mark.slow
@pytest.mark.notebook
def test_fipo_run_of_a_trained_step_with_new_settings_stops_naming_them(tmp_path, capsys):
    """The issue's reproduction: SFT trained into a run folder, then
    ``fipo run 02_sft_training --run-dir SAME -p max_steps 6 -p learning_rate 0.5``."""
    from fipo_utils.cli import main
    from fipo_utils.runs.manifest import read_manifest

    run_dir = write_run_data(tmp_path / "run")
    base = ["run", "02_sft_training", "--profile", "tiny", "--run-dir", str(run_dir)]
    assert main(base) == 0
    weights = run_dir / "checkpoints/sft-lora/final/model.safetensors"
    written = weights.stat().st_mtime_ns
    capsys.readouterr()

    assert main([*base, "-p", "max_steps", "6", "-p", "learning_rate", "0.5"]) == 1
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "StaleResultError" in message and "settings.max_steps: 3 -> 6" in message
    assert "settings.learning_rate: 0.0002 -> 0.5" in message and "-p name" in message
    assert weights.stat().st_mtime_ns == written
    manifest = read_manifest(run_dir)
    assert [s["status"] for s in manifest["steps"]] == ["done", "failed"]
    assert "max_steps" in manifest["steps"][1]["reason"]
    assert manifest["profile_resolved"]["train"]["max_steps"] == 3
    assert len(manifest["profile_hash"]) == 64

    # the documented way to train with the new settings: a new name, beside the old one
    assert main([*base, "-p", "max_steps", "6", "-p", "name", "sft-lora-6"]) == 0
    assert (run_dir / "checkpoints/sft-lora-6/final/model.safetensors").is_file()
    assert weights.stat().st_mtime_ns == written


def test_an_accepted_profile_change_adds_the_profiles_new_steps_in_chain_order(tmp_path):
    """A notebook inserted into a profile's chain (e.g. before the analysis) joins a resumed
    run as pending at its place; steps that ran keep their record."""
    import yaml

    from fipo_utils.runs.runner import _adopt_chain

    profile = tmp_path / "mine.yaml"
    chain = [{"notebook": "00_tour"}, {"notebook": "09_search_baselines"}]
    chain.append({"notebook": "07_analysis"})
    profile.write_text(yaml.safe_dump({"inherits": "tiny", "chain": chain}))
    manifest = {
        "steps": [
            {"key": "00_tour", "notebook": "00_tour", "parameters": {}, "status": "done"},
            {
                "key": "01_diversification",
                "notebook": "01_diversification",
                "parameters": {},
                "status": "done",
            },
            {
                "key": "08_baselines",
                "notebook": "08_baselines",
                "parameters": {},
                "status": "pending",
            },
            {
                "key": "07_analysis",
                "notebook": "07_analysis",
                "parameters": {},
                "status": "pending",
            },
        ]
    }
    said: list[str] = []
    _adopt_chain(manifest, str(profile), said.append)
    assert [(r["key"], r["status"]) for r in manifest["steps"]] == [
        ("00_tour", "done"),
        ("09_search_baselines", "pending"),
        ("07_analysis", "pending"),
        ("01_diversification", "done"),  # dropped but ran: kept on record, never re-run
    ]
    assert said == ["chain: 1 step(s) added by the profile change: 09_search_baselines"]
