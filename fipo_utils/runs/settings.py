"""Typed settings of the profile sections the steps after training read: ``models``,
``infer`` (05), ``evaluate`` (06), ``baselines`` (08, 09) and ``analysis`` (07).

Each class has one ``from_profile(profile)`` that reads its section, applies the defaults
(this module is the one place they are written: :data:`DEFAULT_SEED`,
:data:`DEFAULT_PROMPT_FORMAT` and every field's default) and checks each value it takes
with the schema (:mod:`fipo_utils.runs.schema`); a wrong value is a
:class:`~fipo_utils.runs.errors.SettingsError` naming the profile and the dotted key, e.g.
``profile 'smoke': infer.max_new_tokens: expected an integer, got 'many'``. A key the
classes do not know is left alone, as the schema leaves it. Field names are the profile
keys. The classes live in ``runs`` (rank 0) so every stage can import them: ``models``
takes :class:`GenerationBackendSettings`, inference, evaluation, baselines and analysis
their own section.

Mappings that another stage types with its own defaults stay mappings here:
``word_limit`` (``fipo_utils.inference.optimize.WordLimit``), ``reward_model``
(``fipo_utils.baselines.oirl.reward_model.RewardModelConfig``) and the search budget
(``fipo_utils.baselines.search.candidates.SearchBudget``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self

from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.schema import check_value

DEFAULT_SEED = 2024
DEFAULT_PROMPT_FORMAT = "chat_template"

_MISSING: Any = object()


def profile_where(profile: Mapping[str, Any]) -> str:
    """How errors name a profile: ``profile 'smoke'``."""
    return f"profile {profile.get('name', '?')!r}"


def profile_seed(profile: Mapping[str, Any]) -> int:
    """The profile's top-level ``seed``; :data:`DEFAULT_SEED` when it is absent or null."""
    value = profile.get("seed")
    if value is None:
        return DEFAULT_SEED
    check_value("seed", value, profile_where(profile))
    return int(value)


class _Reader:
    """Typed reads of one section; errors name ``where`` and the dotted key."""

    def __init__(self, values: Any, where: str, path: str) -> None:
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise SettingsError(f"{where}: {path}: expected a mapping, got {values!r}")
        self.values = values
        self.where = where
        self.path = path

    def dotted(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.where}: {self.dotted(key)}: {problem}")

    def raw(self, key: str, default: Any) -> Any:
        value = self.values.get(key, default)
        if value is _MISSING:
            raise self.fail(key, "must be set (the profile has no value)")
        return value

    def _number(self, key: str, default: Any, nullable: bool, kind: type) -> Any:
        value = self.raw(key, default)
        if value is None:
            if nullable:
                return None
            raise self.fail(key, "must be set (null is not allowed here)")
        if isinstance(value, str):  # a number written as text, e.g. a notebook parameter
            try:
                value = kind(value)
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                raise self.fail(key, f"expected {noun}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            noun = "an integer" if kind is int else "a number"
            raise self.fail(key, f"expected {noun}, got {value!r}")
        if kind is int and not float(value).is_integer():
            raise self.fail(key, f"expected an integer, got {value!r}")
        check_value(key, value, self.where, self.dotted(key))
        return kind(value)

    def integer(self, key: str, default: Any = _MISSING) -> int:
        return self._number(key, default, False, int)

    def integer_or_none(self, key: str, default: Any = None) -> int | None:
        return self._number(key, default, True, int)

    def number(self, key: str, default: Any = _MISSING) -> float:
        return self._number(key, default, False, float)

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {value!r}")
        check_value(key, value, self.where, self.dotted(key))
        return value

    def text_or_none(self, key: str, default: Any = None) -> str | None:
        value = self.raw(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string or null, got {value!r}")
        check_value(key, value, self.where, self.dotted(key))
        return value

    def strings(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"expected a list of names, got {value!r}")
        return tuple(value)

    def strings_or_none(self, key: str) -> tuple[str, ...] | None:
        """A list of names; an empty list or null is ``None`` (the step's "all" / fallback)."""
        value = self.raw(key, None)
        if not value:
            return None
        return self.strings(key)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.raw(key, None)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a mapping, got {value!r}")
        return dict(value)

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw(key, _MISSING), self.where, self.dotted(key))


def _section(profile: Mapping[str, Any], name: str, required: bool = True) -> _Reader:
    where = profile_where(profile)
    if required and name not in profile:
        raise SettingsError(f"{where} has no section {name!r}")
    return _Reader(profile.get(name), where, name)


# --- models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelsSettings:
    """Profile section ``models``: which models play which part and how they are wrapped."""

    optimizer_base: str  # the FIPO optimizer before training (and default rewriter, judge)
    testers: tuple[str, ...]  # the models that answer naive and optimized prompts
    dtype: str = "float32"  # float32 | bfloat16 | float16
    # chat format of every model without an entry in ``prompt_formats``:
    # tulu | chat_template (the tokenizer's own) | raw (no wrapping)
    prompt_format: str = DEFAULT_PROMPT_FORMAT
    # per model where it differs, by name or by the last part of a path: {gemma3-270m: raw}
    prompt_formats: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> ModelsSettings:
        read = _section(profile, "models")
        formats = read.mapping("prompt_formats")
        for model, fmt in formats.items():
            check_value("prompt_format", fmt, read.where, f"models.prompt_formats.{model}")
        return cls(
            optimizer_base=read.text("optimizer_base"),
            testers=read.strings("testers"),
            dtype=read.text("dtype", "float32"),
            prompt_format=read.text("prompt_format", DEFAULT_PROMPT_FORMAT),
            prompt_formats={str(k): str(v) for k, v in formats.items()},
        )

    def format_for(self, model: str) -> str:
        """The chat format of ``model`` (:func:`format_for`)."""
        return format_for(self.prompt_formats, self.prompt_format, model)


def format_for(prompt_formats: Mapping[str, str], prompt_format: str, model: str) -> str:
    """The chat format of ``model``: its ``prompt_formats`` entry (by name or by the last part
    of a path), else ``prompt_format``."""
    for key in (model, str(model).rstrip("/").rsplit("/", 1)[-1]):
        if key in prompt_formats:
            return prompt_formats[key]
    return prompt_format


# --- generation ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GenerationBackendSettings:
    """The keys of a step section (``infer``, ``evaluate``, ``baselines``) that choose and
    size the generation backend (``fipo_utils.models.generators.generator_from_settings``)."""

    backend: str = "transformers"  # transformers | vllm
    batch_size: int = 8
    tensor_parallel_size: int = 1  # vllm only
    backend_options: dict[str, Any] = field(default_factory=dict)  # vLLM engine arguments
    batching: str = "static"  # transformers: static padded batches | continuous

    @classmethod
    def from_mapping(
        cls, section: Mapping[str, Any] | None, where: str = "settings", path: str = ""
    ) -> GenerationBackendSettings:
        """From one section's mapping (``where`` and ``path`` name it in errors)."""
        return cls(**_backend_values(_Reader(section, where, path)))

    def backend_settings(self) -> GenerationBackendSettings:
        """Only the backend part (a step's settings object is one too)."""
        return GenerationBackendSettings(
            backend=self.backend,
            batch_size=self.batch_size,
            tensor_parallel_size=self.tensor_parallel_size,
            backend_options=dict(self.backend_options),
            batching=self.batching,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class StepSettings(GenerationBackendSettings):
    """A step's section typed from a profile: ``SECTION`` names its key, and every step
    types it the same way (defaults applied, wrong values named by their profile key)."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> Self:
        return cls.from_section(profile.get(cls.SECTION), profile)

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None, profile: Mapping[str, Any]) -> Self:
        """From ``section`` (the profile's section with notebook overrides applied)."""
        return cls._from_reader(_Reader(section, profile_where(profile), cls.SECTION), profile)

    @classmethod
    def of(cls, profile: Mapping[str, Any], settings: Self | Mapping[str, Any]) -> Self:
        """``settings`` typed: as given when typed, else the section mapping a notebook
        passed (overrides applied), typed with the profile's defaults."""
        if isinstance(settings, Mapping):
            return cls.from_section(settings, profile)
        return settings

    @classmethod
    def _from_reader(cls, read: _Reader, profile: Mapping[str, Any]) -> Self:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class DecodingStepSettings(StepSettings):
    """A step section that sets its own decoding (``infer``, ``evaluate``)."""

    max_new_tokens: int
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = DEFAULT_SEED  # the section's ``seed``, else the profile's


def _backend_values(read: _Reader) -> dict[str, Any]:
    return {
        "backend": read.text("backend", "transformers"),
        "batch_size": read.integer("batch_size", 8),
        "tensor_parallel_size": read.integer("tensor_parallel_size", 1),
        "backend_options": read.mapping("backend_options"),
        "batching": read.text("batching", "static"),
    }


def _generation_values(read: _Reader, seed: int) -> dict[str, Any]:
    """Decoding keys; a null temperature or top-p takes greedy's 0.0 / 1.0, and a section
    ``seed`` that is null or 0 takes the profile's."""
    temperature = read.raw("temperature", None)
    top_p = read.raw("top_p", None)
    return {
        "max_new_tokens": read.integer("max_new_tokens"),
        "temperature": read.number("temperature") if temperature else 0.0,
        "top_p": read.number("top_p") if top_p else 1.0,
        "seed": read.integer_or_none("seed") or seed,
    }


def _n_items(read: _Reader, key: str = "n_items") -> int | dict[str, int] | None:
    """Items per benchmark: a count for all, ``{benchmark: count}``, or null (all items)."""
    value = read.raw(key, None)
    if isinstance(value, Mapping):
        counts = _Reader(value, read.where, read.dotted(key))
        return {str(name): counts.integer(str(name)) for name in value}
    return read.integer_or_none(key)


# --- infer (05) ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InferSettings(DecodingStepSettings):
    """Profile section ``infer`` (notebook 05): optimizers rewrite the benchmarks' prompts."""

    optimizer: str | tuple[str, ...]  # a name, ``auto``, ``all`` or a list of names
    benchmarks: tuple[str, ...]  # names or families (``bbh`` = all 27 tasks)
    n_items: int | dict[str, int] | None = None  # per benchmark; null = the full test set
    sample_seed: int | None = None  # seeded sample of n_items; null = the first n_items
    template: str | None = None  # null = the project's template; or a prompts.json path
    word_limit: dict[str, Any] = field(default_factory=dict)  # WordLimit's keyword arguments
    rewriter: str | None = None  # the bpo-style optimizer; null = models.optimizer_base
    # rewrite a BBH input's question and re-attach its options block verbatim; false
    # rewrites the whole input, options included
    keep_options: bool = True
    # end FIPO rewrites at the template's next label (``label_stops``); false = only the
    # token limit, as the original test script
    stop_at_labels: bool = True
    SECTION: ClassVar[str] = "infer"

    @classmethod
    def _from_reader(cls, read: _Reader, profile: Mapping[str, Any]) -> Self:
        optimizer = read.raw("optimizer", _MISSING)
        return cls(
            **_backend_values(read),
            optimizer=optimizer if isinstance(optimizer, str) else read.strings("optimizer"),
            benchmarks=read.strings("benchmarks"),
            n_items=_n_items(read),
            sample_seed=read.integer_or_none("sample_seed"),
            template=read.text_or_none("template"),
            word_limit=read.mapping("word_limit"),
            rewriter=read.text_or_none("rewriter"),
            keep_options=read.flag("keep_options", True),
            stop_at_labels=read.flag("stop_at_labels", True),
            **_generation_values(read, profile_seed(profile)),
        )


# --- evaluate (06) ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings(DecodingStepSettings):
    """Profile section ``evaluate`` (notebook 06): testers answer naive and optimized prompts."""

    optimizers: tuple[str, ...] | None = None  # null = every folder under optimized/
    benchmarks: tuple[str, ...] | None = None  # null = every benchmark 05 rewrote
    testers: tuple[str, ...] | None = None  # null = models.testers
    # multiple choice: letter | generate | continuation, or a list (the first is primary);
    # null = letter
    mc_scoring: str | tuple[str, ...] | None = None
    scoring: str = "strict"  # generation benchmarks' primary verdict: strict | lenient
    # what the primary reading does with an invalid rewrite (its validity record): keep it
    # as written (the paper) | naive (score the naive prompt instead) | drop (leave the item
    # out of that optimizer's cells)
    invalid_rewrites: str = "keep"
    SECTION: ClassVar[str] = "evaluate"

    @classmethod
    def _from_reader(cls, read: _Reader, profile: Mapping[str, Any]) -> Self:
        mc = read.raw("mc_scoring", None)
        return cls(
            **_backend_values(read),
            optimizers=read.strings_or_none("optimizers"),
            benchmarks=read.strings_or_none("benchmarks"),
            testers=read.strings_or_none("testers"),
            mc_scoring=mc if mc is None or isinstance(mc, str) else read.strings("mc_scoring"),
            scoring=read.text("scoring", "strict"),
            invalid_rewrites=read.text("invalid_rewrites", "keep"),
            **_generation_values(read, profile_seed(profile)),
        )

    def tester_names(self, models: ModelsSettings) -> tuple[str, ...]:
        """``testers``, else ``models.testers``."""
        return self.testers or models.testers


# --- baselines (08, 09) ----------------------------------------------------------------


@dataclass(frozen=True)
class BpoSettings:
    """``baselines.bpo`` (notebook 08): BPO trained and judged as BPO evaluated it."""

    test_sets: tuple[str, ...]  # of bpo_test, dolly_eval, self_instruct_eval, vicuna_eval
    answer_max_new_tokens: int
    template: str = "project"  # project | original (BPO's request and sampling)
    train: bool = False  # SFT a rewriter on ``pairs`` (checkpoints/bpo-sft)
    pairs: str | None = None  # BPO pairs, relative to FIPO_DATA_DIR
    train_rows: int | None = None  # null = all pairs
    train_steps: int | None = None  # null = the sft section's epochs
    n_prompts: int | None = None  # per test set; null = all
    responder: str | None = None  # null = the first of models.testers
    judge: str | None = None  # null = models.optimizer_base

    @classmethod
    def from_reader(cls, read: _Reader) -> BpoSettings:
        train = read.flag("train", False)
        return cls(
            test_sets=read.strings("test_sets"),
            answer_max_new_tokens=read.integer("answer_max_new_tokens"),
            template=read.text_or_none("template") or "project",
            train=train,
            pairs=read.text("pairs") if train else read.text_or_none("pairs"),
            train_rows=read.integer_or_none("train_rows"),
            train_steps=read.integer_or_none("train_steps"),
            n_prompts=read.integer_or_none("n_prompts"),
            responder=read.text_or_none("responder"),
            judge=read.text_or_none("judge"),
        )

    def responder_name(self, models: ModelsSettings) -> str:
        return self.responder or models.testers[0]

    def judge_name(self, models: ModelsSettings) -> str:
        return self.judge or models.optimizer_base


@dataclass(frozen=True)
class OirlSettings:
    """``baselines.oirl``: the Prompt-OIRL table (``fipo oirl``, notebook 08)."""

    datasets: tuple[str, ...]
    splits: tuple[str, ...]  # original | leak-free
    max_train_rows: int | None = None  # null = all
    max_test_rows: int | None = None
    seeds: tuple[int, ...] | None = None  # one reward model per seed; null = the profile seed
    reward_model: dict[str, Any] = field(default_factory=dict)  # RewardModelConfig arguments

    @classmethod
    def from_reader(cls, read: _Reader) -> OirlSettings:
        seeds = read.raw("seeds", None)
        if seeds is not None:
            if not isinstance(seeds, list | tuple):
                raise read.fail("seeds", f"expected a list of integers, got {seeds!r}")
            each = _Reader(
                {str(i): s for i, s in enumerate(seeds)}, read.where, read.dotted("seeds")
            )
            seeds = tuple(each.integer(str(i)) for i in range(len(seeds)))
        return cls(
            datasets=read.strings("datasets"),
            splits=read.strings("splits"),
            max_train_rows=read.integer_or_none("max_train_rows"),
            max_test_rows=read.integer_or_none("max_test_rows"),
            seeds=seeds,
            reward_model=read.mapping("reward_model"),
        )


SEARCH_KEYS = ("tasks", "n_items", "proposer", "cache_generations", "fipo_optimizers")


@dataclass(frozen=True)
class SearchSettings:
    """``baselines.search`` (notebook 09): APE, OPRO and the Table 8 run."""

    tasks: tuple[str, ...]  # BBH tasks of Table 8
    n_items: int | None = None  # test items per task after the search items; null = all
    proposer: str | None = None  # proposes instructions; null = models.optimizer_base
    cache_generations: bool = False  # true reuses cached answers (the cost column undercounts)
    # FIPO rows of Table 8: `all` = every trained optimizer of the run (else the base);
    # `auto`, `base` or a checkpoint name = that one optimizer (as 08's `fipo_optimizer`)
    fipo_optimizers: str = "all"
    # every other key as written: SearchBudget.from_settings types them (and rejects unknown
    # ones): n_demos, dev_size, n_candidates, resample_rounds, n_steps, per_step, keep_top,
    # propose_max_new_tokens, temperature, top_p
    budget: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_reader(cls, read: _Reader) -> SearchSettings:
        budget = {k: v for k, v in read.values.items() if k not in SEARCH_KEYS}
        for key, value in budget.items():
            check_value(str(key), value, read.where, read.dotted(str(key)))
        return cls(
            tasks=read.strings("tasks"),
            n_items=read.integer_or_none("n_items"),
            proposer=read.text_or_none("proposer"),
            cache_generations=read.flag("cache_generations", False),
            fipo_optimizers=read.text_or_none("fipo_optimizers") or "all",
            budget=budget,
        )

    def proposer_name(self, models: ModelsSettings) -> str:
        return self.proposer or models.optimizer_base


@dataclass(frozen=True, kw_only=True)
class BaselinesSettings(StepSettings):
    """Profile section ``baselines`` (notebooks 08 and 09)."""

    benchmark: str  # the benchmark of BPO-style, Prompt-OIRL and FIPO x OIRL rows
    n_items: int | None = None  # null = the full test set
    sample_seed: int | None = None
    rewriter: str | None = None  # BPO-style rewriter; null = models.optimizer_base
    fipo_optimizer: str = "auto"  # auto = the best checkpoints/*/final, else the base model
    n_candidates: int  # FIPO x OIRL: sampled rewrites per question
    candidate_temperature: float
    candidate_top_p: float
    optimizer_max_new_tokens: int
    tester_max_new_tokens: int | None = None  # null = evaluate.max_new_tokens
    testers: tuple[str, ...] | None = None  # null = models.testers
    template: str | None = None
    word_limit: dict[str, Any] = field(default_factory=dict)  # WordLimit's keyword arguments
    bpo_pairs: str | None = None  # BPO pairs -> DPO rows (relative to FIPO_DATA_DIR)
    reward_logs: str = "gsm8k"  # Prompt-OIRL logs the reranking reward model learns from
    reward_train_rows: int | None = None  # null = all training rows
    reward_model: dict[str, Any] = field(default_factory=dict)  # RewardModelConfig arguments
    bpo: BpoSettings
    oirl: OirlSettings
    search: SearchSettings
    seed: int = DEFAULT_SEED  # the profile's seed (the section has none of its own)

    SECTION: ClassVar[str] = "baselines"

    @classmethod
    def _from_reader(cls, read: _Reader, profile: Mapping[str, Any]) -> Self:
        return cls(
            **_backend_values(read),
            benchmark=read.text("benchmark"),
            n_items=read.integer_or_none("n_items"),
            sample_seed=read.integer_or_none("sample_seed"),
            rewriter=read.text_or_none("rewriter"),
            fipo_optimizer=read.text_or_none("fipo_optimizer") or "auto",
            n_candidates=read.integer("n_candidates"),
            candidate_temperature=read.number("candidate_temperature"),
            candidate_top_p=read.number("candidate_top_p"),
            optimizer_max_new_tokens=read.integer("optimizer_max_new_tokens"),
            tester_max_new_tokens=read.integer_or_none("tester_max_new_tokens"),
            testers=read.strings_or_none("testers"),
            template=read.text_or_none("template"),
            word_limit=read.mapping("word_limit"),
            bpo_pairs=read.text_or_none("bpo_pairs"),
            reward_logs=read.text("reward_logs", "gsm8k"),
            reward_train_rows=read.integer_or_none("reward_train_rows"),
            reward_model=read.mapping("reward_model"),
            bpo=BpoSettings.from_reader(read.sub("bpo")),
            oirl=OirlSettings.from_reader(read.sub("oirl")),
            search=SearchSettings.from_reader(read.sub("search")),
            seed=profile_seed(profile),
        )

    def tester_names(self, models: ModelsSettings) -> tuple[str, ...]:
        """``testers``, else ``models.testers``."""
        return self.testers or models.testers

    def rewriter_name(self, models: ModelsSettings) -> str:
        return self.rewriter or models.optimizer_base


# --- analysis (07) ---------------------------------------------------------------------


# The paper's scorings (FIPO §3.1.2): option-letter log-probability for multiple choice, the
# strict answer template for generation. ``analysis.primary`` declares a study's own.
PAPER_PRIMARY = {"multiple_choice": "letter", "generation": "strict"}


def _primary(read: _Reader) -> dict[str, str]:
    """``analysis.primary``: the primary scoring per kind of benchmark, both kinds named."""
    given = read.mapping("primary") or dict(PAPER_PRIMARY)
    if set(given) != set(PAPER_PRIMARY) or not all(isinstance(v, str) for v in given.values()):
        raise read.fail(
            "primary",
            f"expected {{multiple_choice: <scoring>, generation: <scoring>}}, got {given!r}",
        )
    return {str(k): str(v) for k, v in given.items()}


@dataclass(frozen=True)
class AnalysisSettings:
    """Profile section ``analysis`` (notebook 07, ``fipo figures``, ``fipo compare``)."""

    confidence: float = 0.95
    table2_reference_tester: str = "Tulu2-13B"  # published row beside an unpublished tester
    table8_reference_tester: str = "Tulu2-7B"
    figures_dir: str | None = None  # also copy the figures here; null = the run folder only
    # the study's primary endpoint, declared before the run; every other scoring is secondary
    primary: Mapping[str, str] = field(default_factory=lambda: dict(PAPER_PRIMARY))

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> AnalysisSettings:
        read = _section(profile, "analysis", required=False)
        return cls(
            confidence=read.number("confidence", 0.95),
            table2_reference_tester=read.text("table2_reference_tester", "Tulu2-13B"),
            table8_reference_tester=read.text("table8_reference_tester", "Tulu2-7B"),
            figures_dir=read.text_or_none("figures_dir"),
            primary=_primary(read),
        )


# --- training gate (02-04) ---------------------------------------------------------------


@dataclass(frozen=True)
class GateSettings:
    """Profile section ``gate``: what a trained optimizer must show on held-out rows before
    tables and figures call it trained (``fipo_utils.training.gate``).

    Each threshold is the least gain over the untrained base that passes: a model identical
    to its base gains 0 everywhere, so positive loss and margin thresholds fail it.
    """

    n_rewrites: int = 8  # held-out naive prompts rewritten by base and trained (similarity)
    min_loss_drop: float = 0.01  # held-out loss, nats per token: base minus trained
    min_accuracy_gain: float = 0.0  # held-out preference accuracy: trained minus base
    min_margin_gain: float = 1.0  # mean log-prob margin chosen - rejected, nats: the same
    min_similarity_gain: float = 0.0  # MiniLM cosine of rewrites to the references: the same
    min_differ_share: float = 0.5  # benchmark rewrites (05) that differ from the base's
    min_reward_gain: float = 0.01  # GRPO: mean dev reward, trained minus the untrained policy

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any]) -> GateSettings:
        read = _section(profile, "gate", required=False)
        return cls(
            n_rewrites=read.integer("n_rewrites", cls.n_rewrites),
            min_loss_drop=read.number("min_loss_drop", cls.min_loss_drop),
            min_accuracy_gain=read.number("min_accuracy_gain", cls.min_accuracy_gain),
            min_margin_gain=read.number("min_margin_gain", cls.min_margin_gain),
            min_similarity_gain=read.number("min_similarity_gain", cls.min_similarity_gain),
            min_differ_share=read.number("min_differ_share", cls.min_differ_share),
            min_reward_gain=read.number("min_reward_gain", cls.min_reward_gain),
        )
