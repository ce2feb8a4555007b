"""One settings object per training strategy, and thin builders of trl trainers from it.

``sft`` trains with ``SFTTrainer`` on the completion only; ``dpo`` and ``ipo`` train with
``DPOTrainer`` (loss ``sigmoid`` / ``ipo``). LoRA or full fine-tuning is one flag: with
LoRA, trl wraps the model with the adapter and the reference is the same model with the
adapter disabled; with full fine-tuning the reference is a frozen copy of the start model
(or none at all when its log-probs are precomputed).

Settings come from a profile: the shared ``train`` section, then ``sft`` or ``preference``;
``paper`` holds the paper's training settings and ``smoke`` changes only sizes,
steps and the learning rate (see docs/training.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from fipo_utils.runs.profiles import load_profile, merge_settings
from fipo_utils.runs.schema import check_mapping
from fipo_utils.training.lora import LoraSettings

STRATEGIES = ("sft", "dpo", "ipo")
PREFERENCE_LOSSES = {"dpo": "sigmoid", "ipo": "ipo"}
TRUNCATIONS = ("project", "original")


@dataclass
class TrainSettings:
    """Everything one training run needs; field names match the profile keys."""

    strategy: str
    base_model: str
    lora: bool = True
    lora_settings: LoraSettings = field(default_factory=LoraSettings)
    prompt_format: str = "tulu"
    dtype: str = "float32"
    learning_rate: float = 2e-5
    epochs: float = 3.0
    max_steps: int = -1  # -1: run ``epochs``; > 0 stops after that many optimizer steps
    batch_size: int = 8
    grad_accum: int = 2
    # rows per optimizer step over all processes; when set, grad_accum is derived from it,
    # batch_size and the world size of the launch (:func:`grad_accum_for`)
    global_batch: int | None = None
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 2048
    max_prompt_length: int = 1536
    # "project": every prompt capped at max_prompt_length; "original": a prompt is cut only
    # when prompt + the longest response exceed max_length (the original DPO collator).
    truncation: str = "project"
    beta: float = 0.01
    ipo_variant: str = "averaged"  # "summed": the original FIPO code's IPO (SummedIPOTrainer)
    precompute_ref_log_probs: bool = False
    packing: bool = False
    bf16: bool = False
    tf32: bool = False  # TF32 matmuls on Ampere+ GPUs, as the original scripts; ignored on CPU
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    # the accelerate config (configs/accelerate/<name>.yaml) to launch with on several GPUs
    accelerate_config: str = "multi_gpu"
    max_rows: int | None = None
    # rows after the trained slice, never trained on, evaluated every ``eval_steps`` steps
    # (eval loss and reward margins beside the training curves); 0: no eval split
    eval_rows: int = 0
    eval_steps: int = 10
    seed: int = 2024

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.ipo_variant not in ("averaged", "summed"):
            raise ValueError(f"ipo_variant {self.ipo_variant!r}: use 'averaged' (trl) or 'summed'")
        if self.truncation not in TRUNCATIONS:
            raise ValueError(f"truncation {self.truncation!r}: use one of {TRUNCATIONS}")
        if isinstance(self.lora_settings, dict):
            self.lora_settings = LoraSettings.from_mapping(self.lora_settings)

    @property
    def name(self) -> str:
        """The run-folder name of this optimizer: ``<strategy>-<lora|full>``."""
        return f"{self.strategy}-{'lora' if self.lora else 'full'}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_settings"]["target_modules"] = list(self.lora_settings.target_modules)
        return data


def settings_from_profile(profile: str | dict, strategy: str, **overrides: Any) -> TrainSettings:
    """Merge ``models``, ``train`` and the strategy's section, then non-``None`` overrides."""
    data = load_profile(profile) if isinstance(profile, str) else profile
    models = data.get("models", {})
    merged: dict[str, Any] = {
        "base_model": models.get("optimizer_base"),
        "prompt_format": models.get("prompt_format", "tulu"),
        "dtype": models.get("dtype", "float32"),
        "seed": data.get("seed", 2024),
    }
    merged = merge_settings(merged, data.get("train", {}))
    merged = merge_settings(merged, data.get("sft" if strategy == "sft" else "preference", {}))
    merged = merge_settings(merged, overrides)
    known = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise KeyError(f"profile {data.get('name', '?')!r}: unknown training keys {unknown}")
    check_mapping(merged, f"profile {data.get('name', '?')!r}, {strategy} settings")
    return TrainSettings(strategy=strategy, **merged)


def grad_accum_for(settings: TrainSettings, world_size: int) -> int:
    """Accumulation steps that give ``global_batch`` rows per optimizer step on
    ``world_size`` processes (``grad_accum`` when no global batch is set)."""
    if settings.global_batch is None:
        return settings.grad_accum
    per_step = settings.batch_size * world_size
    if settings.global_batch % per_step:
        raise ValueError(
            f"global_batch {settings.global_batch} is not a multiple of batch_size "
            f"{settings.batch_size} x {world_size} processes; change train.batch_size or "
            "train.global_batch"
        )
    return settings.global_batch // per_step


def _common_arguments(
    settings: TrainSettings, output_dir: str, evaluate: bool = False
) -> dict[str, Any]:
    import torch
    from accelerate import PartialState

    return {
        "eval_strategy": "steps" if evaluate else "no",
        "eval_steps": settings.eval_steps if evaluate else None,
        "per_device_eval_batch_size": settings.batch_size,
        # Without a GPU, ranks started by `accelerate launch` (torchrun) join over gloo
        "use_cpu": not torch.cuda.is_available(),
        "output_dir": output_dir,
        "learning_rate": settings.learning_rate,
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": grad_accum_for(settings, PartialState().num_processes),
        "warmup_steps": settings.warmup_ratio,  # a float below 1 is a ratio in transformers 5
        "weight_decay": settings.weight_decay,
        "lr_scheduler_type": "linear",
        "max_length": settings.max_length,
        "bf16": settings.bf16,
        # transformers refuses tf32 without a CUDA device: a CPU run simply goes without.
        "tf32": settings.tf32 if torch.cuda.is_available() else None,
        "gradient_checkpointing": settings.gradient_checkpointing,
        "logging_steps": settings.logging_steps,
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": settings.save_total_limit,
        "report_to": "none",
        "seed": settings.seed,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def trainer_config(settings: TrainSettings, output_dir: str, evaluate: bool = False):
    """The trl config of the strategy (``SFTConfig`` or ``DPOConfig``).

    Under ``accelerate launch`` with DeepSpeed, creating it registers the DeepSpeed config
    with transformers: models loaded afterwards are built inside ``deepspeed.zero.Init``
    and arrive partitioned across the ranks (ZeRO-3), so the config comes before the load.
    """
    from trl import DPOConfig, SFTConfig

    common = _common_arguments(settings, output_dir, evaluate=evaluate)
    if settings.strategy == "sft":
        return SFTConfig(
            **common,
            completion_only_loss=True,
            packing=settings.packing,
            # bfd keeps every row whole inside its block (position ids restart per row, so no
            # row attends to another); "wrapped" would cut completions across blocks
            packing_strategy="bfd",
        )
    if settings.strategy not in PREFERENCE_LOSSES:
        raise ValueError(f"{settings.strategy!r} is not a preference strategy (dpo, ipo)")
    return DPOConfig(
        **common,
        loss_type=[PREFERENCE_LOSSES[settings.strategy]],
        beta=settings.beta,
        precompute_ref_log_probs=settings.precompute_ref_log_probs,
    )


def build_sft_trainer(
    settings: TrainSettings,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[dict],
    output_dir: str,
    callbacks: list[TrainerCallback] | None = None,
    eval_examples: list[dict] | None = None,
    config: Any = None,
):
    """``SFTTrainer`` over prompt/completion rows; the loss covers completion tokens only.
    ``config``: the :func:`trainer_config` created before the model was loaded."""
    from trl import SFTTrainer

    config = config or trainer_config(settings, output_dir, evaluate=bool(eval_examples))
    return SFTTrainer(
        model=model,
        args=config,
        **_trainer_inputs(settings, tokenizer, examples, eval_examples, callbacks),
    )


def build_preference_trainer(
    settings: TrainSettings,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[dict],
    output_dir: str,
    ref_model: PreTrainedModel | None = None,
    callbacks: list[TrainerCallback] | None = None,
    eval_examples: list[dict] | None = None,
    config: Any = None,
):
    """``DPOTrainer`` for ``dpo`` (sigmoid) or ``ipo``; ``SummedIPOTrainer`` for summed IPO.

    ``ref_model`` matters only for full fine-tuning without precomputed reference
    log-probs: pass the frozen start model (IPL passes the previous round's model).
    ``config``: the :func:`trainer_config` created before the models were loaded.
    """
    from trl import DPOTrainer

    from fipo_utils.training.summed_ipo import SummedIPOTrainer

    if settings.strategy not in PREFERENCE_LOSSES:
        raise ValueError(f"{settings.strategy!r} is not a preference strategy (dpo, ipo)")
    config = config or trainer_config(settings, output_dir, evaluate=bool(eval_examples))
    summed = settings.strategy == "ipo" and settings.ipo_variant == "summed"
    trainer_class = SummedIPOTrainer if summed else DPOTrainer
    if settings.lora or settings.precompute_ref_log_probs:
        ref_model = None
    elif ref_model is None:
        raise ValueError(
            "full fine-tuning needs a frozen reference model (or precomputed log-probs)"
        )
    return trainer_class(
        model=model,
        ref_model=ref_model,
        args=config,
        **_trainer_inputs(settings, tokenizer, examples, eval_examples, callbacks),
    )


def _trainer_inputs(
    settings: TrainSettings,
    tokenizer: PreTrainedTokenizerBase,
    examples: list[dict],
    eval_examples: list[dict] | None,
    callbacks: list[TrainerCallback] | None,
) -> dict[str, Any]:
    """What every trl trainer of this module takes besides the model and its config: the
    train and eval datasets, the tokenizer, the LoRA adapter and the callbacks."""
    from datasets import Dataset

    return {
        "train_dataset": Dataset.from_list(examples),
        "eval_dataset": Dataset.from_list(eval_examples) if eval_examples else None,
        "processing_class": tokenizer,
        "peft_config": settings.lora_settings.peft_config() if settings.lora else None,
        "callbacks": callbacks,
    }
