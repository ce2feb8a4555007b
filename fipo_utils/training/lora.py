"""LoRA adapters: attach, merge into a standalone model, save and load (safetensors only).

The paper trains LoRA with r 8, alpha 16, dropout 0.05 on the attention query and value
projections. A merged model is what downstream steps (inference, evaluation, the next
IPL round) load: it needs no peft at load time and behaves exactly like the adapter model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_TARGET_MODULES = ("q_proj", "v_proj")


@dataclass(frozen=True)
class LoraSettings:
    """The adapter shape; defaults are the paper's (r 8, alpha 16, dropout 0.05)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = field(default=DEFAULT_TARGET_MODULES)

    @classmethod
    def from_mapping(cls, values: dict | None) -> LoraSettings:
        """Build from a profile's ``train.lora_settings`` mapping; missing keys keep defaults."""
        values = dict(values or {})
        unknown = set(values) - {"r", "alpha", "dropout", "target_modules"}
        if unknown:
            raise KeyError(
                f"unknown LoRA settings {sorted(unknown)}: use r, alpha, dropout, target_modules"
            )
        if "target_modules" in values:
            values["target_modules"] = tuple(values["target_modules"])
        return cls(**values)

    def peft_config(self) -> LoraConfig:
        return LoraConfig(
            task_type="CAUSAL_LM",
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=list(self.target_modules),
            bias="none",
        )


def attach_lora(model: PreTrainedModel, settings: LoraSettings | None = None) -> PeftModel:
    """Wrap ``model`` with a fresh adapter; only the adapter's weights require gradients.

    A fresh adapter's B matrix is zero, so the wrapped model starts out equal to the base:
    this is why disabling the adapter gives the DPO reference model for free.
    """
    return get_peft_model(model, (settings or LoraSettings()).peft_config())


def merge_lora(model: PeftModel) -> PreTrainedModel:
    """Fold the adapter into the base weights and return the plain transformers model.

    This modifies ``model`` in place (peft's ``merge_and_unload``); callers that still need
    the adapter should save it first.
    """
    return model.merge_and_unload()


def save_adapter(model: PeftModel, folder: str | Path) -> Path:
    """Write only the adapter (``adapter_model.safetensors`` + ``adapter_config.json``)."""
    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    return folder


def load_adapter(base: PreTrainedModel, folder: str | Path, trainable: bool = False) -> PeftModel:
    """Attach a saved adapter to ``base``; refuses pickle files (safetensors only)."""
    folder = Path(folder)
    if not (folder / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder} holds no adapter_model.safetensors (only safetensors adapters are loaded)"
        )
    return PeftModel.from_pretrained(base, folder, is_trainable=trainable)


def merged_model(start: str, adapter_dir: str | Path, dtype: str) -> PreTrainedModel:
    """A fresh copy of ``start`` in ``dtype`` with the adapter of ``adapter_dir`` folded in.

    Training's ``final/`` and a carried run's rebuilt weights both come from here, so a
    rebuild repeats the merge that wrote the weights it replaces.
    """
    from fipo_utils.models.loading import load_model

    return merge_lora(load_adapter(load_model(start, dtype=dtype).model, adapter_dir))


def save_standalone(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path
) -> Path:
    """Save a plain model and its tokenizer so that ``load_model(folder)`` loads it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def trainable_parameter_share(model: PreTrainedModel) -> float:
    """Share of parameters that receive gradients (LoRA: well under 1%)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable / total if total else 0.0


def missing_target_modules(model: PreTrainedModel, targets: Sequence[str]) -> list[str]:
    """Targets that match no module: a LoRA setting that would silently train nothing."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [t for t in targets if t not in names]
