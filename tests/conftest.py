"""Shared fixtures. Tests never reach a network hub: HF offline flags are forced here too."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from fipo_utils.runs.paths import reference_data_dir  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; tests that need it are skipped where it is absent."""
    root = reference_data_dir()
    if root is None:
        pytest.skip("../shared/data (or FIPO_DATA_DIR) is not available")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A seeded tiny random Llama saved as safetensors (built once per cache)."""
    from fipo_utils.models.loading import build_tiny_model

    return build_tiny_model()
