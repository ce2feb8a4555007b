"""The ``vllm-server`` generation backend: generation through vLLM's OpenAI-compatible
server (:mod:`fipo_utils.models.vllm_server`), scoring through transformers in process.

Generation is where vLLM's continuous batching pays (rows that stop leave the batch at
once); the requests carry the same token ids as the transformers backend
(``encode_like_training``) and the same sampling parameters and stop strings as the
offline vLLM backend's ``SamplingParams``. The server starts on the first ``generate`` (a
step that only scores never pays its start-up) and stops at :meth:`close`, or when scoring
first needs the weights in process.

Option letters and continuations are scored by the transformers code the ``transformers``
backend runs (the shared-prefix scorer of :mod:`fipo_utils.models.loglikelihood`, weights
from the model pool), so scores do not depend on the generation backend. For the same
reason the cache (``CachedGenerator``) files this backend's entries with the transformers
backend's: a rewrite cached by one is never paid again by the other. Greedy outputs of
both engines are compared side by side by ``benchmarks/bench_engine.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fipo_utils.models.encoding import encode_like_training
from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.vllm_server import SERVED_NAME, VLLMServer, completion_texts


class VLLMServerGenerator:
    backend = "vllm-server"
    cache_backend = "transformers"  # see the module docstring

    def __init__(
        self,
        model_path: str,
        server: VLLMServer,
        *,
        dtype: str = "float32",
        device: str | None = None,
        batch_size: int = 8,
        request_size: int = 256,
    ) -> None:
        from fipo_utils.models.loading import load_tokenizer

        self.model_path = model_path
        self.server = server
        self.tokenizer = load_tokenizer(model_path)
        self._scoring_options: Mapping[str, Any] = {
            "dtype": dtype,
            "device": device,
            "batch_size": batch_size,
        }
        self._scorer: TransformersGenerator | None = None
        self.request_size = request_size  # prompts per HTTP request
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None or self.server.process is None:
            from openai import OpenAI

            # a local server without authentication; the client insists on some key
            self._client = OpenAI(base_url=self.server.start(), api_key="local", max_retries=0)
        return self._client

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        """One completion per prompt, in order; the server batches them continuously."""
        if not prompts:
            return []
        client = self._connect()
        sampling: dict[str, Any] = {"max_tokens": params.max_new_tokens, "temperature": 0.0}
        if not params.greedy:
            sampling.update(temperature=params.temperature, top_p=params.top_p, seed=params.seed)
        if params.stop:
            sampling["stop"] = list(params.stop)
        texts: list[str] = []
        for start in range(0, len(prompts), self.request_size):
            chunk = prompts[start : start + self.request_size]
            reply = client.completions.create(
                model=SERVED_NAME,
                prompt=[encode_like_training(self.tokenizer, p) for p in chunk],
                timeout=None,
                **sampling,
            )
            texts.extend(completion_texts(reply.choices, len(chunk)))
        return texts

    def _transformers(self) -> TransformersGenerator:
        if self._scorer is None:
            from fipo_utils.models.pool import get_model

            # The server reserves its memory up front (GPU memory, or RAM on a CPU): it
            # stops before the weights load here, and a later ``generate`` restarts it.
            # Notebook 06 generates every answer before it scores, so it starts once.
            self.server.stop()

            options = self._scoring_options
            loaded = get_model(self.model_path, dtype=options["dtype"], device=options["device"])
            self._scorer = TransformersGenerator(
                loaded.model, self.tokenizer, batch_size=options["batch_size"]
            )
        return self._scorer

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        return self._transformers().option_logprobs(prompts, options)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        return self._transformers().loglikelihood(requests)

    def describe(self) -> dict[str, Any]:
        return self.server.describe()

    def close(self) -> None:
        """Stop the server (and its engine processes); the scoring weights stay pooled."""
        self.server.stop()
