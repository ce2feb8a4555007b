"""One registry of prompt optimizers: every step that rewrites instructions resolves them here.

A prompt optimizer turns benchmark items into rewritten instructions. Notebook 05 (``fipo
optimize`` too), the baselines (08) and Table 8 (09) all ask :func:`get_optimizer` for one
by name and call :meth:`PromptOptimizer.rewrite`; none of them branches on names. A new
optimizer is one decorated factory, the way lm-evaluation-harness registers its models::

    @register_optimizer("my-rewriter", kind=OptimizerKind.REWRITER, summary="...")
    def build(name: str, context: OptimizerContext) -> PromptOptimizer: ...

Names that are not registered belong to the FIPO optimizer family: ``auto``, ``base``, a
checkpoint of the run (``checkpoints/<name>/final``), a path or a hub id
(:func:`register_fipo_family`). Modules register on import: this stage's built-ins live in
:mod:`fipo_utils.inference.optimizers`; the baselines stage registers its selectors and
searchers in :mod:`fipo_utils.baselines.optimizers`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from fipo_utils.data.benchmarks import BenchmarkItem
from fipo_utils.data.template import Template
from fipo_utils.inference.optimize import STRATEGY_ORDER, WordLimit
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import Generator
from fipo_utils.runs.names import split_seed

# the modules whose import registers this stage's optimizers
_BUILTIN_MODULES = ("fipo_utils.inference.optimizers",)


class OptimizerKind(StrEnum):
    """What an optimizer is, for tables and for the steps that pick optimizers by kind."""

    IDENTITY = "identity"  # the naive instruction as its own rewrite: the control
    # a meaning-preserving change of the prompt's bytes, re-scored by the tester: measures the
    # tester's prompt sensitivity and the evaluation's own noise
    CONTROL = "control"
    TRAINED = "trained"  # a FIPO optimizer: a trained checkpoint or the untrained base
    REWRITER = "rewriter"  # a fixed request to a general model (BPO-style)
    SELECTOR = "selector"  # picks among candidates with a reward model (Prompt-OIRL)
    SEARCH = "search"  # searches one instruction per task on dev items (APE, OPRO)


@dataclass(frozen=True)
class Rewrite:
    """One item's rewrite: the instruction a tester will see and how it came about."""

    prompt: str
    raw_output: str = ""  # the model's reply before cleaning ("" for no model)
    fell_back: bool = False  # the reply was empty after cleaning: the naive instruction kept
    word_limit: int | None = None  # the template's word limit G_N, for FIPO optimizers
    n_tokens: int = 0  # tokens the optimizer generated (to spot replies cut at the limit)
    details: Mapping[str, Any] = field(default_factory=dict)  # candidates, scores, ...


@dataclass
class OptimizerContext:
    """What a step gives every optimizer it builds.

    ``params`` is the decoding of FIPO rewrites, ``rewriter_params`` and
    ``rewriter_instruction`` those of the BPO-style rewriter. ``open_generator`` opens a
    model by name or path: the step decides caching and cost counting. ``resources`` carries
    what one step's optimizers share (a reward model, a tester, a search split).
    """

    run_dir: Path | None  # None outside a run (``fipo optimize``): no checkpoints to find
    base_model: str
    prompt_format: str
    params: GenerationParams
    open_generator: Callable[[str], Generator]
    template: Template | None = None
    word_limit: WordLimit = field(default_factory=WordLimit)
    rewriter_model: str | None = None
    rewriter_params: GenerationParams | None = None
    rewriter_instruction: str | None = None
    fipo_spec: str = "auto"  # the FIPO optimizer a selector samples from
    keep_options: bool = True  # rewrite a BBH question, re-attach its options (``questions``)
    stop_at_labels: bool = True  # FIPO rewrites end at the template's next label
    resources: dict[str, Any] = field(default_factory=dict)

    def resource(self, key: str) -> Any:
        """A shared resource the step put in ``resources``; an error names the missing key."""
        if key not in self.resources:
            raise KeyError(
                f"this step provides no {key!r} for its optimizers "
                f"(it has: {sorted(self.resources) or 'nothing'})"
            )
        return self.resources[key]


class PromptOptimizer(Protocol):
    """An optimizer as every step sees it."""

    @property
    def name(self) -> str:
        """The name its records carry (``optimized/<name>/``, ``predictions/<name>/``)."""
        ...

    @property
    def kind(self) -> OptimizerKind: ...

    @property
    def source(self) -> str:
        """What it is: a model path or a description."""
        ...

    @property
    def trained(self) -> bool:
        """A FIPO optimizer whose weights were trained (not the untrained base)."""
        ...

    @property
    def generator(self) -> Generator | None:
        """The model it rewrites with (opened on first use); ``None`` when it uses none."""
        ...

    def rewrite(self, items: Sequence[BenchmarkItem]) -> list[Rewrite]:
        """One rewrite per item, in order."""
        ...

    def close(self) -> None:
        """Release the optimizer's model (vLLM's engine process must be closed)."""
        ...


Factory = Callable[[str, OptimizerContext], PromptOptimizer]


@dataclass(frozen=True)
class Registration:
    name: str
    kind: OptimizerKind
    factory: Factory
    summary: str


_REGISTRY: dict[str, Registration] = {}
_FIPO_FAMILY: list[Factory] = []


def register_optimizer(
    name: str, *, kind: OptimizerKind, summary: str
) -> Callable[[Factory], Factory]:
    """Register ``factory`` under ``name``; a second registration of a name is an error."""

    def decorate(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"prompt optimizer {name!r} is registered twice")
        _REGISTRY[name] = Registration(name, kind, factory, summary)
        return factory

    return decorate


def register_fipo_family(factory: Factory) -> Factory:
    """Register the factory of every name that is not registered: FIPO optimizers."""
    if _FIPO_FAMILY:
        raise ValueError("the FIPO optimizer family is registered twice")
    _FIPO_FAMILY.append(factory)
    return factory


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def get_optimizer(name: str, context: OptimizerContext) -> PromptOptimizer:
    """The optimizer ``name`` names, built for ``context``."""
    _load_builtins()
    registration = _REGISTRY.get(name)
    if registration is not None:
        return registration.factory(name, context)
    return _FIPO_FAMILY[0](name, context)


def registration(name: str) -> Registration | None:
    """The registration of ``name``; ``None`` for names of the FIPO family."""
    _load_builtins()
    return _REGISTRY.get(name)


def registered_optimizers(kind: OptimizerKind | None = None) -> list[str]:
    """Registered names (of ``kind``), in registration order."""
    _load_builtins()
    return [name for name, reg in _REGISTRY.items() if kind is None or reg.kind == kind]


def trained_optimizers(run_dir: str | Path) -> list[str]:
    """The run's trained FIPO optimizers (``checkpoints/<name>/final``), in ``STRATEGY_ORDER``
    reversed (sft, dpo, ipo, ipl), then by name. BPO's rewriter (``checkpoints/bpo-*``) is
    another method and not among them."""
    root = Path(run_dir) / "checkpoints"
    names = [
        p.parent.name
        for p in root.glob("*/final")
        if (p / "config.json").is_file() and not p.parent.name.startswith("bpo-")
    ]
    rank = {strategy: i for i, strategy in enumerate(reversed(STRATEGY_ORDER))}
    return sorted(names, key=lambda n: (rank.get(n.split("-", 1)[0], len(rank)), n))


def resolve_optimizer(run_dir: str | Path | None, spec: str, base_model: str) -> tuple[str, str]:
    """(name, model path or id) of the optimizer a profile or user names.

    ``auto``: the most advanced ``checkpoints/<name>/final`` in the run folder (see
    ``STRATEGY_ORDER``; the profile seed's over extra seeds' ``<name>-seed<N>``, then the
    newest folder wins a tie), else the base model named ``base``.
    ``base``: the base model. A checkpoint name in the run folder, a path or a hub id
    otherwise (its name is the folder or id's last part).
    """
    checkpoints = Path(run_dir) / "checkpoints" if run_dir else None
    if spec == "auto":
        finals = sorted(checkpoints.glob("*/final")) if checkpoints and checkpoints.is_dir() else []
        finals = [f for f in finals if (f / "config.json").is_file()]
        for strategy in STRATEGY_ORDER:
            matching = [f for f in finals if f.parent.name.split("-", 1)[0] == strategy]
            if matching:
                best = max(
                    matching,
                    key=lambda f: (split_seed(f.parent.name)[1] is None, f.stat().st_mtime),
                )
                return best.parent.name, str(best)
        return "base", base_model
    if spec == "base":
        return "base", base_model
    if checkpoints and (checkpoints / spec / "final" / "config.json").is_file():
        return spec, str(checkpoints / spec / "final")
    return Path(spec.rstrip("/")).name or spec, spec


ALL = "all"


def expand_optimizer_spec(run_dir: str | Path, spec: str | Sequence[str]) -> list[str]:
    """The optimizers a setting names: ``all`` = the control, the untrained base, every
    trained checkpoint, then the rewriters; a list as given; one name (``auto`` included)
    as a one-item list."""
    if not isinstance(spec, str):
        return [str(name) for name in spec]
    if spec == ALL:
        return [
            *registered_optimizers(OptimizerKind.IDENTITY),
            "base",
            *trained_optimizers(run_dir),
            *registered_optimizers(OptimizerKind.REWRITER),
        ]
    return [spec]
