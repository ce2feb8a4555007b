"""The BPO-style rewriter as an optimizer: a fixed "expert prompt engineer" request wraps the
user prompt and any local instruct model answers it with a rewrite.

BPO (arXiv 2311.04155) fine-tunes a rewriter; at inference a fixed instruction wraps the
prompt. The wrapping lives here, in inference, so notebook 05 can run it on the same items as
every FIPO optimizer (``infer.optimizer: bpo-style``); the baselines step (08) reuses it. The
instruction wording is this project's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fipo_utils.data.template import wrap_prompt
from fipo_utils.inference.optimize import clean_optimized
from fipo_utils.models.generate import GenerationParams

BPO_INSTRUCTION = (
    "You are an expert prompt engineer. Rewrite the user's prompt below so that an AI "
    "assistant answers it more helpfully, accurately and completely: keep the user's intent "
    "and every fact they gave, make implicit requirements explicit, and add useful guidance "
    "on format and reasoning. Reply with the rewritten prompt only.\n\n"
    "User prompt:\n{prompt}\n\nRewritten prompt:"
)


def render_bpo_request(user_prompt: str, instruction: str = BPO_INSTRUCTION) -> str:
    """The rewriter's input for one prompt (unwrapped; the caller applies the chat format)."""
    return instruction.replace("{prompt}", user_prompt)


def rewrite_outputs(
    generator: Any,
    prompts: Sequence[str],
    *,
    fmt: str,
    params: GenerationParams,
    instruction: str = BPO_INSTRUCTION,
) -> list[tuple[str, str]]:
    """(rewritten prompt, raw reply) per prompt; an empty reply falls back to the original."""
    inputs = [
        wrap_prompt(render_bpo_request(p, instruction), fmt, generator.tokenizer) for p in prompts
    ]
    outputs = generator.generate(inputs, params)
    return [
        (clean_optimized(out) or prompt, out) for prompt, out in zip(prompts, outputs, strict=True)
    ]


def rewrite_prompts(
    generator: Any,
    prompts: Sequence[str],
    *,
    fmt: str,
    params: GenerationParams,
    instruction: str = BPO_INSTRUCTION,
) -> list[str]:
    """BPO-style rewrites; an empty reply falls back to the original prompt."""
    found = rewrite_outputs(generator, prompts, fmt=fmt, params=params, instruction=instruction)
    return [rewritten for rewritten, _ in found]
