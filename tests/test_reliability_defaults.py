"""Nothing outside the run folder changes by default, and runs are offline by default."""

from __future__ import annotations

import os

from analysis_synthetic import make_run

from fipo_utils.cli import main
from fipo_utils.runs.paths import FIGURES_DIR, offline_by_default


def _snapshot(folder):
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} if folder.is_dir() else {}


def test_fipo_figures_writes_only_into_the_run_unless_out_is_given(tmp_path, capsys):
    run = make_run(tmp_path, "20260101-000000-defaults", baselines=False, training=False)
    tracked = _snapshot(FIGURES_DIR)
    assert main(["figures", str(run)]) == 0
    assert _snapshot(FIGURES_DIR) == tracked, "the tracked figures/ changed without --out"
    made = sorted(p.name for p in (run / "figures").iterdir())
    assert "analysis_accuracy.png" in made
    assert "copied into" not in capsys.readouterr().out

    out = tmp_path / "readme_figures"
    assert main(["figures", str(run), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == made


def test_offline_unless_the_user_opts_in(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "FIPO_ONLINE"):
        monkeypatch.delenv(name, raising=False)
    assert offline_by_default() is True
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("FIPO_ONLINE", "1")
    assert offline_by_default() is False and "HF_HUB_OFFLINE" not in os.environ

    monkeypatch.delenv("FIPO_ONLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # an explicit choice is respected
    assert offline_by_default() is False
