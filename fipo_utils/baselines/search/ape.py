"""APE (Zhou et al. 2022, "Large Language Models Are Human-Level Prompt Engineers"): induce
instructions from demonstrations, score each on dev items, keep the best.

The proposer reads a few input/answer demonstrations and writes the instruction that would
produce them ("forward" generation, the paper's main mode); each candidate is scored by the
tester's dev accuracy; optional rounds ask for variations of the best candidate (the
paper's iterative Monte-Carlo search). The request wording is this project's.
"""

from __future__ import annotations

import random
from typing import Any

from fipo_utils.baselines.search.candidates import (
    SearchInputs,
    SearchResult,
    demonstrations,
    propose,
)

INDUCE_REQUEST = (
    "Below are example inputs of one task, each followed by its correct answer.\n\n"
    "{demos}\n\n"
    "Write the single instruction that a person should follow to get from each input to its "
    "answer. Reply with the instruction only, in one sentence."
)
VARY_REQUEST = (
    "Rephrase this instruction in other words, keeping what it asks for:\n\n{instruction}\n\n"
    "Reply with the rephrased instruction only."
)


def run_ape(inputs: SearchInputs) -> SearchResult:
    """Propose ``n_candidates`` instructions (each from its own seeded ordering of the
    demonstrations), score them on dev, then ``resample_rounds`` rounds of variations of the
    best; returns the best by dev accuracy (the first proposed wins a tie)."""
    proposer, scorer, split, budget = inputs.proposer, inputs.scorer, inputs.split, inputs.budget
    fmt, seed = inputs.fmt, inputs.seed
    requests = []
    for k in range(budget.n_candidates):
        demos = list(split.demos)
        random.Random(seed + k).shuffle(demos)
        requests.append(INDUCE_REQUEST.replace("{demos}", demonstrations(demos)))
    proposed = propose(proposer, requests, fmt, budget, seed)
    candidates: list[dict[str, Any]] = [
        {"round": 0, "instruction": text, "dev_accuracy": scorer(text)} for text in proposed if text
    ]
    for round_number in range(1, budget.resample_rounds + 1):
        if not candidates:
            break
        best = max(candidates, key=lambda c: c["dev_accuracy"])["instruction"]
        variations = propose(
            proposer,
            [VARY_REQUEST.replace("{instruction}", best)] * budget.n_candidates,
            fmt,
            budget,
            seed + 1000 * round_number,
        )
        candidates += [
            {"round": round_number, "instruction": text, "dev_accuracy": scorer(text)}
            for text in variations
            if text
        ]
    if not candidates:  # nothing usable proposed: no instruction, as naive
        return SearchResult("ape", "", scorer(""), [])
    best = max(candidates, key=lambda c: c["dev_accuracy"])
    return SearchResult("ape", best["instruction"], best["dev_accuracy"], candidates)
