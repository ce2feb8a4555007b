"""The in-process model pool: reuse, eviction, disabling, and no stale retrained weights."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fipo_utils.models import loading as models
from fipo_utils.models import pool as model_pool
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import make_generator


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from an empty pool at the default size and leaves none behind."""
    monkeypatch.delenv(model_pool.ENV_CAPACITY, raising=False)
    model_pool.set_capacity(None)
    model_pool.clear()
    yield
    model_pool.set_capacity(None)
    model_pool.clear()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every real load the pool makes, as (source, dtype)."""
    seen: list[tuple[str, str]] = []
    real = models.load_model

    def counting(name_or_path: str, dtype: str = "float32", **kwargs: object):
        seen.append((name_or_path, str(dtype)))
        return real(name_or_path, dtype=dtype, **kwargs)

    monkeypatch.setattr(models, "load_model", counting)
    return seen


def test_same_key_returns_the_same_model_without_reloading(loads) -> None:
    first = model_pool.get_model("tiny-random")
    second = model_pool.get_model("tiny-random")
    assert second is first
    assert len(loads) == 1


def test_other_dtype_is_another_model(loads) -> None:
    model_pool.set_capacity(2)
    full = model_pool.get_model("tiny-random", dtype="float32")
    half = model_pool.get_model("tiny-random", dtype="bfloat16")
    assert half is not full
    assert full.model.dtype == torch.float32 and half.model.dtype == torch.bfloat16
    assert len(loads) == 2
    assert model_pool.get_model("tiny-random", dtype=torch.float32) is full  # both kept
    assert len(loads) == 2


def test_capacity_one_evicts_the_older_model(loads) -> None:
    assert model_pool.capacity() == 1
    full = model_pool.get_model("tiny-random", dtype="float32")
    model_pool.get_model("tiny-random", dtype="bfloat16")
    assert [key.dtype for key in model_pool.pooled_keys()] == ["bfloat16"]
    again = model_pool.get_model("tiny-random", dtype="float32")
    assert again is not full
    assert len(loads) == 3


def test_capacity_zero_disables_pooling(loads, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model_pool.ENV_CAPACITY, "0")
    assert model_pool.capacity() == 0
    first = model_pool.get_model("tiny-random")
    assert model_pool.get_model("tiny-random") is not first
    assert model_pool.pooled_keys() == []
    assert len(loads) == 2


def test_capacity_setting_wins_over_env_and_bad_env_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(model_pool.ENV_CAPACITY, "3")
    assert model_pool.capacity() == 3
    model_pool.set_capacity(0)
    assert model_pool.capacity() == 0
    model_pool.set_capacity(None)
    monkeypatch.setenv(model_pool.ENV_CAPACITY, "many")
    with pytest.raises(ValueError, match=model_pool.ENV_CAPACITY):
        model_pool.capacity()
    monkeypatch.delenv(model_pool.ENV_CAPACITY)
    with pytest.raises(ValueError, match="0 or more"):
        model_pool.set_capacity(-1)


def test_shrinking_and_clear_drop_models(loads) -> None:
    model_pool.set_capacity(2)
    model_pool.get_model("tiny-random", dtype="float32")
    model_pool.get_model("tiny-random", dtype="bfloat16")
    model_pool.set_capacity(1)
    assert [key.dtype for key in model_pool.pooled_keys()] == ["bfloat16"]  # LRU kept
    model_pool.clear()
    assert model_pool.pooled_keys() == []


def test_checkpoint_rewritten_on_disk_is_loaded_again(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_pool.set_capacity(2)  # room to keep both: the stale one must go anyway
    folder = tmp_path / "checkpoint"
    shutil.copytree(tiny_model_dir, folder)
    before = model_pool.get_model(str(folder))
    assert model_pool.get_model(str(folder)) is before

    retrained = models.load_model(str(folder)).model  # a training writes new weights
    with torch.no_grad():
        for parameter in retrained.parameters():
            parameter.add_(1.0)
    retrained.save_pretrained(folder, safe_serialization=True)

    after = model_pool.get_model(str(folder))
    assert after is not before
    old_weights = before.model.get_input_embeddings().weight
    new_weights = after.model.get_input_embeddings().weight
    torch.testing.assert_close(new_weights, old_weights + 1.0)
    assert len(model_pool.pooled_keys()) == 1  # the old version can never be asked for again


def test_make_generator_twice_loads_once(loads) -> None:
    first = make_generator("tiny-random", batch_size=2, show_progress=False)
    second = make_generator("tiny-random", batch_size=4, show_progress=False)
    assert len(loads) == 1
    assert second.inner.model is first.inner.model
    assert (first.inner.batch_size, second.inner.batch_size) == (2, 4)  # settings stay per call
    params = GenerationParams(max_new_tokens=4)
    assert second.inner.generate(["Hi", "The answer is"], params) == first.inner.generate(
        ["Hi", "The answer is"], params
    )
