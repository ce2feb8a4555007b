"""Iterative preference learning (IPL; FIPO §2.4, Eq. 12-14, Appendix C, Algorithm 1): rounds
of one epoch of DPO or IPO.

Round 1 trains on the static ``data/ipl.jsonl``. Before each later round the model that the
previous round produced rebuilds the data:

1. *rewrite*: for every optimizer row (case 0-5) it writes a new prompt from the row's
   optimizer input (sampled: paper T 0.8, top-p 0.95, 256 tokens);
2. *judge*: shown the discriminator template with the new and the current prompt in a
   random order of slots A/B, it keeps the new prompt only if it picks the new one
   (first-token log-prob of ``A`` vs ``B``, see :mod:`fipo_utils.training.judge`);
3. *re-answer*: it answers the kept prompt (1 token for multiple choice, up to 512 otherwise)
   and the answer becomes the row's new silver response; the optimizer input is re-rendered;
4. instruction-following rows (case 6/7) get the model's own answer as the rejected side;
5. half of the discrimination rows (case 8) are dropped.

That is ``ipl.procedure: project``, which also drops rows whose rejected side came out equal
to the chosen one after re-answering (they carry no gradient). ``ipl.procedure: original``
runs the steps as the original script did (``get_model_infer_batch_ipl.py``; the ``paper``
profile uses it): the new prompt always in slot A, the discriminator prompt not chat-wrapped,
one judge token sampled at the rewrite temperature and anything but ``a`` keeping the old
prompt; re-answers sampled at that temperature (a kept prompt answered unwrapped; instruction
rows as stored, which is wrapped), multiple-choice letters
lower-cased (a reply that is no letter becomes a random upper-case one); each discrimination
row kept with probability 1 - ``drop_discrimination``; every discrimination row trains (no
held-out slice: judge accuracy is then measured on training rows, as the original printed it).

The next round trains from the previous round's model, which is also its reference (LoRA:
a fresh adapter on the merged previous model, disabled for the reference). A held-out slice
of discrimination rows measures the judge after every round. Everything a round produces is
written before the next starts, so a killed run resumes at the first unfinished round (and
inside it, from the trainer's last checkpoint).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from fipo_utils.data.diversify import OPTIMIZER_CASES
from fipo_utils.data.template import (
    count_words,
    render_discriminator_prompt,
    render_optimizer_prompt,
    wrap_tulu,
)
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import Generator
from fipo_utils.runs.io import read_json_or_none, write_json_atomic
from fipo_utils.runs.names import inside_run

SILVER_CASES = frozenset({1, 2, 4, 5})
GOLDEN_CASES = frozenset({3, 4, 5})
INSTRUCTION_CASES = frozenset({6, 7})
MC_INSTRUCTION_CASE = 6
DISCRIMINATION_CASE = 8
PROCEDURES = ("project", "original")
JUDGE_ORDERS = ("both", "single")


# a judge's verdict on one discriminator prompt: the letter it chose ("A" or "B"), or the
# log-probabilities of both letters (``fipo_utils.training.judge.judge_scores``)
JudgeVerdict = str | tuple[float, float]


@dataclass(frozen=True)
class IplSettings:
    """The ``ipl`` profile section (training numbers come from ``train`` + ``preference``)."""

    rounds: int = 3
    rewrite: GenerationParams = field(
        default_factory=lambda: GenerationParams(max_new_tokens=256, temperature=0.8, top_p=0.95)
    )
    answer_max_new_tokens: int = 512
    judge_holdout: float = 0.05
    drop_discrimination: float = 0.5
    generation_batch_size: int = 8
    template: str | None = None
    procedure: str = "project"  # "original": the original script's steps (module docstring)
    # "both": a rewrite replaces the prompt only when the judge prefers it in both slot
    # orders; "single": one random order (the original's one verdict). Project procedure only.
    judge_orders: str = "both"
    lora: bool | None = None  # None: train.lora; the paper's released IPL-IPO 70B was full
    seed: int = 2024

    def __post_init__(self) -> None:
        if self.procedure not in PROCEDURES:
            raise ValueError(f"ipl.procedure {self.procedure!r}: use one of {PROCEDURES}")
        if self.judge_orders not in JUDGE_ORDERS:
            raise ValueError(f"ipl.judge_orders {self.judge_orders!r}: use one of {JUDGE_ORDERS}")

    @classmethod
    def from_mapping(cls, values: dict | None, seed: int = 2024) -> IplSettings:
        values = dict(values or {})
        values.pop("loss", None)
        rewrite = values.pop("rewrite", None) or {}
        known = {"rounds", "answer_max_new_tokens", "judge_holdout", "drop_discrimination"}
        known |= {"generation_batch_size", "template", "seed", "procedure", "lora", "judge_orders"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise KeyError(f"unknown ipl settings {unknown}")
        values.setdefault("seed", seed)
        params = GenerationParams(**{**cls().rewrite.as_dict(), **rewrite, "seed": values["seed"]})
        return cls(rewrite=params, **values)


@dataclass
class RoundEdit:
    """The rebuilt rows of a round and what changed."""

    rows: list[dict]
    n_optimizer_rows: int = 0
    n_replaced: int = 0
    n_instruction_rewritten: int = 0
    n_discrimination_before: int = 0
    n_discrimination_after: int = 0
    # one record per optimizer row: current and rewritten prompt, the judge's letter, kept?
    decisions: list[dict] = field(default_factory=list)
    n_zero_gradient_dropped: int = 0

    @property
    def replaced_share(self) -> float | None:
        return self.n_replaced / self.n_optimizer_rows if self.n_optimizer_rows else None

    def stats(self) -> dict[str, Any]:
        return {
            "n_rows": len(self.rows),
            "n_optimizer_rows": self.n_optimizer_rows,
            "n_replaced": self.n_replaced,
            "replaced_share": self.replaced_share,
            "n_instruction_rewritten": self.n_instruction_rewritten,
            "n_discrimination_before": self.n_discrimination_before,
            "n_discrimination_after": self.n_discrimination_after,
            "n_zero_gradient_dropped": self.n_zero_gradient_dropped,
        }


def split_judge_holdout(rows: list[dict], share: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Set aside ``share`` of the discrimination rows (at least one if any) for judge accuracy."""
    discrimination = [i for i, r in enumerate(rows) if r["case_type"] == DISCRIMINATION_CASE]
    if not discrimination or share <= 0:
        return rows, []
    count = max(1, math.ceil(share * len(discrimination)))
    held = set(random.Random(seed).sample(discrimination, min(count, len(discrimination))))
    return [r for i, r in enumerate(rows) if i not in held], [rows[i] for i in sorted(held)]


def drop_discrimination_rows(rows: list[dict], share: float, rng: random.Random) -> list[dict]:
    """Remove ``floor(share * n)`` of the ``n`` discrimination rows, chosen at random."""
    discrimination = [i for i, r in enumerate(rows) if r["case_type"] == DISCRIMINATION_CASE]
    dropped = set(rng.sample(discrimination, math.floor(share * len(discrimination))))
    return [r for i, r in enumerate(rows) if i not in dropped]


def rebuild_round_rows(
    rows: list[dict],
    *,
    generator: Generator,
    judge: Callable[[list[str]], Sequence[JudgeVerdict]],
    to_model_input: Callable[[str], str],
    template: Any,
    settings: IplSettings,
    round_index: int,
) -> RoundEdit:
    """Steps 1-5 of the module docstring; ``rows`` are not modified.

    ``to_model_input`` turns a stored (Tulu-wrapped) prompt into the model's chat format;
    ``judge`` maps model-ready discriminator prompts to verdicts: a letter ``"A"``/``"B"``, or
    the log-probabilities of both letters (``fipo_utils.training.judge.judge_scores``), which
    then go into the round's decision records beside the letter.
    """
    rng = random.Random(settings.seed * 1000 + round_index)
    original = settings.procedure == "original"
    rows = [dict(r) for r in rows]
    edit = RoundEdit(rows=rows)
    edit.n_discrimination_before = sum(r["case_type"] == DISCRIMINATION_CASE for r in rows)
    optimizer = [r for r in rows if r["case_type"] in OPTIMIZER_CASES]
    edit.n_optimizer_rows = len(optimizer)
    rewrite = GenerationParams(**{**settings.rewrite.as_dict(), "seed": rng.randrange(2**31)})

    # 1-2. rewrite and judge
    rewrites = generator.generate([to_model_input(r["prompt"]) for r in optimizer], rewrite)
    new_prompts = [text.strip() + r["p_o"] for text, r in zip(rewrites, optimizer, strict=True)]
    if original:  # the original stripped a "Golden Prompt:" echo and always put the new in A
        new_prompts = [p.replace("Golden Prompt:", "").strip() for p in new_prompts]
        new_in_a = [True] * len(optimizer)
    else:
        new_in_a = [rng.random() < 0.5 for _ in optimizer]
    both = not original and settings.judge_orders == "both"
    # both orders: the rewrite in slot A, then in slot B (a position-biased judge that always
    # answers one letter then never replaces a prompt)
    slots = [(True, False) if both else (first,) for first in new_in_a]
    questions = []
    for row, new, order in zip(optimizer, new_prompts, slots, strict=True):
        for first in order:
            a, b = (new, row["s_p"]) if first else (row["s_p"], new)
            question = render_discriminator_prompt(template, row["r_p"], a, b, row["g_r"])
            questions.append(question if original else to_model_input(wrap_tulu(question)))
    if original:  # one sampled token; anything but "a" keeps the old prompt
        sampled = _sample_one_token(generator, questions, settings, rng)
        judged = [{"verdict": "A" if t.lower() == "a" else "B", "sampled": t} for t in sampled]
    else:
        verdicts = [_judged(v) for v in judge(questions)]
        judged = (
            [_both_orders(verdicts[i], verdicts[i + 1]) for i in range(0, len(verdicts), 2)]
            if both
            else verdicts
        )
    for row, new, first, said, text in zip(
        optimizer, new_prompts, new_in_a, judged, rewrites, strict=True
    ):
        wins = said["wins_both"] if both else (said["verdict"] == "A") == first
        kept = bool(text.strip()) and wins and new != row["s_p"]
        edit.decisions.append(
            {
                "id": row.get("id"),
                "case_type": row["case_type"],
                "current": row["s_p"],
                "rewrite": new,
                "rewrite_slot": "both" if both else ("A" if first else "B"),
                **said,
                "kept": kept,
            }
        )
        if kept:
            row["s_p"] = new
            edit.n_replaced += 1

    # 3. re-answer with the kept prompt: the new silver response
    needs_answer = [r for r in optimizer if r["case_type"] in SILVER_CASES]
    silver = _answer(
        generator, needs_answer, [r["s_p"] for r in needs_answer], to_model_input, settings, rng
    )
    for row, answer in zip(needs_answer, silver, strict=True):
        row["silver"] = answer
    for row in optimizer:
        case = row["case_type"]
        text = render_optimizer_prompt(
            template,
            row["s_p"],
            silver_response=row.pop("silver", None) if case in SILVER_CASES else None,
            golden_response=row["g_r"] if case in GOLDEN_CASES else None,
            word_limit=count_words(row["chosen"]),
        )
        row["prompt"] = wrap_tulu(text)

    # 4. instruction-following rows: the model's own answer is the rejected side
    instruction = [r for r in rows if r["case_type"] in INSTRUCTION_CASES]
    answers = _answer(
        generator, instruction, [None] * len(instruction), to_model_input, settings, rng
    )
    for row, answer in zip(instruction, answers, strict=True):
        row["rejected"] = answer
        edit.n_instruction_rewritten += 1

    # 5. drop half of the discrimination rows
    if original:  # a coin per row, as the original
        keep = 1 - settings.drop_discrimination
        rows = [r for r in rows if r["case_type"] != DISCRIMINATION_CASE or rng.random() < keep]
    else:
        rows = drop_discrimination_rows(rows, settings.drop_discrimination, rng)
        # rows whose re-answer equals the chosen side would train on a zero gradient
        kept = [r for r in rows if r["rejected"].strip() != r["chosen"].strip()]
        edit.n_zero_gradient_dropped = len(rows) - len(kept)
        rows = kept
    edit.rows = rows
    edit.n_discrimination_after = sum(r["case_type"] == DISCRIMINATION_CASE for r in edit.rows)
    return edit


def _judged(answer: str | tuple[float, float]) -> dict[str, Any]:
    """A judge's answer as decision fields: the letter, and its scores when it gave them."""
    from fipo_utils.training.judge import verdict

    if isinstance(answer, str):
        return {"verdict": answer}
    return {"verdict": verdict(answer), "logprob_A": answer[0], "logprob_B": answer[1]}


def _both_orders(new_in_a: dict[str, Any], new_in_b: dict[str, Any]) -> dict[str, Any]:
    """One decision from the verdicts with the rewrite in slot A and in slot B: it wins only
    when the judge picks it both times (``verdict`` is the first order's letter)."""
    swapped = {f"{key}_swapped": value for key, value in new_in_b.items()}
    wins = new_in_a["verdict"] == "A" and new_in_b["verdict"] == "B"
    return {**new_in_a, **swapped, "wins_both": wins}


def _sample_one_token(
    generator: Generator, prompts: list[str], settings: IplSettings, rng: random.Random
) -> list[str]:
    """One token per prompt, sampled at the rewrite temperature (the original's judge and
    multiple-choice re-answers), stripped."""
    params = GenerationParams(
        max_new_tokens=1,
        temperature=settings.rewrite.temperature,
        top_p=settings.rewrite.top_p,
        seed=rng.randrange(2**31),
    )
    return [text.strip() for text in generator.generate(prompts, params)]


def _answer(
    generator: Generator,
    rows: list[dict],
    questions: list[str | None],
    to_model_input: Callable[[str], str],
    settings: IplSettings,
    rng: random.Random,
) -> list[str]:
    """Answer each row: one token for multiple choice, up to ``answer_max_new_tokens`` else.

    A question of ``None`` means the row's own prompt is the question (instruction rows).
    ``project``: greedy, chat-wrapped. ``original``: sampled at the rewrite temperature, a
    kept prompt answered as bare text (instruction rows keep their stored wrapping, as the
    original's did), letters lower-cased and a non-letter replaced by a random one.
    """
    original = settings.procedure == "original"
    outputs: list[str] = [""] * len(rows)
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        is_mc = row["p_o"] != "" or row["case_type"] == MC_INSTRUCTION_CASE
        groups.setdefault(1 if is_mc else settings.answer_max_new_tokens, []).append(i)
    for max_tokens, index in groups.items():
        if original:
            prompts = [
                to_model_input(rows[i]["prompt"])
                if (question := questions[i]) is None
                else question
                for i in index
            ]
            params = GenerationParams(
                max_new_tokens=max_tokens,
                temperature=settings.rewrite.temperature,
                top_p=settings.rewrite.top_p,
                seed=rng.randrange(2**31),
            )
        else:
            prompts = [
                to_model_input(
                    rows[i]["prompt"] if (question := questions[i]) is None else wrap_tulu(question)
                )
                for i in index
            ]
            params = GenerationParams(
                max_new_tokens=max_tokens, temperature=0.0, seed=settings.seed
            )
        for i, text in zip(index, generator.generate(prompts, params), strict=True):
            outputs[i] = text.strip()
            if original and max_tokens == 1:
                letter = outputs[i].lower()
                outputs[i] = letter if letter in ("a", "b") else rng.choice(["A", "B"])
    return outputs


def ipl_settings(data: dict, loss: str, **overrides: Any) -> tuple[IplSettings, Any]:
    """The ``ipl`` section and the training settings of one round (one epoch; ``ipl.lora``,
    when set, chooses LoRA or full fine-tuning for IPL alone)."""
    from fipo_utils.training.strategies import settings_from_profile

    ipl = IplSettings.from_mapping(data.get("ipl"), seed=data.get("seed", 2024))
    lora = {} if ipl.lora is None else {"lora": ipl.lora}
    # a None override (the CLI without --lora/--full, notebook 04's default) keeps ipl.lora
    given = {key: value for key, value in overrides.items() if value is not None}
    return ipl, settings_from_profile(data, loss, **{"epochs": 1, **lora, **given})


def run_ipl(
    run_dir: str | Path,
    profile: str | dict = "smoke",
    loss: str = "ipo",
    *,
    name: str | None = None,
    data_path: str | Path | None = None,
    data_variant: str | None = None,
    rounds: int | None = None,
    callbacks: list | None = None,
    **overrides: Any,
) -> dict:
    """Run (or resume) IPL into the run folder; returns the ``rounds.json`` record.

    Writes ``checkpoints/<name>/round_<k>/final`` per round (``checkpoints/<name>/final``
    links to the last), ``train/<name>/round_<k>/data.jsonl`` (the rows each round trained
    on), ``train/<name>/rounds.json`` and ``train/<name>/metrics.json``. ``data_variant``
    (``gen``, ``partial``) starts from 01's ablation data, named ``ipl-<loss>-<variant>-...``.
    Settings that differ from the ones ``checkpoints/<name>/fingerprint.json`` records stop
    the run (see :mod:`fipo_utils.training.fingerprint`); the number of rounds may change.
    """
    from fipo_utils.data.template import load_template
    from fipo_utils.runs.profiles import load_profile
    from fipo_utils.training.distributed import (
        is_main_process,
        main_process_writes,
        plain_loading,
        refuse_data_parallel,
    )
    from fipo_utils.training.fingerprint import (
        check_fingerprint,
        training_fingerprint,
        write_fingerprint,
    )
    from fipo_utils.training.judge import judge_accuracy
    from fipo_utils.training.rows import IPL_FIELDS, read_jsonl_rows
    from fipo_utils.training.train import (
        fit,
        prepare_examples,
        split_eval_rows,
        variant_data_path,
        variant_name,
    )

    if loss not in ("dpo", "ipo"):
        raise ValueError(f"IPL loss {loss!r}: use 'dpo' or 'ipo'")
    run_dir = Path(run_dir)
    data = load_profile(profile) if isinstance(profile, str) else profile
    ipl, settings = ipl_settings(data, loss, **overrides)
    n_rounds = rounds or ipl.rounds
    name = name or variant_name(f"ipl-{settings.name}", data_variant)
    checkpoints = inside_run(run_dir, "checkpoints", name)
    train_dir = inside_run(run_dir, "train", name)
    rounds_path = train_dir / "rounds.json"
    record = read_json_or_none(rounds_path) or {"name": name, "loss": loss, "rounds": []}
    done = {r["round"]: r for r in record["rounds"]}

    data_path = (
        Path(data_path) if data_path else variant_data_path(run_dir, "data/ipl.jsonl", data_variant)
    )
    # held-out pairs (``train.eval_rows``, never trained, never rebuilt): each round's eval
    # loss and reward margins against that round's reference, as 02 and 03 report them
    rows, eval_rows = split_eval_rows(
        read_jsonl_rows(data_path, IPL_FIELDS), settings.max_rows, settings.eval_rows
    )
    # rounds may grow or shrink: earlier rounds stay valid, so they are not part of it
    ipl_shape = {**ipl.__dict__, "rewrite": ipl.rewrite.as_dict(), "loss": loss}
    ipl_shape.pop("rounds")
    fingerprint = training_fingerprint(
        settings.as_dict(),
        data_path,
        len(rows),
        overrides={**overrides, "rounds": rounds},
        profile=profile if isinstance(profile, str) else data.get("name"),
        extra={"ipl": ipl_shape},
    )
    check_fingerprint(checkpoints, fingerprint)
    trained = all(
        k in done and (checkpoints / f"round_{k}" / "final" / "config.json").is_file()
        for k in range(1, (rounds or ipl.rounds) + 1)
    )
    if not trained:  # a finished run is read back on any machine
        profile_name = profile if isinstance(profile, str) else str(data.get("name"))
        arguments = ["--run-dir", str(run_dir), "--profile", profile_name]
        refuse_data_parallel(settings.accelerate_config, [*arguments, "--strategy", f"ipl-{loss}"])
    main_process_writes(lambda: write_fingerprint(checkpoints, fingerprint))
    if ipl.procedure == "original":  # every discrimination row trains; judged on them
        holdout = [r for r in rows if r["case_type"] == DISCRIMINATION_CASE]
    else:
        rows, holdout = split_judge_holdout(rows, ipl.judge_holdout, ipl.seed)
    # the template 01 rendered the data with, unless IPL names its own
    template = load_template(ipl.template or data.get("diversify", {}).get("template"))
    previous = settings.base_model
    history: list[dict] = []
    for k in range(1, n_rounds + 1):
        round_dir = checkpoints / f"round_{k}"
        data_file = train_dir / f"round_{k}" / "data.jsonl"
        if k in done and (round_dir / "final" / "config.json").is_file():
            rows, previous = read_jsonl_rows(data_file, IPL_FIELDS), str(round_dir / "final")
            history += done[k].get("log_history", [])
            continue
        entry: dict[str, Any] = {"round": k, "start_model": previous}
        # one writer: the main process rebuilds the round whole (outside ZeRO-3, on its GPU
        # when there is one); every rank then trains on the rows it wrote
        rebuild = (
            None if k == 1 else partial(_rebuild_round, rows, previous, settings, ipl, template, k)
        )
        main_process_writes(partial(_write_round_data, rows, data_file, rebuild))
        rows = read_jsonl_rows(data_file, IPL_FIELDS)
        announce_rows(k, rows)
        entry.update(read_json_or_none(data_file.with_name("edit.json")) or {})
        entry.setdefault("n_rows", len(rows))
        result = fit(
            settings,
            rows,
            round_dir,
            start_model=previous,
            reference_model=previous,
            callbacks=callbacks,
            eval_rows=eval_rows,
        )
        losses = [h["loss"] for h in result.log_history if "loss" in h]
        predicted = main_process_writes(
            partial(_judge_holdout, result.final_dir, settings, holdout)
        )
        entry.update(
            {
                "final_dir": str(result.final_dir),
                "judge_accuracy": (
                    judge_accuracy(predicted, [r["chosen"] for r in holdout])
                    if predicted is not None
                    else None
                ),
                "n_judge_holdout": len(holdout),
                "n_eval_rows": len(eval_rows),
                "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None,
                "loss_mean": sum(losses) / len(losses) if losses else None,
                "train_wall_s": result.wall_s,
                "launch": result.launch,
                "log_history": [{**h, "round": k} for h in result.log_history],
            }
        )
        history += entry["log_history"]
        record["rounds"] = [r for r in record["rounds"] if r["round"] != k] + [entry]
        main_process_writes(partial(write_json_atomic, rounds_path, record))
        previous = str(result.final_dir)
    main_process_writes(partial(_link_final, checkpoints, n_rounds))
    metrics = {
        "name": name,
        "strategy": f"ipl-{loss}",
        "settings": settings.as_dict(),
        "ipl": {**ipl.__dict__, "rewrite": ipl.rewrite.as_dict(), "rounds": n_rounds},
        "final_dir": str(checkpoints / "final"),
        "fingerprint": fingerprint["hash"],
        "log_history": history,
    }
    main_process_writes(partial(write_json_atomic, train_dir / "metrics.json", metrics))
    if not is_main_process():
        return record
    from fipo_utils.training.gate import ensure_gate

    with plain_loading():  # the gate's models load whole, also under ZeRO-3
        gate = ensure_gate(
            run_dir,
            data,
            settings,
            name,
            trained_file=data_path,
            n_trained=settings.max_rows,
            eval_rows=eval_rows,
            prepare=prepare_examples,
        )
    return {**record, "gate": gate.as_dict()}


def announce_rows(round_index: int, rows: list[dict]) -> None:
    """With several processes, each prints the digest of the rows it trains on in a round:
    equal digests in the log show that every rank trained on the rows the main one wrote."""
    import hashlib
    import sys

    from fipo_utils.runs.io import jsonl_text
    from fipo_utils.training.distributed import rank, world_size

    if world_size() > 1:
        digest = hashlib.sha256(jsonl_text(rows).encode()).hexdigest()
        # flushed as one short write: the ranks share one pipe, and a line written with
        # other buffered output can be split by another rank's output
        sys.stdout.flush()
        line = f"ipl round {round_index}: rank {rank()}: {len(rows)} rows, sha256 {digest}"
        print(line, flush=True)


def _write_round_data(
    rows: list[dict], data_file: Path, rebuild: Callable[[], RoundEdit] | None
) -> None:
    """Write a round's rows (``rows`` as they are, or rebuilt by ``rebuild``) and, when
    rebuilt, what changed (``edit.json``, ``judge.jsonl``): the main process's job. A round
    rebuilt before a crash is reused, never generated again."""
    from fipo_utils.training.distributed import generation_device
    from fipo_utils.training.rows import write_jsonl

    if data_file.is_file():
        return
    if rebuild is not None:
        edit = rebuild()
        stats = {**edit.stats(), "generation_device": generation_device() or "cpu"}
        write_json_atomic(data_file.with_name("edit.json"), stats)
        write_jsonl(edit.decisions, data_file.with_name("judge.jsonl"))
        rows = edit.rows
    write_jsonl(rows, data_file)


def _rebuild_round(
    rows: list[dict],
    previous: str,
    settings: Any,
    ipl: IplSettings,
    template: Any,
    round_index: int,
) -> RoundEdit:
    """Steps 1-5 with the previous round's model, whole and on this process's GPU if any.

    Everything runs outside ZeRO-3 (:func:`plain_loading`), the generation too: under a
    ZeRO-3 config transformers' ``generate`` would wait for the other ranks at every token.
    """
    from fipo_utils.models.generate import TransformersGenerator
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.distributed import generation_device, plain_loading
    from fipo_utils.training.judge import judge_scores
    from fipo_utils.training.rows import rewrap_prompt

    with plain_loading():
        loaded = load_model(previous, dtype=settings.dtype, device=generation_device())
        tokenizer = loaded.tokenizer
        return rebuild_round_rows(
            rows,
            generator=TransformersGenerator(loaded.model, tokenizer, ipl.generation_batch_size),
            judge=partial(judge_scores, loaded.model, tokenizer),
            to_model_input=partial(
                rewrap_prompt, prompt_format=settings.prompt_format, tokenizer=tokenizer
            ),
            template=template,
            settings=ipl,
            round_index=round_index,
        )


def _judge_holdout(final_dir: Path, settings: Any, holdout: list[dict]) -> list[str]:
    """The trained round's letters on the held-out discrimination rows (main process)."""
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.distributed import generation_device, plain_loading
    from fipo_utils.training.judge import judge_letters
    from fipo_utils.training.rows import rewrap_prompt

    with plain_loading():
        trained = load_model(str(final_dir), dtype=settings.dtype, device=generation_device())
        tokenizer = trained.tokenizer
        prompts = [rewrap_prompt(r["prompt"], settings.prompt_format, tokenizer) for r in holdout]
        return judge_letters(trained.model, trained.tokenizer, prompts)


def _link_final(checkpoints: Path, last_round: int) -> None:
    """``checkpoints/<name>/final`` -> the last round's model (a link, not a 0.5 GB copy)."""
    link = checkpoints / "final"
    if link.is_symlink():
        link.unlink()
    if not link.exists():
        link.symlink_to(Path(f"round_{last_round}") / "final", target_is_directory=True)
