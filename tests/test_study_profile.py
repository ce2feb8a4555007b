"""The `study` profiles: what the reference run evaluates, and item counts that agree with
the pilot measurement written beside them."""

from __future__ import annotations

import pytest

from fipo_utils.analysis.power import minimum_detectable_effect
from fipo_utils.data.benchmarks import benchmark_family, items_for
from fipo_utils.runs.profiles import load_profile
from fipo_utils.runs.runner import chain_from_profile, check_step_parameters

MULTIPLE_CHOICE = {"piqa", "cosmosqa", "mmlu"}  # the rest of Table 2 is generation
OPTIMIZERS = [
    "identity",
    "neutral-preface",  # the prompt-sensitivity control, re-scored by the tester
    "base",
    "sft-lora",
    "sft-lora-seed1",  # SFT and DPO with three training seeds (analysis/seed_spread.md)
    "sft-lora-seed2",
    "dpo-lora",
    "dpo-lora-seed1",
    "dpo-lora-seed2",
    "ipo-lora",
    "ipl-ipo-lora",
    "grpo-lora",  # tester-feedback RL (notebook 10, not in the paper)
    "bpo-style",
]


def test_study_evaluates_every_optimizer_with_two_testers_and_two_scorings() -> None:
    profile = load_profile("study")
    steps = chain_from_profile("study")
    inference = [s.parameters.get("optimizer") for s in steps if s.notebook.startswith("05")]
    assert inference == OPTIMIZERS
    names = [s.notebook for s in steps]
    # each trained optimizer rewrites right after its training step, after the base's 05
    # (its gate's last check counts rewrites that differ from the base's)
    keys = [s.key for s in steps]
    where = {
        s.parameters.get("optimizer"): i for i, s in enumerate(steps) if s.notebook[:2] == "05"
    }
    trained = {
        "sft-lora": "02_sft_training",
        "sft-lora-seed1": "02_sft_training__seed-1",
        "dpo-lora": "03_preference_training__strategy-dpo",
        "dpo-lora-seed2": "03_preference_training__seed-2__strategy-dpo",
        "ipo-lora": "03_preference_training__strategy-ipo",
        "ipl-ipo-lora": "04_ipl_training__loss-ipo__max_rows-120",
        "grpo-lora": "10_tester_feedback_rl",
    }
    for optimizer, training in trained.items():
        assert where["base"] < keys.index(training) < where[optimizer], optimizer
    # evaluation after every rewrite, analysis last (it sees the baselines too)
    assert names.index("06_evaluation") > max(i for i, n in enumerate(names) if n.startswith("05"))
    assert names[-1] == "07_analysis" and "08_baselines" in names
    assert profile["models"]["optimizer_base"] == "smollm2-135m-instruct"
    assert profile["models"]["testers"] == ["smollm2-135m-instruct", "gemma3-270m"]
    assert profile["evaluate"]["mc_scoring"] == ["letter", "continuation"]
    # rewrites generate on vLLM's server; 06's continuation scoring needs transformers
    assert profile["infer"]["backend"] == "vllm-server"
    assert profile["evaluate"]["backend"] == "transformers"
    # a CPU server asks for a share of RAM it can have beside the kernel's models
    assert profile["infer"]["backend_options"]["gpu_memory_utilization"] <= 0.5
    assert profile["diversify"]["input"] == "bpo:history/val.json"
    assert len(profile["infer"]["benchmarks"]) >= 4
    assert profile["analysis"]["primary"] == {
        "multiple_choice": "continuation",
        "generation": "strict",
    }


def test_study_trains_sft_and_dpo_with_three_seeds_each_its_own_step() -> None:
    steps = chain_from_profile("study")
    trained = [
        (s.notebook, s.parameters.get("strategy", "sft"), s.parameters.get("seed"))
        for s in steps
        if s.notebook.startswith(("02", "03"))
    ]
    for notebook, strategy in (("02_sft_training", "sft"), ("03_preference_training", "dpo")):
        seeds = [seed for n, st, seed in trained if n == notebook and st == strategy]
        assert seeds == [None, 1, 2]  # the profile's seed, then two more
    keys = [s.key for s in steps]
    assert len(keys) == len(set(keys))  # each seed its own resumable step
    for step in steps:  # `seed` (and every other parameter) is one the notebook declares
        check_step_parameters(step)


def test_a_chain_entry_with_seeds_becomes_one_step_per_seed(tmp_path) -> None:
    import yaml

    from fipo_utils.runs.errors import SettingsError

    def chain(entry: dict) -> list:
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"inherits": "tiny", "chain": [entry]}))
        return chain_from_profile(str(path))

    steps = chain({"notebook": "03_preference_training", "parameters": {"strategy": "dpo"},
                   "seeds": [3, 9]})  # fmt: skip
    assert [s.parameters for s in steps] == [
        {"strategy": "dpo", "seed": 3},
        {"strategy": "dpo", "seed": 9},
    ]
    assert steps[0].key == "03_preference_training__seed-3__strategy-dpo"
    for bad in ([], [1, 1], ["1"], 4, [True]):
        with pytest.raises(SettingsError, match="seeds: expected a list of distinct integers"):
            chain({"notebook": "02_sft_training", "seeds": bad})
    with pytest.raises(SettingsError, match="not both"):
        chain({"notebook": "02_sft_training", "seeds": [1], "parameters": {"seed": 2}})
    with pytest.raises(SettingsError, match="unknown key 'seed'"):
        chain({"notebook": "02_sft_training", "seed": [1]})


def test_item_counts_give_the_declared_minimum_detectable_effect() -> None:
    """Each tester's pooled multiple-choice primary cell detects ``target_mde`` at the
    discordance the profile states; generation cells pool at least the declared items."""
    profile = load_profile("study")
    sizing, n_items = profile["sizing"], profile["infer"]["n_items"]
    benchmarks = profile["infer"]["benchmarks"]
    assert profile["evaluate"]["benchmarks"] is None  # every benchmark 05 rewrote is scored
    assert {benchmark_family(b) for b in benchmarks} == {"gsm8k", "bbh", "piqa", "cosmosqa", "mmlu"}
    multiple_choice = sum(
        items_for(b, n_items) for b in benchmarks if benchmark_family(b) in MULTIPLE_CHOICE
    )
    generation = sum(
        items_for(b, n_items) for b in benchmarks if benchmark_family(b) not in MULTIPLE_CHOICE
    )
    assert multiple_choice >= 300 and generation >= sizing["min_generation_items"] >= 100
    assert set(sizing["discordance"]) == set(profile["models"]["testers"])
    for tester, discordance in sizing["discordance"].items():
        mde = minimum_detectable_effect(
            discordance, multiple_choice, alpha=sizing["alpha"], power=sizing["power"]
        )
        assert sizing["expected_mde"][tester] == pytest.approx(mde, abs=5e-4), tester
        assert mde <= sizing["target_mde"] <= 0.08, tester


def test_item_counts_per_benchmark() -> None:
    counts = {"piqa": 300, "bbh": 60, "default": 10}
    assert items_for("piqa", counts) == 300
    assert items_for("bbh/date_understanding", counts) == 60  # by family
    assert items_for("gsm8k", counts) == 10
    assert items_for("gsm8k", {"piqa": 1}) is None  # not named: the full set
    assert items_for("gsm8k", 5) == 5


def test_ablations_train_on_variants_that_01_writes() -> None:
    profile = load_profile("study-ablations")
    variants = {
        s.parameters["data_variant"]
        for s in chain_from_profile("study-ablations")
        if "data_variant" in s.parameters
    }
    assert variants == {"gen", "partial"}
    assert variants <= set(profile["diversify"]["ablations"])
