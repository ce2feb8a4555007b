"""LoRA helpers: merging keeps the adapter model's logits; files are safetensors only."""

from __future__ import annotations

import pytest
import torch

from fipo_utils.models.loading import load_model
from fipo_utils.training.lora import (
    LoraSettings,
    attach_lora,
    load_adapter,
    merge_lora,
    missing_target_modules,
    save_adapter,
    save_standalone,
)


def _perturbed_adapter_model():
    loaded = load_model("tiny-random")
    model = attach_lora(loaded.model, LoraSettings())
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # B starts at zero: give the adapter an effect
                param.normal_(std=0.5)
    model.eval()
    return model, loaded.tokenizer


def test_merged_model_gives_the_adapter_models_logits(tmp_path):
    model, tokenizer = _perturbed_adapter_model()
    ids = tokenizer("Golden Prompt: how many apples?", return_tensors="pt").input_ids
    with torch.no_grad():
        adapter_logits = model(ids).logits
        with model.disable_adapter():
            base_logits = model(ids).logits
    assert not torch.allclose(adapter_logits, base_logits, atol=1e-4)

    save_adapter(model, tmp_path / "adapter")
    merged = merge_lora(model)
    assert not any("lora" in name for name, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapter_logits, atol=1e-5, rtol=1e-4)

    folder = save_standalone(merged, tokenizer, tmp_path / "final")
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin"))
    reloaded = load_model(str(folder))
    with torch.no_grad():
        torch.testing.assert_close(reloaded.model(ids).logits, adapter_logits, atol=1e-5, rtol=1e-4)

    again = load_adapter(load_model("tiny-random").model, tmp_path / "adapter")
    with torch.no_grad():
        torch.testing.assert_close(again(ids).logits, adapter_logits, atol=1e-5, rtol=1e-4)


def test_fresh_adapter_trains_only_its_own_weights_and_starts_at_the_base():
    loaded = load_model("tiny-random")
    ids = loaded.tokenizer("Answer: A", return_tensors="pt").input_ids
    with torch.no_grad():
        before = loaded.model(ids).logits
    model = attach_lora(loaded.model, LoraSettings(r=4, target_modules=("q_proj", "k_proj")))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("k_proj" in n for n in trainable)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, before)


def test_lora_settings_reject_unknown_keys_and_report_missing_targets():
    with pytest.raises(KeyError, match="rank"):
        LoraSettings.from_mapping({"rank": 8})
    assert LoraSettings.from_mapping({"target_modules": ["q_proj"]}).target_modules == ("q_proj",)
    model = load_model("tiny-random").model
    assert missing_target_modules(model, ["q_proj", "query_key_value"]) == ["query_key_value"]


def test_load_adapter_refuses_a_folder_without_safetensors(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_adapter(load_model("tiny-random").model, tmp_path)
