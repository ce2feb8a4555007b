"""Tester-feedback RL: a GRPO strategy whose reward is a frozen tester's answers.

Not in the FIPO paper (docs/DIVERGENCES.md). FIPO learns from a fixed preference set; this
strategy learns from the tester instead, as PRL (arXiv 2505.14412) and GPS (arXiv
2511.21714) do, with trl's ``GRPOTrainer``: for each training item the policy writes
``num_generations`` rewrites of its instruction with the optimizer's test-time template,
the tester answers the item asked with each (:mod:`fipo_utils.feedback.reward`), and
the group-relative advantage of each rewrite's reward drives the update, with a KL term
(``beta``) to the start model.

A run writes, like the other strategies (docs/CONTRACTS.md): ``checkpoints/<name>/final/``
(LoRA merged), ``train/<name>/metrics.json`` (log history with the dev-split reward curve,
tester calls, wall time), ``train/<name>/rl_items.json`` (the split) and the tester-score
cache. Notebook 05 finds ``final/`` by name like ``sft-lora``'s.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fipo_utils.runs.io import read_json, write_json_atomic
from fipo_utils.runs.profiles import load_profile, merge_settings
from fipo_utils.runs.schema import check_mapping
from fipo_utils.training.lora import LoraSettings

DEFAULT_REWARD = {
    "tester_correct": 1.0,
    "tester_margin": 0.5,
    "invalid_rewrite": -1.0,
    "answer_leak": -1.0,
    "over_word_limit": -0.5,
}


@dataclass
class GrpoSettings:
    """Profile section ``grpo`` (with ``models`` and the profile seed); keys as in the profile."""

    base_model: str
    tester: str
    start_from: str | None = None  # a checkpoint of this run (e.g. sft-lora); null = the base
    lora: bool = True
    lora_settings: LoraSettings = field(default_factory=LoraSettings)
    prompt_format: str = "tulu"
    dtype: str = "float32"
    benchmarks: tuple[str, ...] = ("piqa", "mmlu", "gsm8k")
    n_train: int | dict[str, int] = 32  # items per benchmark (a mapping: per benchmark)
    n_dev: int = 8  # dev items per benchmark, for the reward curve
    num_generations: int = 4  # rewrites per item: the group of the advantage
    prompts_per_step: int = 2  # items per optimizer step
    max_completion_length: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    learning_rate: float = 1e-5
    beta: float = 0.04  # the KL coefficient
    epochs: float = 1.0
    max_steps: int = -1
    grad_accum: int = 1
    eval_steps: int = 5
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    mc_scoring: str = "continuation"
    tester_max_new_tokens: int = 128  # the tester's answer length on generation benchmarks
    reward: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REWARD))
    seed: int = 2024

    def __post_init__(self) -> None:
        if isinstance(self.lora_settings, dict):
            self.lora_settings = LoraSettings.from_mapping(self.lora_settings)
        self.benchmarks = tuple(self.benchmarks)

    @property
    def name(self) -> str:
        return f"grpo-{'lora' if self.lora else 'full'}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_settings"]["target_modules"] = list(self.lora_settings.target_modules)
        data["benchmarks"] = list(self.benchmarks)
        return data


def grpo_settings(profile: str | dict, **overrides: Any) -> GrpoSettings:
    """``models`` and the profile seed, then the ``grpo`` section, then non-``None`` overrides."""
    from fipo_utils.runs.settings import ModelsSettings, profile_seed

    data = load_profile(profile) if isinstance(profile, str) else profile
    models = ModelsSettings.from_profile(data)
    merged: dict[str, Any] = {
        "base_model": models.optimizer_base,
        "tester": models.testers[0],
        "prompt_format": models.format_for(models.optimizer_base),
        "dtype": models.dtype,
        "seed": profile_seed(data),
    }
    merged = merge_settings(merged, data.get("grpo", {}))
    merged = merge_settings(merged, overrides)
    unknown = sorted(set(merged) - {f.name for f in fields(GrpoSettings)})
    if unknown:
        raise KeyError(f"profile {data.get('name', '?')!r}: unknown grpo keys {unknown}")
    check_mapping(merged, f"profile {data.get('name', '?')!r}, grpo settings")
    return GrpoSettings(**merged)


def train_grpo(
    run_dir: str | Path, profile: str | dict = "smoke", *, name: str | None = None, **overrides
) -> dict:
    """Train a GRPO optimizer into the run folder and return its metrics record; a finished
    run with the same settings returns its saved record."""
    from fipo_utils.feedback.items import rl_items
    from fipo_utils.training.distributed import is_main_process
    from fipo_utils.training.fingerprint import (
        check_fingerprint,
        training_fingerprint,
        write_fingerprint,
    )

    run_dir = Path(run_dir)
    data = load_profile(profile) if isinstance(profile, str) else profile
    settings = grpo_settings(data, **overrides)
    name = name or settings.name
    train_dir, checkpoint_dir = run_dir / "train" / name, run_dir / "checkpoints" / name
    metrics_path = train_dir / "metrics.json"
    split = rl_items(data, settings.benchmarks, settings.n_train, settings.n_dev, settings.seed)
    split_path = train_dir / "rl_items.json"
    if is_main_process():
        split.write(split_path)
    start = _start_model(run_dir, settings)
    fingerprint = training_fingerprint(
        {**settings.as_dict(), "start_model": start},
        split_path,
        len(split.train),
        overrides=overrides,
        profile=data.get("name"),
    )
    check_fingerprint(checkpoint_dir, fingerprint)
    if metrics_path.is_file() and (checkpoint_dir / "final" / "config.json").is_file():
        return read_json(metrics_path)
    if is_main_process():
        write_fingerprint(checkpoint_dir, fingerprint)
    record = _fit(run_dir, data, settings, split, checkpoint_dir, train_dir, start)
    record.update(name=name, fingerprint=fingerprint["hash"], rl_items=str(split_path))
    if is_main_process():
        write_json_atomic(metrics_path, record)
    return record


def _start_model(run_dir: Path, settings: GrpoSettings) -> str:
    if not settings.start_from:
        return settings.base_model
    from fipo_utils.runs.folders import require

    return str(require(run_dir, f"checkpoints/{settings.start_from}/final", "02-04"))


def _dataset_rows(data: dict, settings: GrpoSettings, items: list, tokenizer: Any) -> list[dict]:
    """One row per item: the optimizer's test-time input (template, chat format, word limit),
    the item's key and its word limit (the reward functions read both)."""
    from fipo_utils.data.benchmarks import split_options
    from fipo_utils.data.template import load_template
    from fipo_utils.inference.optimize import WordLimit, optimizer_inputs
    from fipo_utils.runs.settings import InferSettings

    infer = InferSettings.from_profile(data)
    inputs, limits = optimizer_inputs(
        load_template(infer.template),
        [split_options(item)[0] for item in items],  # the question: options stay as they are
        fmt=settings.prompt_format,
        tokenizer=tokenizer,
        word_limit=WordLimit(**infer.word_limit),
    )
    return [
        {"prompt": text, "item_key": f"{item.benchmark}::{item.id}", "word_limit": limit}
        for text, limit, item in zip(inputs, limits, items, strict=True)
    ]


def _tester(data: dict, settings: GrpoSettings, cache_path: Path):
    """The tester behind its score cache, loaded once; scored as notebook 06 scores."""
    from fipo_utils.evaluation.evaluate import mc_scorings, score_instructions
    from fipo_utils.feedback.reward import CachedTester
    from fipo_utils.models.generate import GenerationParams
    from fipo_utils.models.generators import generator_from_settings
    from fipo_utils.runs.settings import EvaluateSettings, ModelsSettings

    models = ModelsSettings.from_profile(data)
    generator = generator_from_settings(
        settings.tester, EvaluateSettings.from_profile(data), models
    )
    fmt = models.format_for(settings.tester)
    params = GenerationParams(max_new_tokens=settings.tester_max_new_tokens, seed=settings.seed)
    mc = mc_scorings(settings.mc_scoring)

    def score(items, instructions):
        return score_instructions(generator, items, instructions, fmt, params, mc)

    return CachedTester(settings.tester, score, cache_path)


def _fit(
    run_dir: Path,
    data: dict,
    settings: GrpoSettings,
    split: Any,
    checkpoint_dir: Path,
    train_dir: Path,
    start: str,
) -> dict:
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig, GRPOTrainer

    from fipo_utils.feedback.reward import RewardFunctions
    from fipo_utils.models.loading import load_model
    from fipo_utils.training.gate import reward_gate, write_gate
    from fipo_utils.training.log_table import quiet_trainer
    from fipo_utils.training.train import save_final_model

    loaded = load_model(start, dtype=settings.dtype)
    model, tokenizer = loaded.model, loaded.tokenizer
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train()
    items = {f"{item.benchmark}::{item.id}": item for item in [*split.train, *split.dev]}
    from fipo_utils.training.distributed import rank as process_rank

    rank = process_rank()
    tester = _tester(data, settings, train_dir / f"tester_scores-rank{rank}.jsonl")
    from fipo_utils.data.template import load_template
    from fipo_utils.runs.settings import InferSettings

    rewards = RewardFunctions(
        items,
        tester,
        settings.max_completion_length,
        tokenizer.eos_token_id,
        load_template(InferSettings.from_profile(data).template),
    )
    config = GRPOConfig(**_grpo_arguments(settings, str(checkpoint_dir)))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=list[Any](rewards.functions()),
        args=config,
        train_dataset=Dataset.from_list(_dataset_rows(data, settings, split.train, tokenizer)),
        eval_dataset=Dataset.from_list(_dataset_rows(data, settings, split.dev, tokenizer)),
        processing_class=tokenizer,
        peft_config=settings.lora_settings.peft_config() if settings.lora else None,
    )
    quiet_trainer(trainer)
    resume = get_last_checkpoint(str(checkpoint_dir)) if checkpoint_dir.is_dir() else None
    began = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    trainer.evaluate()  # the curve's last point, whatever eval_steps was
    wall_s = time.perf_counter() - began
    final_dir = save_final_model(trainer, settings, tokenizer, checkpoint_dir, start)
    # did it learn: the dev reward against the untrained policy's (05 adds its rewrite check)
    gate = reward_gate(checkpoint_dir.name, start, trainer.state.log_history, len(split.dev), data)
    write_gate(checkpoint_dir, gate)
    return {
        "strategy": "grpo",
        "gate": gate.as_dict(),
        "settings": settings.as_dict(),
        "start_model": start,
        "n_rows": len(split.train),
        "n_dev_rows": len(split.dev),
        "final_dir": str(final_dir),
        "resumed_from": resume,
        "train_wall_s": wall_s,
        "tester": settings.tester,
        "tester_calls": tester.calls,
        "log_history": list(trainer.state.log_history),
    }


def _grpo_arguments(settings: GrpoSettings, output_dir: str) -> dict[str, Any]:
    import torch

    from fipo_utils.feedback.reward import reward_weights

    return {
        "output_dir": output_dir,
        "use_cpu": not torch.cuda.is_available(),
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        # trl counts completions per device batch: the items of a step times their group
        "per_device_train_batch_size": settings.prompts_per_step * settings.num_generations,
        "per_device_eval_batch_size": settings.prompts_per_step * settings.num_generations,
        "gradient_accumulation_steps": settings.grad_accum,
        "num_generations": settings.num_generations,
        "max_completion_length": settings.max_completion_length,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "beta": settings.beta,
        "reward_weights": reward_weights(settings.reward),
        "eval_strategy": "steps",
        "eval_steps": settings.eval_steps,
        "eval_on_start": True,  # the untrained policy's dev reward, the curve's baseline
        "logging_steps": settings.logging_steps,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "bf16": False,
        "report_to": "none",
        "seed": settings.seed,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def run_from_args(args: Any) -> dict:
    """``fipo train --strategy grpo``: the training command's arguments, GRPO's way (it
    trains on benchmark items, so 01's data variants and row caps do not apply)."""
    from fipo_utils.training.launch import overrides_from_args

    if args.data_variant or args.max_rows is not None:
        raise SystemExit(
            "grpo trains on benchmark items: --data-variant and --max-rows do not apply"
        )
    overrides = {k: v for k, v in overrides_from_args(args).items() if k != "max_rows"}
    return train_grpo(args.run_dir, args.profile, name=args.name, **overrides)
