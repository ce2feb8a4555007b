"""The vLLM generation backend (the paper's inference engine, tensor parallel on GPUs).

Imported only when a profile or caller chooses ``backend: vllm``: vLLM is a heavy optional
dependency that CPU machines need not have. Same call as the transformers backend:
``generate(prompts, params)`` returns one completion per prompt, in order; greedy settings
give the same texts as ``TransformersGenerator`` up to floating-point ties.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fipo_utils.models.encoding import encode_like_training, option_targets
from fipo_utils.models.generate import GenerationParams


class VLLMGenerator:
    backend = "vllm"

    def __init__(
        self,
        model_path: str,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        seed: int = 2024,
        max_model_len: int | None = 4096,
        **engine_options: Any,
    ) -> None:
        try:
            from vllm import LLM
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "backend 'vllm' needs the vllm package (GPU: `pip install vllm`; CPU: the "
                "separate environment of `make vllm-env`, see docs/inference.md)"
            ) from error
        self.llm = LLM(
            model=model_path,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            trust_remote_code=False,
            **engine_options,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def close(self) -> None:
        """Stop the engine-core process now.

        Left to interpreter exit, vLLM stops it from a finalizer that can run after logging
        streams are closed and abort the process (exit 134) although all work succeeded.
        """
        self.llm.llm_engine.engine_core.shutdown()

    def _sampling(self, params: GenerationParams) -> Any:
        from vllm import SamplingParams

        stop = list(params.stop) or None
        if params.greedy:
            return SamplingParams(temperature=0.0, max_tokens=params.max_new_tokens, stop=stop)
        return SamplingParams(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
            stop=stop,
        )

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[str]:
        """One completion per prompt; vLLM schedules its own continuous batches."""
        if not prompts:
            return []
        from vllm.inputs import TokensPrompt

        # Tokenize exactly like the transformers backend: the special tokens training
        # added, once (fipo_utils.models.encoding).
        inputs = [
            TokensPrompt(prompt_token_ids=encode_like_training(self.tokenizer, p)) for p in prompts
        ]
        outputs = self.llm.generate(inputs, self._sampling(params), use_tqdm=False)
        return [output.outputs[0].text for output in outputs]

    def option_logprobs(self, prompts: Sequence[str], options: Sequence[str]) -> list[list[float]]:
        """Log-probability of each option's in-context token, as in the transformers backend.

        vLLM returns only the top-k next-token log-probs, so each (prompt, option token) is
        scored as a one-token continuation through ``prompt_logprobs`` instead; the shared
        prompt prefix is computed once thanks to prefix caching.
        """
        if not prompts:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        requests: list[Any] = []
        slots: list[tuple[int, int]] = []
        for p_index, prompt in enumerate(prompts):
            for o_index, (context, token) in enumerate(
                option_targets(self.tokenizer, prompt, options)
            ):
                requests.append(TokensPrompt(prompt_token_ids=[*context, token]))
                slots.append((p_index, o_index))
        sampling = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        scores = [[-math.inf] * len(options) for _ in prompts]
        for (p_index, o_index), output in zip(slots, outputs, strict=True):
            token = output.prompt_token_ids[-1]
            logprob = output.prompt_logprobs[-1][token].logprob
            scores[p_index][o_index] = float(logprob)
        return scores
