"""The study tables say, beside an optimizer's cells, when it failed its did-it-learn gate
or was trained without one."""

from __future__ import annotations

from pathlib import Path

from analysis_synthetic import make_run

from fipo_utils.analysis import report
from fipo_utils.analysis.gates import FAILED, NOT_GATED, PASSED, UNTRAINED, gate_status
from fipo_utils.training.gate import GateCheck, GateResult, write_gate

FAST = report.AnalysisSettings()


def _gate(run: Path, name: str, trained_loss: float) -> None:
    check = GateCheck("held-out loss", 2.0, trained_loss, 2.0 - trained_loss, 0.01, 8)
    write_gate(run / "checkpoints" / name, GateResult(name, "smollm2-135m-instruct", [check]))


def test_a_failed_gate_is_marked_beside_the_optimizers_cells(tmp_path: Path):
    run = make_run(tmp_path, "20260101-000000-gates")
    _gate(run, "sft-lora", 1.5)  # the held-out loss fell: passed
    _gate(run, "ipl-ipo-lora", 2.0)  # it did not: failed
    assert gate_status(run, "sft-lora")[0] == PASSED
    assert gate_status(run, "ipl-ipo-lora")[0] == FAILED
    assert gate_status(run, "identity")[0] == UNTRAINED
    assert gate_status(run, "dpo-lora")[0] == NOT_GATED  # a checkpoint name, no gate record

    analysis = report.analyse([run], FAST)
    try:
        gates = analysis.tables["gates"].set_index("optimizer")["gate"].to_dict()
        assert gates["ipl-ipo-lora"] == FAILED and gates["sft-lora"] == PASSED
        study = analysis.markdown["study_table6"]
        assert "ipl-ipo-lora [gate failed]" in study
        assert "sft-lora [gate failed]" not in study and "| sft-lora |" in study
        assert "Failed: ipl-ipo-lora." in analysis.markdown["gates"]
        significance = analysis.tables["study_significance"]
        marked = significance[significance["optimizer"] == "ipl-ipo-lora"]
        assert set(marked.loc[marked["source"] == "eval", "gate"]) == {FAILED}
    finally:
        report.close_figures(analysis)
