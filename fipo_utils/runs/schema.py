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


@dataclass(frozen=True)
class Field:
    """What one key may hold. ``kind`` is ``int``, ``float``, ``bool`` or ``choice``."""

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False  # ``None`` has a meaning (all rows, the profile's value, ...)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or ``None`` when it does."""
        if value is None:
            return None if self.nullable else "must be set (null is not allowed here)"
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.kind == "choice":
            if value in self.choices:
                return None
            return f"expected one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            noun = "an integer" if self.kind == "int" else "a number"
            return f"expected {noun}, got {value!r}"
        if self.kind == "int" and not float(value).is_integer():
            return f"expected an integer, got {value!r}"
        if not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                return f"must be greater than {self.minimum:g}, got {value!r}"
            if not self.exclusive_minimum and value < self.minimum:
                return f"must be {self.minimum:g} or more, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be {self.maximum:g} or less, got {value!r}"
        return None


def _count(minimum: int = 1, nullable: bool = False) -> Field:
    return Field("int", minimum=minimum, nullable=nullable)


def _share(nullable: bool = False) -> Field:
    return Field("float", minimum=0.0, maximum=1.0, nullable=nullable)


_POSITIVE = Field("float", minimum=0.0, exclusive_minimum=True)
_TEMPERATURE = Field("float", minimum=0.0)
_TOP_P = Field("float", minimum=0.0, maximum=1.0, exclusive_minimum=True)
_FLAG = Field("bool")

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
    # data (01)
    "mode": Field("choice", choices=("fixed", "faithful")),
    "variant": Field("choice", choices=("full", "gen", "partial")),
    "max_records": _count(nullable=True),
    "keep_duplicate_ids": _FLAG,
    # models, generation, evaluation (05-08)
    "prompt_format": Field("choice", choices=("tulu", "chat_template", "raw")),
    "dtype": Field("choice", choices=("float32", "bfloat16", "float16")),
    "tensor_parallel_size": _count(),
    "n_items": _count(nullable=True),
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
    "n_rounds": _count(),
    # analysis (07)
    "bootstrap_replicates": _count(),
    "confidence": Field("float", minimum=0.0, maximum=1.0, exclusive_minimum=True),
    "seed": Field("int", nullable=True),
    "sample_seed": Field("int", nullable=True),
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
        if isinstance(value, dict):
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
