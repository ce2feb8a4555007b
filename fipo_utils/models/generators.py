"""Pick a generation backend by name and put the on-disk cache in front of it.

Every caller (optimizer inference, testers, IPL) asks for ``make_generator(model, backend)``
and gets one object with ``generate(prompts, params) -> list[str]`` and
``option_logprobs(prompts, options) -> list[list[float]]``, whichever backend runs below
(the transformers backend adds ``loglikelihood(requests)`` for continuation scoring).
vLLM is imported only when chosen, so CPU machines without it never touch it;
``vllm-server`` runs vLLM in a server process from its own environment
(:mod:`fipo_utils.models.generate_vllm_server`), and falls back to transformers, saying so
in one line, where there is none.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from fipo_utils.models.cache import CacheStats, GenerationCache, cached_map, model_identity
from fipo_utils.models.encoding import adds_special_tokens
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.settings import GenerationBackendSettings, ModelsSettings

BACKENDS = ("transformers", "vllm", "vllm-server")
BATCHING = ("static", "continuous")  # transformers backend: padded batches or generate_batch


class Generator(Protocol):
    backend: str
    tokenizer: Any

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]: ...

    def option_logprobs(
        self, prompts: Sequence[str], options: Sequence[str]
    ) -> list[list[float]]: ...

    def close(self) -> None:
        """Release what Python's garbage collector cannot (vLLM's engine process)."""
        ...


class CachedGenerator:
    """A backend behind the persistent cache; ``stats`` counts cached vs generated prompts."""

    def __init__(
        self,
        inner: Generator,
        model_id: str,
        cache: GenerationCache | None = None,
        chunk_size: int = 32,
        show_progress: bool = True,
    ) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.tokenizer = inner.tokenizer  # callers wrap prompts in its chat template
        self.model_id = model_id
        # a backend may file its entries under another's name (vllm-server: transformers')
        namespace = getattr(inner, "cache_backend", inner.backend)
        self.cache = cache or GenerationCache(model_id=model_id, backend=namespace)
        self.chunk_size = chunk_size
        self.show_progress = show_progress
        self.stats = CacheStats()
        # The key records whether inputs carry the tokenizer's special tokens (BOS, encoded
        # as in training): a tokenizer that adds none gives the same key as plain text.
        adds = self.tokenizer is not None and adds_special_tokens(self.tokenizer)
        self._input_key = {"special_tokens": True} if adds else {}

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        key = {"task": "generate", **params.as_dict(), **self._input_key}
        return self._cached(key, prompts, lambda chunk: self.inner.generate(chunk, params))

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        key = {
            "task": "option_logprobs",
            "options": list(options),
            "letter_token": "in_context",
            **self._input_key,
        }
        # large chunks, as for continuations: prompts that share a few-shot prefix should
        # meet in one call for the prefix to run once
        return self._cached(
            key,
            prompts,
            lambda chunk: self.inner.option_logprobs(chunk, options),
            "score options",
            self.chunk_size * 16,
        )

    def _cached(
        self,
        key: dict[str, Any],
        prompts: Sequence[str],
        compute: Callable[[list[str]], list[Any]],
        desc: str = "generate",
        chunk_size: int | None = None,
    ) -> list[Any]:
        """``compute`` over the prompts the cache lacks under ``key``, chunk by chunk."""
        return cached_map(
            self.cache,
            key,
            list(prompts),
            compute,
            chunk_size or self.chunk_size,
            self.stats,
            desc=desc,
            show_progress=self.show_progress,
        )

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Summed log-probability of each ``(context, continuation)`` (continuation scoring,
        ``fipo_utils.models.loglikelihood``), cached like generations. Chunks are larger
        than for generation: an item's options and a benchmark's shared prefix should land
        in the same chunk to be computed once."""
        score = getattr(self.inner, "loglikelihood", None)
        if score is None:
            raise ValueError(
                f"continuation scoring needs the transformers backend; {self.backend} has no "
                "continuation log-likelihoods here"
            )
        return self._cached(
            {"task": "loglikelihood"},
            [json.dumps(list(pair)) for pair in requests],
            lambda chunk: score([tuple(json.loads(p)) for p in chunk]),
            "score continuations",
            self.chunk_size * 16,
        )

    def close(self) -> None:
        self.inner.close()


# prompts per backend call between two cache writes: vLLM schedules hundreds of sequences at
# once, so a small chunk would leave it idle waiting on each chunk's longest sample
CHUNK_SIZES = {"transformers": 32, "vllm": 4096}


def make_generator(
    model_name: str,
    backend: str = "transformers",
    *,
    dtype: str = "float32",
    device: str | None = None,
    batch_size: int = 8,
    tensor_parallel_size: int = 1,
    use_cache: bool = True,
    chunk_size: int | None = None,
    show_progress: bool = True,
    backend_options: dict[str, Any] | None = None,
    batching: str = "static",
) -> Generator:
    """A generator for a model name or path (see ``fipo_utils.models.loading``) on a backend.

    On the transformers backend the model comes from the in-process pool
    (``fipo_utils.models.pool``): a second generator for the same weights does not load them
    again. ``use_cache=False`` returns the bare backend (benchmarks measure it that way).
    ``backend_options`` go to the vLLM engine (e.g. ``gpu_memory_utilization``), as engine
    arguments or as ``vllm serve`` flags (``vllm-server``).
    ``batching="continuous"`` generates with transformers' continuous batching
    (``fipo_utils.models.generate_continuous``) instead of static padded batches.
    """
    from fipo_utils.models.loading import resolve_model_path

    if backend not in BACKENDS:
        raise ValueError(f"unknown generation backend {backend!r}; choose one of {BACKENDS}")
    if batching not in BATCHING:
        raise ValueError(f"unknown batching {batching!r}; choose one of {BATCHING}")
    source = resolve_model_path(model_name)
    if backend == "vllm-server":
        inner: Any = _vllm_server_generator(
            source, dtype, device, batch_size, tensor_parallel_size, backend_options or {}
        )
        if inner is None:
            backend = "transformers"
        else:
            # a chunk is one request: the server batches its rows continuously, so a
            # larger chunk keeps its slots full (the cache still persists chunk by chunk)
            chunk_size = max(chunk_size or 0, inner.request_size)
    if backend == "transformers":
        from fipo_utils.models.generate import TransformersGenerator
        from fipo_utils.models.generate_continuous import ContinuousGenerator
        from fipo_utils.models.pool import get_model

        # Shared with earlier generators of the same weights (fipo_utils.models.pool); the
        # generator only reads the model, and its own settings (batch size) stay its own.
        loaded = get_model(source, dtype=dtype, device=device)
        kind = ContinuousGenerator if batching == "continuous" else TransformersGenerator
        inner = kind(loaded.model, loaded.tokenizer, batch_size=batch_size, show_progress=False)
    elif backend == "vllm":
        from fipo_utils.models.generate_vllm import VLLMGenerator

        inner = VLLMGenerator(
            source,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            **(backend_options or {}),
        )
    if not use_cache:
        return inner
    chunk = chunk_size or CHUNK_SIZES[backend]
    return CachedGenerator(
        inner, model_identity(source), chunk_size=chunk, show_progress=show_progress
    )


# On a CPU, vLLM reads gpu_memory_utilization as the share of RAM it reserves for its KV
# cache. Its default (0.92) cannot be had beside the step's own models, and the server then
# exits before it is ready; 0.3 of 24 GiB served the study's rewrites at 4,096-token
# contexts. A profile's infer.backend_options.gpu_memory_utilization overrides it.
CPU_MEMORY_SHARE = 0.3


def _on_cpu(device: str | None) -> bool:
    if device:
        return device == "cpu"
    import torch

    return not torch.cuda.is_available()


def _vllm_server_generator(
    source: str,
    dtype: str,
    device: str | None,
    batch_size: int,
    tensor_parallel_size: int,
    options: dict[str, Any],
) -> Any:
    """The ``vllm-server`` backend, or ``None`` (after one line saying so) where no
    environment has vLLM (:func:`fipo_utils.models.vllm_server.vllm_python`)."""
    from fipo_utils.models.generate_vllm_server import VLLMServerGenerator
    from fipo_utils.models.vllm_server import VLLMServer, vllm_python

    python = vllm_python()
    if python is None:
        print(
            "backend vllm-server: no vLLM environment (.venv-vllm: `make vllm-env`, or "
            "FIPO_VLLM_PYTHON); generating with transformers",
            file=sys.stderr,
        )
        return None
    options = dict(options)
    if _on_cpu(device):
        options.setdefault("gpu_memory_utilization", CPU_MEMORY_SHARE)
    server = VLLMServer(
        source,
        python,
        dtype=dtype,
        tensor_parallel_size=tensor_parallel_size,
        max_model_len=options.pop("max_model_len", 4096),
        options=options,
    )
    return VLLMServerGenerator(source, server, dtype=dtype, device=device, batch_size=batch_size)


def describe_engine(generator: Generator) -> dict[str, Any]:
    """What a step's manifest records of the engine behind a generator: a server backend's
    version, arguments and CPU flags (``describe()``), else the backend's name."""
    inner = getattr(generator, "inner", generator)
    describe = getattr(inner, "describe", None)
    return describe() if callable(describe) else {"engine": generator.backend}


def generator_from_settings(
    model_name: str,
    settings: GenerationBackendSettings | Mapping[str, Any],
    models: ModelsSettings | Mapping[str, Any],
    **overrides: Any,
) -> Generator:
    """``make_generator`` for a model with a step's backend settings and the profile's
    ``models`` settings.

    ``settings`` is a :class:`~fipo_utils.runs.settings.GenerationBackendSettings` (every
    step's typed settings are one: ``InferSettings``, ``EvaluateSettings``,
    ``BaselinesSettings``) or a section's mapping, typed here with the same defaults
    (``backend``, ``batch_size``, ``tensor_parallel_size``, ``backend_options``,
    ``batching``). ``models`` (typed or the ``models`` mapping) sets ``dtype``.
    ``overrides`` (e.g. ``show_progress=False``) go to ``make_generator`` as they are.
    """
    if not isinstance(settings, GenerationBackendSettings):
        settings = GenerationBackendSettings.from_mapping(settings)
    if isinstance(models, ModelsSettings):
        dtype = models.dtype
    else:
        dtype = str(models.get("dtype", ModelsSettings.dtype))
    options = {
        "dtype": dtype,
        "batch_size": settings.batch_size,
        "tensor_parallel_size": settings.tensor_parallel_size,
        "backend_options": dict(settings.backend_options),
        "batching": settings.batching,
    }
    return make_generator(model_name, settings.backend, **{**options, **overrides})


class DecodingSettings(Protocol):
    """What :func:`decoding_params` reads: ``InferSettings`` and ``EvaluateSettings``."""

    @property
    def max_new_tokens(self) -> int: ...

    @property
    def temperature(self) -> float: ...

    @property
    def top_p(self) -> float: ...

    @property
    def seed(self) -> int: ...


def decoding_params(settings: DecodingSettings) -> GenerationParams:
    """The decoding of a step's typed settings."""
    return GenerationParams(
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed,
    )
