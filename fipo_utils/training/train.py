"""Train one SFT, DPO or IPO optimizer: :func:`train_strategy` (what notebooks 02-03 call)
and :func:`fit`, the trainer run that IPL (:mod:`fipo_utils.training.ipl`) repeats each round.
The command line that dispatches to this module or to IPL is :mod:`fipo_utils.training.launch`.

A run writes into the run folder (docs/CONTRACTS.md):
``checkpoints/<name>/checkpoint-N/`` (trainer checkpoints, resumed after a crash),
``checkpoints/<name>/final/`` (a standalone safetensors model; LoRA merged, the adapter
kept beside it in ``checkpoints/<name>/adapter/``) and ``train/<name>/metrics.json``.
A finished run is never trained over: calling it again with the same settings returns the
saved metrics; with other settings it stops and names them (``checkpoints/<name>/
fingerprint.json``, see :mod:`fipo_utils.training.fingerprint`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fipo_utils.runs.checkpoints import last_complete_checkpoint
from fipo_utils.runs.io import read_json, write_json_atomic
from fipo_utils.runs.names import inside_run, seeded_name

if TYPE_CHECKING:  # heavy imports stay inside functions so `fipo --help` is fast
    from transformers import TrainerCallback

    from fipo_utils.training.strategies import TrainSettings

DATA_FILES = {"sft": "data/sft.json", "dpo": "data/dpo.jsonl", "ipo": "data/dpo.jsonl"}


def variant_data_path(run_dir: Path, data_file: str, data_variant: str | None) -> Path:
    """A training file of 01's main variant (``data/<file>``) or of one of its ablations
    (``data/<variant>/<file>``, the paper's Table 6 ``-gen`` / ``-partial`` rows)."""
    from fipo_utils.runs.folders import require

    if not data_variant:
        return require(run_dir, data_file, "01")
    folder, name = data_file.split("/", 1)
    return require(run_dir, f"{folder}/{data_variant}/{name}", "01 (diversify.ablations)")


def variant_name(name: str, data_variant: str | None) -> str:
    """The optimizer name of a variant: the ablation goes before ``lora``/``full``
    (``sft-lora`` -> ``sft-gen-lora``), the form the analysis parses."""
    if not data_variant:
        return name
    head, kind = name.rsplit("-", 1)
    return f"{head}-{data_variant}-{kind}"


@dataclass
class FitResult:
    final_dir: Path
    log_history: list[dict]
    resumed_from: str | None
    wall_s: float
    # how the run was launched: processes, rows per step, the dtype the trained model held
    launch: dict[str, Any]


def prepare_examples(settings: TrainSettings, rows: list[dict], tokenizer) -> list[dict]:
    """Re-wrap prompts for the model's chat format and cap their length."""
    from fipo_utils.training.rows import (
        PREFERENCE_TARGETS,
        SFT_TARGETS,
        trainer_examples,
        truncate_prompt,
    )

    targets = SFT_TARGETS if settings.strategy == "sft" else PREFERENCE_TARGETS
    examples = trainer_examples(rows, targets, settings.prompt_format, tokenizer)
    for example in examples:
        limits: dict[str, int] = {}
        if settings.truncation == "original":
            responses = [example[k] for k in ("completion", "chosen", "rejected") if k in example]
            longest = max(len(tokenizer(r, add_special_tokens=False).input_ids) for r in responses)
            # +1: the original collator appended EOS to every response before comparing
            limits = {"response_tokens": longest + 1, "max_length": settings.max_length}
        example["prompt"] = truncate_prompt(
            example["prompt"], tokenizer, settings.max_prompt_length, **limits
        )
    return examples


def fit(
    settings: TrainSettings,
    rows: list[dict],
    checkpoint_dir: str | Path,
    *,
    start_model: str | None = None,
    reference_model: str | None = None,
    callbacks: list[TrainerCallback] | None = None,
    hash_path: str | Path | None = None,
    eval_rows: list[dict] | None = None,
) -> FitResult:
    """Train ``start_model`` (default: the settings' base) on ``rows``, resuming if possible.

    ``reference_model`` is the frozen reference for full preference fine-tuning (default:
    the start model); with LoRA the reference is the start model with adapters disabled.
    The trainer config is created before any model is loaded, so that under DeepSpeed ZeRO-3
    each rank loads only its partition (:func:`~fipo_utils.training.strategies.trainer_config`).
    """
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.distributed import (
        is_main_process,
        trainable_dtype,
        world_size,
        write_weight_digests,
    )
    from fipo_utils.training.log_table import quiet_trainer
    from fipo_utils.training.strategies import (
        build_preference_trainer,
        build_sft_trainer,
        grad_accum_for,
        trainer_config,
    )

    checkpoint_dir = Path(checkpoint_dir)
    start = start_model or settings.base_model
    output_dir = str(checkpoint_dir)
    config = trainer_config(settings, output_dir, evaluate=bool(eval_rows))
    processes = world_size()
    launch: dict[str, Any] = {
        "world_size": processes,
        "batch_size": settings.batch_size,
        "grad_accum": grad_accum_for(settings, processes),
        "trained_dtype": trainable_dtype(settings.dtype, settings.lora),
    }
    launch["global_batch"] = settings.batch_size * launch["grad_accum"] * processes
    if is_main_process():
        print(
            f"{checkpoint_dir.name}: {launch['global_batch']} rows per optimizer step = "
            f"{settings.batch_size} per process x {launch['grad_accum']} accumulation x "
            f"{processes} processes; trained weights in {launch['trained_dtype']}"
        )
    loaded = load_model(start, dtype=launch["trained_dtype"])
    model, tokenizer = loaded.model, loaded.tokenizer
    model.train()
    examples = prepare_examples(settings, rows, tokenizer)
    held_out = prepare_examples(settings, eval_rows, tokenizer) if eval_rows else None
    if settings.strategy == "sft":
        trainer = build_sft_trainer(
            settings,
            model,
            tokenizer,
            examples,
            output_dir,
            callbacks,
            eval_examples=held_out,
            config=config,
        )
    else:
        ref = None
        if not settings.lora and not settings.precompute_ref_log_probs:
            ref = load_model(reference_model or start, dtype=settings.dtype).model
        trainer = build_preference_trainer(
            settings,
            model,
            tokenizer,
            examples,
            output_dir,
            ref_model=ref,
            callbacks=callbacks,
            eval_examples=held_out,
            config=config,
        )
    quiet_trainer(trainer)
    resume = last_complete_checkpoint(checkpoint_dir)
    began = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    if held_out and not _evaluated_last_step(trainer.state):
        trainer.evaluate()  # the last point of the eval curve, whatever eval_steps was
    wall_s = time.perf_counter() - began

    if hash_path is not None:
        write_weight_digests(trainer, Path(hash_path))
    final_dir = save_final_model(trainer, settings, tokenizer, checkpoint_dir, start)
    return FitResult(final_dir, list(trainer.state.log_history), resume, wall_s, launch)


def _evaluated_last_step(state) -> bool:
    """Whether the trainer's own schedule already evaluated the final weights (the last
    step is a multiple of ``eval_steps``): evaluating again would log the same point twice."""
    return any(
        "eval_loss" in entry and entry.get("step") == state.global_step
        for entry in state.log_history
    )


class SavedSettings(Protocol):
    """What :func:`save_final_model` reads of a strategy's settings."""

    lora: bool
    dtype: str


def save_final_model(trainer, settings: SavedSettings, tokenizer, checkpoint_dir: Path, start: str):
    """Write ``final/``, a standalone model, from whatever backend trained it.

    ``trainer.save_model`` gathers sharded weights (ZeRO-3, FSDP) and must run on every
    rank. LoRA: it writes the adapter to ``adapter/``; the main process then merges it into
    a fresh, whole copy of the start model (loaded outside ZeRO-3, :func:`plain_loading`),
    so merging never touches sharded parameters; the other ranks wait for it.
    """
    from fipo_utils.training.distributed import plain_loading
    from fipo_utils.training.lora import merged_model, save_standalone

    final_dir = checkpoint_dir / "final"
    if settings.lora:
        adapter_dir = checkpoint_dir / "adapter"
        trainer.save_model(str(adapter_dir))
        if trainer.accelerator.is_main_process:
            with plain_loading():
                model = merged_model(start, adapter_dir, settings.dtype)
                save_standalone(model, tokenizer, final_dir)
    else:
        trainer.save_model(str(final_dir))
        if trainer.accelerator.is_main_process:
            tokenizer.save_pretrained(final_dir)
    trainer.accelerator.wait_for_everyone()
    return final_dir


def train_strategy(
    run_dir: str | Path,
    profile: str | dict = "smoke",
    strategy: str = "sft",
    *,
    name: str | None = None,
    data_path: str | Path | None = None,
    data_variant: str | None = None,
    callbacks: list[TrainerCallback] | None = None,
    **overrides: Any,
) -> dict:
    """Train one SFT/DPO/IPO optimizer into the run folder and return its metrics record.

    ``overrides`` are profile keys (``lora``, ``max_steps``, ``max_rows``, ``base_model``,
    ``learning_rate``, ...); ``None`` keeps the profile's value. ``data_variant`` (``gen``,
    ``partial``) trains on 01's ablation data in ``data/<variant>/`` under the name
    ``<strategy>-<variant>-<lora|full>``; a ``seed`` override trains beside the profile
    seed's checkpoint, as ``<name>-seed<N>``.
    """
    from fipo_utils.training.distributed import is_main_process, refuse_data_parallel
    from fipo_utils.training.fingerprint import (
        check_fingerprint,
        training_fingerprint,
        write_fingerprint,
    )
    from fipo_utils.training.rows import read_jsonl_rows, read_sft_rows
    from fipo_utils.training.strategies import settings_from_profile

    run_dir = Path(run_dir)
    settings = settings_from_profile(profile, strategy, **overrides)
    name = name or seeded_name(variant_name(settings.name, data_variant), overrides.get("seed"))
    metrics_path = inside_run(run_dir, "train", name) / "metrics.json"
    checkpoint_dir = inside_run(run_dir, "checkpoints", name)
    data_path = (
        Path(data_path)
        if data_path
        else variant_data_path(run_dir, DATA_FILES[strategy], data_variant)
    )
    every = read_sft_rows(data_path) if strategy == "sft" else read_jsonl_rows(data_path)
    rows, eval_rows = split_eval_rows(every, settings.max_rows, settings.eval_rows)
    fingerprint = training_fingerprint(
        settings.as_dict(),
        data_path,
        len(rows),
        overrides=overrides,
        profile=profile if isinstance(profile, str) else profile.get("name"),
    )
    finished = metrics_path.is_file() and (checkpoint_dir / "final" / "config.json").is_file()
    saved = read_json(metrics_path) if finished else None
    check_fingerprint(checkpoint_dir, fingerprint)
    gate = {"trained_file": data_path, "n_trained": len(rows), "eval_rows": eval_rows}
    if saved is not None:
        return (
            _with_gate(run_dir, profile, settings, name, saved, gate)
            if is_main_process()
            else saved
        )
    profile_name = profile if isinstance(profile, str) else str(profile.get("name"))
    arguments = ["--run-dir", str(run_dir), "--profile", profile_name, "--strategy", strategy]
    refuse_data_parallel(settings.accelerate_config, arguments)
    if is_main_process():
        write_fingerprint(checkpoint_dir, fingerprint)
    result = fit(
        settings,
        rows,
        checkpoint_dir,
        callbacks=callbacks,
        hash_path=run_dir / "train" / name / "weights.sha256",
        eval_rows=eval_rows,
    )
    record = {
        "name": name,
        "strategy": strategy,
        "settings": settings.as_dict(),
        "data": str(data_path),
        "n_rows": len(rows),
        "fingerprint": fingerprint["hash"],
        "n_eval_rows": len(eval_rows),
        "final_dir": str(result.final_dir),
        "resumed_from": result.resumed_from,
        "train_wall_s": result.wall_s,
        "launch": result.launch,
        "log_history": result.log_history,
    }
    if is_main_process():
        write_json_atomic(metrics_path, record)
        record = _with_gate(run_dir, profile, settings, name, record, gate)
    return record


def _with_gate(
    run_dir: Path, profile: str | dict, settings: TrainSettings, name: str, record: dict, gate: dict
) -> dict:
    """The metrics record with the "did it learn" gate of its checkpoint (measured once,
    ``checkpoints/<name>/gate.json``; :mod:`fipo_utils.training.gate`)."""
    from fipo_utils.training.distributed import plain_loading
    from fipo_utils.training.gate import ensure_gate

    with plain_loading():  # the gate's models load whole, also under ZeRO-3
        result = ensure_gate(run_dir, profile, settings, name, **gate, prepare=prepare_examples)
    return {**record, "gate": result.as_dict()}


def split_eval_rows(
    rows: list[dict], max_rows: int | None, n_eval: int
) -> tuple[list[dict], list[dict]]:
    """(trained rows, eval rows): the first ``max_rows`` rows train, the next ``n_eval`` are
    held out; without ``max_rows`` the eval rows come off the end so none is ever trained."""
    from fipo_utils.training.rows import take_rows

    if n_eval <= 0:
        return take_rows(rows, max_rows), []
    end = len(rows) - n_eval if not max_rows else min(max_rows, len(rows) - n_eval)
    if end <= 0:
        raise ValueError(f"eval_rows {n_eval} leaves no training rows of {len(rows)}")
    return rows[:end], rows[end : end + n_eval]
