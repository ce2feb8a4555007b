"""A small in-process pool of loaded inference models, so one process loads a model once.

Notebook 08 asks for the same model as rewriter and again as tester, evaluation asks for each
tester, and a researcher re-running a notebook cell asks again: without a pool each request
loads the weights from disk anew (seconds on CPU for SmolLM2, minutes for a 13B model).
``make_generator(..., backend="transformers")`` takes its model from here.

The pool is keyed by the resolved source, dtype, device, ``trust_remote_code`` *and* the
weights' identity (``generation_cache.model_identity``: the size and mtime of every weight
and config file of a local folder), so a checkpoint folder rewritten by a later training is
loaded again rather than served stale.

It is bounded and least-recently-used: by default it keeps one model, because two big GPU
models must not pile up. Using the same model again reuses it; asking for another one evicts
the older one and frees its memory before the new one loads. ``FIPO_MODEL_POOL_SIZE`` (or
``set_capacity``) changes the size; 0 turns pooling off (every request loads a fresh copy).

Only inference shares models. Pooled models are in eval mode and must not be changed by a
caller: training (``train.py``, ``ipl.py``) mutates weights and loads its own copies with
``models.load_model``. ``TransformersGenerator`` sets the tokenizer's pad token and left
padding, which ``load_tokenizer`` already did, so sharing a tokenizer between generators is
safe.
"""

from __future__ import annotations

import gc
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from fipo_utils.models.cache import model_identity

if TYPE_CHECKING:
    import torch

    from fipo_utils.models.loading import LoadedModel

ENV_CAPACITY = "FIPO_MODEL_POOL_SIZE"
DEFAULT_CAPACITY = 1


class PoolKey(NamedTuple):
    source: str  # resolved folder or hub id
    dtype: str
    device: str | None
    trust_remote_code: bool
    identity: str  # weights identity: a rewritten checkpoint folder is another key


_models: OrderedDict[PoolKey, LoadedModel] = OrderedDict()
_capacity_override: int | None = None
_lock = threading.RLock()


def capacity() -> int:
    """How many models the pool keeps: ``set_capacity``'s value, else the env var, else 1."""
    if _capacity_override is not None:
        return _capacity_override
    raw = os.environ.get(ENV_CAPACITY, "").strip()
    if not raw:
        return DEFAULT_CAPACITY
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_CAPACITY}={raw!r} is not a whole number (0 disables)") from None
    if value < 0:
        raise ValueError(f"{ENV_CAPACITY}={raw!r} must be 0 or more (0 disables)")
    return value


def set_capacity(size: int | None) -> None:
    """Keep at most ``size`` models (0 disables pooling; ``None`` = back to the env var)."""
    global _capacity_override
    if size is not None and size < 0:
        raise ValueError(f"pool capacity must be 0 or more, not {size}")
    with _lock:
        _capacity_override = size
        if _evict(capacity()):
            release_memory()


def clear() -> None:
    """Drop every pooled model and free its memory (callers' own references stay valid)."""
    with _lock:
        if _evict(0):
            release_memory()


def pooled_keys() -> list[PoolKey]:
    """The keys held now, least recently used first."""
    with _lock:
        return list(_models)


def pool_key(
    name_or_path: str,
    dtype: str | torch.dtype = "float32",
    device: str | None = None,
    trust_remote_code: bool = False,
) -> PoolKey:
    from fipo_utils.models.loading import resolve_model_path

    source = resolve_model_path(name_or_path)
    dtype_name = dtype if isinstance(dtype, str) else str(dtype).removeprefix("torch.")
    return PoolKey(source, dtype_name, device, trust_remote_code, model_identity(source))


def get_model(
    name_or_path: str,
    dtype: str | torch.dtype = "float32",
    device: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """The loaded model for these settings: from the pool when present, else loaded now.

    A load first evicts least recently used models (and any older version of the same
    folder, which can never be asked for again) and frees their memory, so the new weights
    do not have to fit beside the old ones. The caller must drop its own references to an
    evicted model (e.g. ``del generator``) for that memory to actually be released.
    """
    from fipo_utils.models import loading as models

    key = pool_key(name_or_path, dtype, device, trust_remote_code)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        size = capacity()
        stale = [k for k in _models if k[:4] == key[:4]]
        for old in stale:
            del _models[old]
        evicted = _evict(max(size - 1, 0))
        if stale or evicted or size == 0:
            # With pooling off, this frees what a caller released since its last load.
            release_memory()
        loaded = models.load_model(
            key.source, dtype=key.dtype, device=device, trust_remote_code=trust_remote_code
        )
        if size > 0:
            _models[key] = loaded
        return loaded


def _evict(keep: int) -> bool:
    """Drop least recently used entries until at most ``keep`` remain; True if any went."""
    dropped = False
    while len(_models) > keep:
        _models.popitem(last=False)
        dropped = True
    return dropped


def release_memory() -> None:
    """Collect garbage (model objects can sit in reference cycles) and return freed CUDA
    blocks to the driver, so the next model (or another process) can use them."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
