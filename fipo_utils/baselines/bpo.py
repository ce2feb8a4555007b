"""BPO-style baseline: rewrite a user prompt with a fixed "expert prompt engineer" request,
turn BPO's (original, optimized) prompt pairs into preference rows, and score pairwise
judgements with BPO's delta win rate.

BPO (arXiv 2311.04155) fine-tunes a rewriter; at inference a fixed instruction wraps the
user prompt. Here the same wrapping drives any local instruct model through the shared
generator, so the baseline runs wherever FIPO runs. The instruction wording is this project's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fipo_utils.data.template import Template, count_words, render_optimizer_prompt, wrap_tulu

# The rewriter itself is an optimizer of notebook 05 (``infer.optimizer: bpo-style``).
from fipo_utils.inference.rewriters import (  # noqa: F401 - re-exported for 08 and tests
    BPO_INSTRUCTION,
    render_bpo_request,
    rewrite_prompts,
)
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.io import read_json, read_jsonl
from fipo_utils.runs.settings import BaselinesSettings

# BPO's published inference request (thu-coai/BPO at 9bf5415, src/infer_example.py, line 7)
# without its Llama-2 ``[INST] ... [/INST]`` wrapping: the model's own chat format supplies it.
# Its sampling (line 19 of the same file): temperature 0.6, top-p 0.9.
BPO_ORIGINAL_INSTRUCTION = (
    "You are an expert prompt engineer. Please help me improve this prompt to get a more "
    "helpful and harmless response:\n{prompt}"
)
BPO_ORIGINAL_TEMPERATURE, BPO_ORIGINAL_TOP_P = 0.6, 0.9
BPO_TEMPLATES = {"project": BPO_INSTRUCTION, "original": BPO_ORIGINAL_INSTRUCTION}


def bpo_instruction(template: str | None) -> str:
    """The rewrite request for ``bpo.template`` (``project``, the default, or ``original``)."""
    name = template or "project"
    if name not in BPO_TEMPLATES:
        raise ValueError(f"bpo.template must be one of {sorted(BPO_TEMPLATES)}, got {name!r}")
    return BPO_TEMPLATES[name]


def bpo_rewrite_params(
    settings: BaselinesSettings | Mapping[str, Any], max_new_tokens: int, seed: int
) -> GenerationParams:
    """Decoding of the BPO rewriter by ``bpo.template`` of the baselines settings (typed, or
    the section's mapping): ``original`` samples as BPO's inference script does; ``project``
    is greedy (a deterministic baseline row)."""
    if isinstance(settings, BaselinesSettings):
        template: str | None = settings.bpo.template
    else:
        template = (settings.get("bpo") or {}).get("template")
    if template == "original":
        return GenerationParams(max_new_tokens, BPO_ORIGINAL_TEMPERATURE, BPO_ORIGINAL_TOP_P, seed)
    return GenerationParams(max_new_tokens, 0.0, 1.0, seed)


class BpoDataError(ValueError):
    """A BPO file or record is unusable; the message names the file, record and field."""


@dataclass(frozen=True)
class BpoPair:
    id: str
    original: str
    optimized: str
    good_response: str | None
    bad_response: str | None


def load_bpo_pairs(path: str | Path) -> list[BpoPair]:
    """Pairs from a BPO JSON list or JSONL file.

    Accepted shapes: ``prompt`` + ``optimized_prompt`` (BPO test set), ``final_input`` +
    ``final_output`` (BPO history files), or ``instruction`` [+ ``context``] +
    ``optimized_prompt``. ``good_res`` / ``bad_res`` are kept when present.
    """
    path = Path(path)
    if not path.is_file():
        raise BpoDataError(f"{path}: file not found")
    records: Any
    if path.suffix == ".jsonl":
        records = read_jsonl(path, error=BpoDataError)
    else:
        records = read_json(path, error=BpoDataError)
        if not isinstance(records, list):
            raise BpoDataError(f"{path}: expected a JSON list of records")
    return [_pair(record, path, i) for i, record in enumerate(records)]


def _pair(record: Any, path: Path, index: int) -> BpoPair:
    where = f"{path}, record {index}"
    if not isinstance(record, dict):
        raise BpoDataError(f"{where}: expected an object")
    if "final_input" in record and "final_output" in record:
        original, optimized = record["final_input"], record["final_output"]
    elif "prompt" in record and "optimized_prompt" in record:
        original, optimized = record["prompt"], record["optimized_prompt"]
    elif "instruction" in record and "optimized_prompt" in record:
        context = record.get("context") or ""
        original = record["instruction"] + (f"\n{context}" if context else "")
        optimized = record["optimized_prompt"]
    else:
        raise BpoDataError(
            f"{where}: field 'optimized_prompt' (with 'prompt' or 'instruction') or "
            "'final_input'/'final_output' missing"
        )
    for field, value in (("original prompt", original), ("optimized prompt", optimized)):
        if not isinstance(value, str) or not value.strip():
            raise BpoDataError(f"{where}: field {field!r} is empty or not a string")
    return BpoPair(
        id=str(record.get("id", record.get("idx", index))),
        original=original,
        optimized=optimized,
        good_response=record.get("good_res"),
        bad_response=record.get("bad_res"),
    )


def bpo_preference_rows(
    pairs: Iterable[BpoPair], template: Template, *, with_responses: bool = False
) -> tuple[list[dict[str, str]], int]:
    """DPO rows (docs/CONTRACTS.md: ``id, prompt, rejected, chosen``) and the number skipped.

    ``prompt`` is the optimizer template rendered for the original prompt and Tulu-wrapped,
    like ``data/dpo.jsonl``; chosen = BPO's optimized prompt, rejected = the original prompt
    (BPO's claim is that its rewrite beats leaving the prompt alone). ``G_N`` is the chosen
    prompt's word count, as in FIPO's data. ``with_responses`` fills the silver and golden
    slots with BPO's worse and better responses where a pair has both. Pairs whose rewrite
    equals the original carry no preference and are skipped.
    """
    rows, skipped = [], 0
    for pair in pairs:
        if pair.optimized.strip() == pair.original.strip():
            skipped += 1
            continue
        use = with_responses and pair.good_response and pair.bad_response
        text = render_optimizer_prompt(
            template,
            pair.original,
            silver_response=pair.bad_response if use else None,
            golden_response=pair.good_response if use else None,
            word_limit=count_words(pair.optimized),
        )
        rows.append(
            {
                "id": f"bpo-{pair.id}",
                "prompt": wrap_tulu(text),
                "rejected": pair.original,
                "chosen": pair.optimized,
            }
        )
    return rows, skipped


def bpo_sft_records(pairs: Iterable[BpoPair], instruction: str) -> list[dict[str, Any]]:
    """``data/sft.json``-shaped records that teach a rewriter BPO's mapping: the user turn is
    the rewrite request for the original prompt (Tulu-wrapped, as notebook 01 writes it), the
    bot turn BPO's optimized prompt. Training on them with notebook 02's SFT is BPO's
    training recipe on the companion's trainer."""
    return [
        {
            "id": f"bpo-{pair.id}",
            "conversations": [
                {
                    "role": "user",
                    "value": wrap_tulu(render_bpo_request(pair.original, instruction)),
                },
                {"role": "bot", "value": pair.optimized},
            ],
        }
        for pair in pairs
    ]


@dataclass(frozen=True)
class WinRate:
    win: int
    tie: int
    lose: int

    @property
    def n(self) -> int:
        return self.win + self.tie + self.lose

    @property
    def win_rate(self) -> float:
        return self.win / self.n if self.n else float("nan")

    @property
    def tie_rate(self) -> float:
        return self.tie / self.n if self.n else float("nan")

    @property
    def lose_rate(self) -> float:
        return self.lose / self.n if self.n else float("nan")

    @property
    def delta(self) -> float:
        """BPO's headline number: win rate minus lose rate (ties count in neither)."""
        return self.win_rate - self.lose_rate

    def as_dict(self) -> dict[str, float | int]:
        return {
            "win": self.win,
            "tie": self.tie,
            "lose": self.lose,
            "n": self.n,
            "win_rate": self.win_rate,
            "tie_rate": self.tie_rate,
            "lose_rate": self.lose_rate,
            "delta_win_rate": self.delta,
        }


def win_rate(judgements: Iterable[str]) -> WinRate:
    """Count ``"win"`` / ``"tie"`` / ``"lose"`` verdicts (rewritten vs original prompt)."""
    counts = {"win": 0, "tie": 0, "lose": 0}
    for number, verdict in enumerate(judgements):
        if verdict not in counts:
            raise ValueError(f"judgement {number}: {verdict!r} is not 'win', 'tie' or 'lose'")
        counts[verdict] += 1
    return WinRate(**counts)


def mean_delta_win_rate(results: Sequence[WinRate]) -> float:
    """BPO averages per test set: mean of the win rates minus mean of the lose rates."""
    if not results:
        raise ValueError("no win-rate results to average")
    return sum(r.win_rate for r in results) / len(results) - sum(
        r.lose_rate for r in results
    ) / len(results)
