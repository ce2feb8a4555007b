"""Typed profile settings (fipo_utils.runs.settings): defaults in one place, schema errors
naming the key, every shipped profile builds every section."""

from __future__ import annotations

import copy

import pytest

from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.profiles import load_profile, load_step
from fipo_utils.runs.settings import (
    DEFAULT_PROMPT_FORMAT,
    DEFAULT_SEED,
    AnalysisSettings,
    BaselinesSettings,
    EvaluateSettings,
    GenerationBackendSettings,
    InferSettings,
    ModelsSettings,
    profile_seed,
)

SECTIONS = (ModelsSettings, InferSettings, EvaluateSettings, BaselinesSettings, AnalysisSettings)
SEEDED = (InferSettings, EvaluateSettings, BaselinesSettings)


@pytest.mark.parametrize("name", ["tiny", "smoke", "study", "paper"])
def test_every_shipped_profile_builds_every_section(name: str) -> None:
    profile = load_profile(name)
    for kind in SECTIONS:
        assert isinstance(kind.from_profile(profile), kind)


def test_a_profile_without_seed_gets_the_default_in_every_section() -> None:
    profile = load_profile("smoke")
    del profile["seed"]
    assert profile_seed(profile) == DEFAULT_SEED == 2024
    for kind in SEEDED:
        assert kind.from_profile(profile).seed == DEFAULT_SEED, kind.__name__


def test_the_profile_seed_reaches_every_section_unless_a_section_sets_its_own() -> None:
    profile = load_profile("smoke")
    profile["seed"] = 7
    for kind in SEEDED:
        assert kind.from_profile(profile).seed == 7, kind.__name__
    profile["evaluate"]["seed"] = 11
    assert EvaluateSettings.from_profile(profile).seed == 11
    assert InferSettings.from_profile(profile).seed == 7


def test_defaults_of_keys_a_profile_leaves_out() -> None:
    profile = load_profile("smoke")
    for key in ("prompt_format", "prompt_formats", "dtype"):
        profile["models"].pop(key, None)
    for key in ("reward_logs", "fipo_optimizer", "backend", "batch_size"):
        profile["baselines"].pop(key, None)
    for key in ("temperature", "top_p", "scoring", "tensor_parallel_size"):
        profile["evaluate"].pop(key, None)
    models = ModelsSettings.from_profile(profile)
    assert models.prompt_format == DEFAULT_PROMPT_FORMAT == "chat_template"
    assert models.dtype == "float32" and models.prompt_formats == {}
    baselines = BaselinesSettings.from_profile(profile)
    assert baselines.reward_logs == "gsm8k" and baselines.fipo_optimizer == "auto"
    assert baselines.backend == "transformers" and baselines.batch_size == 8
    evaluate = EvaluateSettings.from_profile(profile)
    assert (evaluate.temperature, evaluate.top_p, evaluate.scoring) == (0.0, 1.0, "strict")
    assert evaluate.tensor_parallel_size == 1 and evaluate.batching == "static"


def test_values_round_trip_from_the_profile() -> None:
    profile = load_profile("study")
    models = ModelsSettings.from_profile(profile)
    assert models.optimizer_base == "smollm2-135m-instruct"
    assert models.testers == ("smollm2-135m-instruct", "gemma3-270m")
    assert models.format_for("gemma3-270m") == "raw"
    assert models.format_for("/models/converted/gemma3-270m") == "raw"
    assert models.format_for("smollm2-135m-instruct") == "chat_template"

    infer = InferSettings.from_profile(profile)
    section = profile["infer"]
    assert infer.optimizer == section["optimizer"] == "all"
    assert infer.benchmarks == tuple(section["benchmarks"])
    assert infer.n_items == section["n_items"]  # a per-benchmark mapping in study
    assert infer.sample_seed == section["sample_seed"]
    assert infer.max_new_tokens == section["max_new_tokens"]
    assert infer.word_limit == section["word_limit"]
    assert infer.template == section["template"]

    evaluate = EvaluateSettings.from_profile(profile)
    assert evaluate.benchmarks is None  # every benchmark 05 rewrote
    assert evaluate.mc_scoring == ("letter", "continuation")
    assert evaluate.optimizers is None and evaluate.testers is None
    assert evaluate.tester_names(models) == models.testers

    paper = load_profile("paper")
    infer = InferSettings.from_profile(paper)
    assert (infer.backend, infer.tensor_parallel_size, infer.batch_size) == ("vllm-server", 8, 32)
    assert (infer.temperature, infer.top_p, infer.max_new_tokens) == (0.8, 0.95, 4096)
    baselines = BaselinesSettings.from_profile(paper)
    assert baselines.bpo.template == "original" and baselines.bpo.train
    assert baselines.bpo.test_sets == tuple(paper["baselines"]["bpo"]["test_sets"])
    assert baselines.oirl.seeds == (2024,)
    assert baselines.reward_model == paper["baselines"]["reward_model"]
    assert baselines.search.tasks == tuple(paper["baselines"]["search"]["tasks"])
    assert baselines.search.budget["n_candidates"] == 20
    assert "tasks" not in baselines.search.budget
    assert baselines.tester_max_new_tokens == 512 and baselines.n_items is None
    analysis = AnalysisSettings.from_profile(paper)
    assert analysis.confidence == 0.95


@pytest.mark.parametrize(
    ("section", "key", "value", "dotted"),
    [
        ("infer", "max_new_tokens", "many", "infer.max_new_tokens"),
        ("infer", "top_p", 1.5, "infer.top_p"),
        ("evaluate", "batch_size", 0, "evaluate.batch_size"),
        ("evaluate", "testers", "smollm2", "evaluate.testers"),
        ("models", "prompt_format", "chatml", "models.prompt_format"),
        ("analysis", "confidence", 2, "analysis.confidence"),
        ("baselines", "n_candidates", 2.5, "baselines.n_candidates"),
    ],
)
def test_a_wrong_value_names_the_profile_key(section, key, value, dotted) -> None:
    profile = load_profile("smoke")
    profile[section][key] = value
    kind = {
        "infer": InferSettings,
        "evaluate": EvaluateSettings,
        "models": ModelsSettings,
        "analysis": AnalysisSettings,
        "baselines": BaselinesSettings,
    }[section]
    with pytest.raises(SettingsError, match=rf"profile 'smoke': {dotted}: "):
        kind.from_profile(profile)


def test_nested_baselines_keys_are_named_with_their_path() -> None:
    profile = load_profile("smoke")
    bad = copy.deepcopy(profile)
    bad["baselines"]["bpo"]["answer_max_new_tokens"] = -1
    with pytest.raises(SettingsError, match=r"baselines\.bpo\.answer_max_new_tokens"):
        BaselinesSettings.from_profile(bad)
    bad = copy.deepcopy(profile)
    bad["baselines"]["search"]["top_p"] = 1.5
    with pytest.raises(SettingsError, match=r"baselines\.search\.top_p"):
        BaselinesSettings.from_profile(bad)
    bad = copy.deepcopy(profile)
    del bad["baselines"]["oirl"]["datasets"]
    with pytest.raises(SettingsError, match=r"baselines\.oirl\.datasets: must be set"):
        BaselinesSettings.from_profile(bad)


def test_a_missing_required_key_is_named() -> None:
    profile = load_profile("smoke")
    del profile["evaluate"]["max_new_tokens"]
    with pytest.raises(SettingsError, match=r"evaluate\.max_new_tokens: must be set"):
        EvaluateSettings.from_profile(profile)


def test_unknown_keys_are_left_to_the_step_as_the_schema_leaves_them() -> None:
    profile = load_profile("smoke")
    profile["infer"]["not_a_key"] = object()
    assert InferSettings.from_profile(profile).max_new_tokens == profile["infer"]["max_new_tokens"]


def test_section_overrides_reach_the_typed_settings() -> None:
    profile, infer = load_step("smoke", "infer", max_new_tokens=7, n_items=None)
    assert profile["name"] == "smoke"
    settings = InferSettings.from_section(infer, profile)
    assert settings.max_new_tokens == 7
    assert settings.n_items == load_profile("smoke")["infer"]["n_items"]


def test_backend_settings_from_a_mapping_coerce_numbers_written_as_text() -> None:
    backend = GenerationBackendSettings.from_mapping({"batch_size": "32", "backend": "vllm"})
    assert backend.batch_size == 32 and backend.backend == "vllm"
    assert backend.tensor_parallel_size == 1 and backend.backend_options == {}
    with pytest.raises(SettingsError, match="batch_size: expected an integer"):
        GenerationBackendSettings.from_mapping({"batch_size": "lots"})
    infer = InferSettings.from_profile(load_profile("paper"))
    assert infer.backend_settings() == GenerationBackendSettings(
        backend="vllm-server", batch_size=32, tensor_parallel_size=8
    )


def test_settings_are_frozen() -> None:
    settings = AnalysisSettings.from_profile(load_profile("smoke"))
    with pytest.raises(AttributeError):
        settings.seed = 1  # type: ignore[misc]


def test_typed_settings_reach_the_generator_and_decoding(monkeypatch) -> None:
    from fipo_utils.models import generators

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(generators, "make_generator", lambda *a, **kw: calls.append((a, kw)))
    paper = load_profile("paper")
    infer = InferSettings.from_profile(paper)
    generators.generator_from_settings("m", infer, ModelsSettings.from_profile(paper))
    generators.generator_from_settings("m", paper["infer"], paper["models"])
    assert (
        calls[0]
        == calls[1]
        == (
            ("m", "vllm-server"),
            {
                "dtype": "bfloat16",
                "batch_size": 32,
                "tensor_parallel_size": 8,
                "backend_options": {},
                "batching": "static",
            },
        )
    )
    params = generators.decoding_params(infer)
    assert (params.max_new_tokens, params.temperature, params.top_p, params.seed) == (
        4096,
        0.8,
        0.95,
        2024,
    )


def test_typed_and_mapping_forms_agree_in_the_readers_that_take_both() -> None:
    from fipo_utils.baselines.bpo import bpo_rewrite_params
    from fipo_utils.data.template import prompt_format_for
    from fipo_utils.evaluation.scoring import generation_scoring

    study = load_profile("study")
    models = ModelsSettings.from_profile(study)
    for name in ("gemma3-270m", "smollm2-135m-instruct"):
        assert prompt_format_for(models, name) == prompt_format_for(study["models"], name)
    paper = load_profile("paper")
    assert generation_scoring(EvaluateSettings.from_profile(paper)) == generation_scoring(
        paper["evaluate"]
    )
    typed = bpo_rewrite_params(BaselinesSettings.from_profile(paper), 64, 7)
    assert typed == bpo_rewrite_params(paper["baselines"], 64, 7) and not typed.greedy
