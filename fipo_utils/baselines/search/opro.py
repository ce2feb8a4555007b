"""OPRO (Yang et al. 2023, "Large Language Models as Optimizers"): a meta-prompt lists the
best instructions so far with their dev scores, in ascending order, plus a few task
exemplars; the proposer writes new instructions, which are scored and added; repeat.

Starts from the empty instruction (the naive prompt), as the paper's GSM8K runs do. The
meta-prompt wording is this project's; the structure (scored trajectory sorted ascending,
exemplars, several proposals per step at a sampling temperature) is the paper's.
"""

from __future__ import annotations

from typing import Any

from fipo_utils.baselines.search.candidates import (
    SearchInputs,
    SearchResult,
    demonstrations,
    propose,
)

META_PROMPT = (
    "Your task is to write an instruction that helps a model answer questions of one task. "
    "Here are earlier instructions with their accuracy on practice questions, from worst to "
    "best:\n\n{trajectory}\n\n"
    "Here are practice questions with their correct answers:\n\n{demos}\n\n"
    "Write a new instruction, different from all of the above, that reaches a higher "
    "accuracy. Reply with the instruction only, in one sentence."
)


def render_meta_prompt(scored: list[dict[str, Any]], demos: str, keep_top: int) -> str:
    """The meta-prompt for the next step: the ``keep_top`` best so far, worst first."""
    top = sorted(scored, key=lambda c: c["dev_accuracy"], reverse=True)[:keep_top]
    lines = [
        f"Instruction: {c['instruction'] or '(no instruction)'}\n"
        f"Accuracy: {round(100 * c['dev_accuracy'])}"
        for c in reversed(top)
    ]
    return META_PROMPT.replace("{trajectory}", "\n\n".join(lines)).replace("{demos}", demos)


def run_opro(inputs: SearchInputs) -> SearchResult:
    """``n_steps`` steps of ``per_step`` proposals each; the best by dev accuracy wins (the
    earliest on a tie, so the empty start instruction is kept unless something beats it)."""
    proposer, scorer, split, budget = inputs.proposer, inputs.scorer, inputs.split, inputs.budget
    fmt, seed = inputs.fmt, inputs.seed
    scored: list[dict[str, Any]] = [{"step": 0, "instruction": "", "dev_accuracy": scorer("")}]
    demos = demonstrations(split.demos)
    for step in range(1, budget.n_steps + 1):
        request = render_meta_prompt(scored, demos, budget.keep_top)
        proposed = propose(proposer, [request] * budget.per_step, fmt, budget, seed + 100 * step)
        seen = {c["instruction"] for c in scored}
        for text in proposed:
            if text and text not in seen:
                seen.add(text)
                scored.append({"step": step, "instruction": text, "dev_accuracy": scorer(text)})
    best = max(scored, key=lambda c: c["dev_accuracy"])
    return SearchResult("opro", best["instruction"], best["dev_accuracy"], scored)
