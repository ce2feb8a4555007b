"""One schema for notebook parameters and profile values: names, types and ranges.

Both places use the same key names (a notebook's ``max_steps`` parameter overrides the
profile's ``train.max_steps``), so one table says what each may hold. A value is checked
where it enters: profiles when loaded (every section, nested ones too), notebook parameters
before the step runs (:func:`fipo_utils.runs.runner.run_notebook`), training overrides when
the settings are built. A key the table does not know is left to the step that reads it
(so are open-ended choices such as ``backend`` and ``mc_scoring``, which their stages check
against the backends and scorers they offer).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.names import component_problem, model_name_problem

# seeds feed numpy and torch generators, which take 0 .. 2**32 - 1
SEED_MAX = 2**32 - 1


@dataclass(frozen=True)
class Field:
    """What one key may hold. ``kind`` is ``int``, ``float``, ``bool``, ``choice``, ``name``
    (one safe path component, :mod:`fipo_utils.runs.names`), ``model`` (a model name,
    folder or hub id whose last part is a safe name) or ``benchmark`` (``family`` or
    ``family/task``). ``shape`` is ``one`` (a single value), ``list`` (a YAML list of them)
    or ``either``."""

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False  # ``None`` has a meaning (all rows, the profile's value, ...)
    shape: str = "one"
    per_name: bool = False  # may also be a mapping of names (benchmarks, ...) to values

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or ``None`` when it does."""
        if value is None:
            return None if self.nullable else "must be set (null is not allowed here)"
        if isinstance(value, list):
            if self.shape == "one":
                return f"expected one value, got a list {value!r}"
            for index, item in enumerate(value):
                problem = self._item_problem(item)
                if problem:
                    return f"item {index}: {problem}"
            return None
        if self.shape == "list":
            return f"expected a list (e.g. [{value!r}]), got {value!r}"
        return self._item_problem(value)

    def _item_problem(self, value: Any) -> str | None:
        if self.kind in _TEXT_KINDS:
            return _TEXT_KINDS[self.kind](value)
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.kind == "choice":
            if value in self.choices:
                return None
            return f"expected one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            noun = "an integer" if self.kind == "int" else "a number"
            return f"expected {noun}, got {value!r}"
        if self.kind == "int" and not isinstance(value, int):
            return f"expected an integer, got {value!r} (write it without a decimal point)"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                return f"must be greater than {_bound(self.minimum)}, got {value!r}"
            if not self.exclusive_minimum and value < self.minimum:
                return f"must be {_bound(self.minimum)} or more, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be {_bound(self.maximum)} or less, got {value!r}"
        return None


def _bound(value: float) -> str:
    """A range bound as written: ``4294967295``, ``0.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _benchmark_problem(value: Any) -> str | None:
    """``gsm8k`` or ``bbh/navigate``: each part one safe name (the loaders check that the
    benchmark exists; here only that its name cannot lead out of a folder)."""
    if not isinstance(value, str):
        return f"expected a benchmark name, got {value!r}"
    parts = value.split("/")
    if len(parts) > 2:
        return f"{value!r} is not a benchmark name (a family, or family/task)"
    for part in parts:
        problem = component_problem(part)
        if problem:
            return problem
    return None


_TEXT_KINDS: dict[str, Callable[[Any], str | None]] = {
    "name": component_problem,
    "model": model_name_problem,
    "benchmark": _benchmark_problem,
}


def _count(minimum: int = 1, nullable: bool = False) -> Field:
    return Field("int", minimum=minimum, nullable=nullable)


def _share(nullable: bool = False) -> Field:
    return Field("float", minimum=0.0, maximum=1.0, nullable=nullable)


_POSITIVE = Field("float", minimum=0.0, exclusive_minimum=True)
_TEMPERATURE = Field("float", minimum=0.0)
_TOP_P = Field("float", minimum=0.0, maximum=1.0, exclusive_minimum=True)
_FLAG = Field("bool")
_SEED = Field("int", minimum=0, maximum=SEED_MAX, nullable=True)

SCHEMA: dict[str, Field] = {
    # training (02-04)
    "lora": _FLAG,
    "max_rows": _count(nullable=True),
    "max_steps": Field("int", minimum=-1),  # -1: run the epochs
    "batch_size": _count(),
    "grad_accum": _count(),
    "global_batch": _count(nullable=True),  # null: grad_accum as given
    "learning_rate": _POSITIVE,
    "epochs": _POSITIVE,
    "warmup_ratio": _share(),
    "weight_decay": Field("float", minimum=0.0),
    "max_length": _count(),
    "max_prompt_length": _count(),
    "beta": _POSITIVE,
    "ipo_variant": Field("choice", choices=("summed", "averaged")),
    "precompute_ref_log_probs": _FLAG,
    "packing": _FLAG,
    "bf16": _FLAG,
    "gradient_checkpointing": _FLAG,
    "logging_steps": _count(),
    "save_steps": _count(),
    "save_total_limit": _count(),
    "strategy": Field("choice", choices=("sft", "dpo", "ipo")),
    "loss": Field("choice", choices=("dpo", "ipo")),
    "rounds": _count(),
    "answer_max_new_tokens": _count(),
    "judge_holdout": _share(),
    "drop_discrimination": _share(),
    "generation_batch_size": _count(),
    "judge_orders": Field("choice", choices=("both", "single")),
    "n_rewrites": _count(minimum=0),
    # data (01)
    "mode": Field("choice", choices=("fixed", "faithful")),
    "variant": Field("choice", choices=("full", "gen", "partial")),
    "max_records": _count(nullable=True),
    "keep_duplicate_ids": _FLAG,
    "rejected": Field("choice", choices=("unchanged", "base_rewrite")),
    # models, generation, evaluation (05-08)
    "prompt_format": Field("choice", choices=("tulu", "chat_template", "raw")),
    "dtype": Field("choice", choices=("float32", "bfloat16", "float16")),
    "tensor_parallel_size": _count(),
    "n_items": Field("int", minimum=1, nullable=True, per_name=True),
    "max_new_tokens": _count(),
    "optimizer_max_new_tokens": _count(),
    "tester_max_new_tokens": _count(),
    "temperature": _TEMPERATURE,
    "candidate_temperature": _TEMPERATURE,
    "top_p": _TOP_P,
    "candidate_top_p": _TOP_P,
    "n_candidates": _count(),
    "reward_train_rows": _count(nullable=True),
    "max_train_rows": _count(nullable=True),
    "max_test_rows": _count(nullable=True),
    "max_depth": _count(),
    "keep_options": _FLAG,
    "stop_at_labels": _FLAG,
    "invalid_rewrites": Field("choice", choices=("keep", "naive", "drop")),
    "n_rounds": _count(),
    # analysis (07)
    "confidence": Field("float", minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "seed": _SEED,
    "sample_seed": _SEED,
    "seeds": Field("int", minimum=0, maximum=SEED_MAX, shape="list"),
    # names that become files or folders in the run (runs/names.py)
    "name": Field("name", nullable=True),
    "optimizer": Field("model", shape="either"),  # a name, auto, all, or a list of them
    "optimizers": Field("name", nullable=True, shape="list"),
    "fipo_optimizer": Field("model", nullable=True),
    "optimizer_base": Field("model"),
    "base_model": Field("model", nullable=True),
    "rewriter": Field("model", nullable=True),
    "proposer": Field("model", nullable=True),
    "responder": Field("model", nullable=True),
    "judge": Field("model", nullable=True),
    "testers": Field("model", nullable=True, shape="list"),
    "benchmarks": Field("benchmark", nullable=True, shape="list"),
    "tasks": Field("name", nullable=True, shape="list"),
    # LoRA (train.lora_settings)
    "r": _count(),
    "alpha": _POSITIVE,
    "dropout": Field("float", minimum=0.0, maximum=1.0),
}


def check_value(key: str, value: Any, where: str, path: str | None = None) -> None:
    """Raise :class:`SettingsError` naming ``where`` and the key's ``path`` if the schema
    rejects ``value``; keys the schema does not know pass."""
    field = SCHEMA.get(key)
    problem = field.problem(value) if field else None
    if problem:
        raise SettingsError(f"{where}: {path or key}: {problem}")


def check_mapping(
    values: dict[str, Any], where: str, allow_none: bool = False, path: str = ""
) -> None:
    """Check every known key of ``values``, descending into nested sections.

    ``allow_none``: notebook parameters, where ``None`` means "take the profile's value".
    """
    for key, value in values.items():
        dotted = f"{path}.{key}" if path else str(key)
        field = SCHEMA.get(str(key))
        if isinstance(value, dict) and field is not None and field.per_name:
            for name, each in value.items():
                check_value(str(key), each, where, f"{dotted}.{name}")
        elif isinstance(value, dict) and field is not None:
            raise SettingsError(f"{where}: {dotted}: expected one value, got a mapping")
        elif isinstance(value, dict):
            check_mapping(value, where, allow_none, dotted)
        elif not (allow_none and value is None):
            check_value(str(key), value, where, dotted)


def check_parameter_names(given: list[str], known: list[str], notebook: str) -> None:
    """A parameter the notebook does not declare is an error (a typo would be ignored)."""
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise SettingsError(
        f"notebook {notebook} has no parameter {name!r}; {hint}its parameters: {', '.join(known)}"
    )


def argument_type(key: str) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` for a command-line flag holding the schema's ``key``: a bad
    value is reported by argparse as ``argument --flag: ...``, before anything runs."""
    import argparse

    field = SCHEMA[key]

    def parse(text: str) -> Any:
        try:
            value = int(text) if field.kind == "int" else float(text)
        except ValueError:
            noun = "an integer" if field.kind == "int" else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        problem = field.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = key  # argparse names the type in some messages
    return parse
