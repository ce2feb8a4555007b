"""Notebooks 02-04 through papermill: full fine-tuning and IPL-DPO, one parameter away from
the LoRA runs.

The smoke chain (tests/test_main_job.py) already trains SmolLM2-135M-Instruct with LoRA for
sft, dpo, ipo and ipl-ipo; here the same notebooks run with `lora=False` and `loss=dpo` on the
tiny model, so the paths the chain does not take are executed too, in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.notebook]
SMALL = {"max_rows": 4, "max_steps": 2, "batch_size": 2}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """A run folder with the data notebook 01 writes (diversified sample POP)."""
    from fipo_utils.data.diversify import diversify_to_dir
    from fipo_utils.data.pop import load_pop, resolve_pop_source
    from fipo_utils.data.template import load_template

    run_dir = tmp_path_factory.mktemp("smoke-run")
    records = load_pop(resolve_pop_source("sample"))
    diversify_to_dir(records, run_dir / "data", template=load_template())
    return run_dir


@pytest.mark.parametrize(
    ("notebook", "parameters", "name"),
    [
        ("02_sft_training", {"lora": False}, "sft-full"),
        ("03_preference_training", {"strategy": "dpo", "lora": False}, "dpo-full"),
        ("03_preference_training", {"strategy": "ipo", "lora": False}, "ipo-full"),
        ("04_ipl_training", {"loss": "dpo", "rounds": 2}, "ipl-dpo-lora"),
    ],
)
def test_notebook_trains_by_one_parameter_change(
    smoke_run, run_notebook, notebook, parameters, name
):
    from fipo_utils.models.loading import load_model

    run_notebook(
        notebook,
        smoke_run,
        output=f"{notebook}-{parameters.get('strategy', parameters.get('loss', ''))}.ipynb",
        run_dir=str(smoke_run),
        profile="tiny",
        **SMALL,
        **parameters,
    )
    metrics = json.loads((smoke_run / "train" / name / "metrics.json").read_text())
    assert metrics["settings"]["base_model"] == "tiny-random"
    assert metrics["settings"]["lora"] is parameters.get("lora", True)
    losses = [h["loss"] for h in metrics["log_history"] if "loss" in h]
    assert losses and all(loss == loss for loss in losses)  # logged, and no NaN
    final = smoke_run / "checkpoints" / name / "final"
    assert load_model(str(final)).model.config.model_type == "llama"
    figures = sorted(p.name for p in (smoke_run / "figures").glob(f"0?_{name}_*.png"))
    assert figures
    if notebook == "04_ipl_training":
        rounds = json.loads((smoke_run / "train" / name / "rounds.json").read_text())["rounds"]
        assert [r["round"] for r in rounds] == [1, 2]
        assert rounds[1]["replaced_share"] is not None
    else:
        # the tiny profile holds 4 rows out: eval loss logged beside the training loss
        assert metrics["n_eval_rows"] == 4
        assert any("eval_loss" in h for h in metrics["log_history"])
        # full fine-tuning saves the whole model and no adapter
        assert not (smoke_run / "checkpoints" / name / "adapter").exists()
