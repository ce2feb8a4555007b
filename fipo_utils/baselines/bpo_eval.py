"""BPO as BPO evaluated it: a rewriter trained on BPO pairs with the companion's SFT, then
the pairwise win-rate protocol on BPO's test sets.

Per test prompt a responder model answers the original and the rewritten prompt; a local
judge model compares the two answers twice, once in each order, by the log-probability of
the letters "A" and "B" after a comparison request. The rewrite wins when the judge prefers
its answer in both orders, loses when it prefers the original's in both, and ties when the
two orders disagree (position bias cancels instead of deciding). BPO's headline number is
the delta win rate, win rate minus lose rate (:class:`fipo_utils.baselines.bpo.WinRate`).
The judge request wording is this project's.

Writes ``baselines/bpo_win_rate/<test set>/<rewriter>.jsonl`` (one record per prompt: both
answers, the judge's letter log-probabilities in each order, the verdict) and
``baselines/bpo_win_rate/summary.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fipo_utils.baselines.bpo import (
    bpo_instruction,
    bpo_rewrite_params,
    bpo_sft_records,
    load_bpo_pairs,
    rewrite_prompts,
    win_rate,
)
from fipo_utils.data.template import wrap_prompt
from fipo_utils.models.generate import GenerationParams
from fipo_utils.runs.errors import SettingsError
from fipo_utils.runs.io import read_json, read_jsonl
from fipo_utils.runs.safe_write import write_jsonl_preserving, write_text_preserving
from fipo_utils.runs.settings import BaselinesSettings, BpoSettings, ModelsSettings

TEST_SETS = {
    "bpo_test": "bpo/testset/bpo_test.json",
    "dolly_eval": "bpo/testset/dolly_eval.json",
    "self_instruct_eval": "bpo/testset/self_instruct_eval.json",
    "vicuna_eval": "bpo/testset/vicuna_eval.jsonl",
}
JUDGE_REQUEST = (
    "Two assistants answered the same user request. Decide which answer serves the user "
    "better: more helpful, correct and complete. The order of the answers and their length "
    "say nothing about their quality.\n\n"
    "[User request]\n{question}\n\n[Answer A]\n{answer_a}\n\n[Answer B]\n{answer_b}\n\n"
    "Which answer is better, A or B? Reply with one letter."
)
REWRITER_NAME = "bpo-sft"


def load_test_prompts(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """``[{"id", "prompt"}]`` from a BPO test set: ``prompt`` (bpo_test), ``instruction`` +
    ``context`` (dolly_eval, self_instruct_eval) or ``text`` (vicuna_eval); the first
    ``limit`` records. Errors name file, record and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BPO test set not found (set FIPO_DATA_DIR)")
    records = read_jsonl(path) if path.suffix == ".jsonl" else read_json(path)
    prompts = []
    for index, record in enumerate(records[:limit] if limit else records):
        if "prompt" in record:
            prompt = record["prompt"]
        elif "instruction" in record:
            context = record.get("context") or ""
            prompt = record["instruction"] + (f"\n{context}" if context else "")
        elif "text" in record:
            prompt = record["text"]
        else:
            raise ValueError(
                f"{path}, record {index}: field 'prompt', 'instruction' or 'text' missing"
            )
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{path}, record {index}: the prompt is empty or not a string")
        ident = record.get("id", record.get("idx", record.get("question_id", index)))
        prompts.append({"id": str(ident), "prompt": prompt})
    return prompts


def write_bpo_sft_data(run_dir: Path, pairs_path: Path, settings: BpoSettings) -> Path:
    """BPO pairs -> ``baselines/bpo_sft.json`` (notebook 02's SFT format)."""
    pairs = load_bpo_pairs(pairs_path)
    limit = settings.train_rows
    records = bpo_sft_records(pairs[:limit] if limit else pairs, bpo_instruction(settings.template))
    path = run_dir / "baselines" / "bpo_sft.json"
    write_text_preserving(path, json.dumps(records, indent=1) + "\n")
    return path


def train_bpo_rewriter(
    run_dir: str | Path, profile: dict[str, Any], settings: BpoSettings, pairs_path: Path
) -> dict[str, Any]:
    """SFT of ``models.optimizer_base`` on BPO pairs with the companion's trainer
    (``fipo_utils.training.train.train_strategy``): ``checkpoints/bpo-sft/final``. A finished
    checkpoint is reused (the trainer's own rule)."""
    from fipo_utils.training.train import train_strategy

    run_dir = Path(run_dir)
    data = write_bpo_sft_data(run_dir, pairs_path, settings)
    # every selected pair trains: BPO's rewriter has no eval split, and a small smoke slice
    # cannot spare rows for one
    overrides: dict[str, Any] = {
        "max_steps": settings.train_steps,
        "max_rows": settings.train_rows,
        "eval_rows": 0,
    }
    return train_strategy(run_dir, profile, "sft", name=REWRITER_NAME, data_path=data, **overrides)


def judge_both_orders(
    judge: Any,
    questions: list[str],
    original: list[str],
    rewritten: list[str],
    fmt: str,
) -> list[dict[str, Any]]:
    """Per prompt: the judge's log-probabilities of "A"/"B" with the rewrite's answer first
    and second, and the verdict (``win`` / ``lose`` / ``tie``) for the rewrite."""

    def requests(first: list[str], second: list[str]) -> list[str]:
        return [
            wrap_prompt(
                JUDGE_REQUEST.replace("{question}", q)
                .replace("{answer_a}", a)
                .replace("{answer_b}", b),
                fmt,
                judge.tokenizer,
            )
            for q, a, b in zip(questions, first, second, strict=True)
        ]

    rewrite_first = judge.option_logprobs(requests(rewritten, original), ["A", "B"])
    original_first = judge.option_logprobs(requests(original, rewritten), ["A", "B"])
    judgements = []
    for one, two in zip(rewrite_first, original_first, strict=True):
        prefers = [one[0] > one[1], two[1] > two[0]]  # the rewrite's answer preferred
        verdict = "win" if all(prefers) else "lose" if not any(prefers) else "tie"
        judgements.append({"rewrite_first": one, "original_first": two, "verdict": verdict})
    return judgements


def run_bpo_win_rate(
    run_dir: str | Path,
    profile: dict[str, Any],
    settings: Mapping[str, Any] | BaselinesSettings,
) -> dict[str, Any]:
    """Rewrite BPO test prompts with each rewriter, answer both versions, judge both orders.

    ``settings`` is the profile's ``baselines`` section (or its
    :class:`~fipo_utils.runs.settings.BaselinesSettings`); its ``bpo`` part names the
    ``test_sets``, ``n_prompts``, ``responder``, ``judge``, ``answer_max_new_tokens`` and
    whether to ``train`` the BPO rewriter (on ``pairs``). Rewriters: ``bpo-sft`` (the trained
    one, when trained) and ``bpo-style-zero-shot`` (the base model with the same request).
    """
    from fipo_utils.baselines.answers import baseline_data_dir
    from fipo_utils.models.generators import generator_from_settings

    settings = BaselinesSettings.of(profile, settings)
    models = ModelsSettings.from_profile(profile)
    run_dir = Path(run_dir)
    bpo = settings.bpo
    fmt = models.prompt_format
    seed = settings.seed
    data_dir = baseline_data_dir(need="bpo")
    instruction = bpo_instruction(bpo.template)
    rewrite_params = bpo_rewrite_params(settings, settings.optimizer_max_new_tokens, seed)
    answer_params = GenerationParams(bpo.answer_max_new_tokens, 0.0, 1.0, seed)

    rewriters = {"bpo-style-zero-shot": models.optimizer_base}
    training = None
    if bpo.train:
        if bpo.pairs is None:
            raise SettingsError("baselines.bpo.pairs: must be set when baselines.bpo.train is")
        training = train_bpo_rewriter(run_dir, profile, bpo, data_dir / bpo.pairs)
        rewriters = {
            REWRITER_NAME: str(run_dir / "checkpoints" / REWRITER_NAME / "final"),
            **rewriters,
        }
    test_sets = {
        name: load_test_prompts(data_dir / TEST_SETS[name], bpo.n_prompts) for name in bpo.test_sets
    }
    rewrites: dict[tuple[str, str], list[str]] = {}
    for rewriter_name, source in rewriters.items():
        rewriter = generator_from_settings(source, settings, models)
        for name, prompts in test_sets.items():
            rewrites[(name, rewriter_name)] = rewrite_prompts(
                rewriter,
                [p["prompt"] for p in prompts],
                fmt=fmt,
                params=rewrite_params,
                instruction=instruction,
            )
        rewriter.close()
        del rewriter

    responder_name = bpo.responder_name(models)
    responder = generator_from_settings(responder_name, settings, models)
    responder_fmt = models.format_for(responder_name)

    answers = {}
    for name, prompts in test_sets.items():
        answers[(name, "original")] = _answer(
            responder, [p["prompt"] for p in prompts], responder_fmt, answer_params
        )
        for rewriter_name in rewriters:
            answers[(name, rewriter_name)] = _answer(
                responder, rewrites[(name, rewriter_name)], responder_fmt, answer_params
            )
    responder.close()
    del responder

    judge_name = bpo.judge_name(models)
    judge = generator_from_settings(judge_name, settings, models)
    judge_fmt = models.format_for(judge_name)
    rows = []
    for name, prompts in test_sets.items():
        questions = [p["prompt"] for p in prompts]
        for rewriter_name in rewriters:
            judgements = judge_both_orders(
                judge,
                questions,
                answers[(name, "original")],
                answers[(name, rewriter_name)],
                judge_fmt,
            )
            records = [
                {
                    "id": p["id"],
                    "test_set": name,
                    "rewriter": rewriter_name,
                    "prompt": p["prompt"],
                    "rewritten": rewritten,
                    "original_answer": before,
                    "rewritten_answer": after,
                    **judged,
                }
                for p, rewritten, before, after, judged in zip(
                    prompts,
                    rewrites[(name, rewriter_name)],
                    answers[(name, "original")],
                    answers[(name, rewriter_name)],
                    judgements,
                    strict=True,
                )
            ]
            out = run_dir / "baselines" / "bpo_win_rate" / name / f"{rewriter_name}.jsonl"
            write_jsonl_preserving(out, records)
            counts = win_rate(r["verdict"] for r in records)
            rows.append({"test_set": name, "rewriter": rewriter_name, **counts.as_dict()})
    judge.close()
    summary = {
        "rows": rows,
        "template": bpo.template,
        "rewrite_params": rewrite_params.as_dict(),
        "responder": responder_name,
        "judge": judge_name,
        "training": None
        if training is None
        else {k: training.get(k) for k in ("name", "n_rows", "final_dir")},
    }
    write_text_preserving(
        run_dir / "baselines" / "bpo_win_rate" / "summary.json",
        json.dumps(summary, indent=2, default=str) + "\n",
    )
    return summary


def _answer(generator: Any, texts: list[str], fmt: str, params: GenerationParams) -> list[str]:
    return generator.generate([wrap_prompt(t, fmt, generator.tokenizer) for t in texts], params)
