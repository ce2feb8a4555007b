"""FIPO Companion: the library behind the notebooks.

Every piece of logic the notebooks show lives in a stage subpackage here (``data``,
``models``, ``training``, ``inference``, ``evaluation``, ``analysis``, ``baselines``, on top
of ``runs``), so that the same code runs in JupyterLab, under papermill, from the ``fipo``
command line and in the tests. docs/ARCHITECTURE.md draws how they depend on each other.

The names below are the stable public API. They are imported on first use, so
``import fipo_utils`` stays fast and pulls in neither torch nor pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "load_pop": ("fipo_utils.data.pop", "load_pop"),
    "diversify": ("fipo_utils.data.diversify", "diversify_pop"),
    "load_benchmark": ("fipo_utils.data.benchmarks", "load_benchmark"),
    "make_generator": ("fipo_utils.models.generators", "make_generator"),
    "optimize_prompts": ("fipo_utils.inference.optimize", "optimize_prompts"),
    "is_correct": ("fipo_utils.evaluation.scoring", "is_correct"),
    "load_profile": ("fipo_utils.runs.profiles", "load_profile"),
}

__all__ = [
    "__version__",
    "diversify",
    "is_correct",
    "load_benchmark",
    "load_pop",
    "load_profile",
    "make_generator",
    "optimize_prompts",
]

if TYPE_CHECKING:
    from fipo_utils.data.benchmarks import load_benchmark
    from fipo_utils.data.diversify import diversify_pop as diversify
    from fipo_utils.data.pop import load_pop
    from fipo_utils.evaluation.scoring import is_correct
    from fipo_utils.inference.optimize import optimize_prompts
    from fipo_utils.models.generators import make_generator
    from fipo_utils.runs.profiles import load_profile


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'fipo_utils' has no attribute {name!r}")
    module, attribute = _API[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
