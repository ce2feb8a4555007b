"""What the tour notebook shows first: which versions are installed and which data is here.

A reader on a fresh machine learns at a glance whether the reference data (benchmarks, the
original template) is available or whether the companion falls back to its own sample data.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from fipo_utils.data.pop import SAMPLE_POP_PATH
from fipo_utils.runs.manifest import package_versions
from fipo_utils.runs.paths import reference_data_dir, reference_path

# Reference files the steps use, by what they are for (see ../shared/data/README.md).
REFERENCE_ITEMS = {
    "original template (fipo/prompts.json)": ("fipo", "prompts.json"),
    "GSM8K": ("benchmarks", "gsm8k"),
    "BBH": ("benchmarks", "bbh"),
    "PiQA": ("benchmarks", "piqa"),
    "CosmosQA": ("benchmarks", "cosmosqa"),
    "MMLU": ("benchmarks", "mmlu"),
    "BPO test sets": ("bpo", "testset"),
    "Prompt-OIRL logs": ("oirl",),
}


def environment_report() -> dict[str, Any]:
    """Python, platform and package versions, the accelerator, and where the data comes from."""
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "cuda_available": torch.cuda.is_available(),
        "cpu_threads": torch.get_num_threads(),
        "reference_data_dir": str(reference_data_dir()) if reference_data_dir() else None,
        "reference_data": {
            name: reference_path(*parts) is not None for name, parts in REFERENCE_ITEMS.items()
        },
        "sample_pop": str(SAMPLE_POP_PATH) if SAMPLE_POP_PATH.is_file() else None,
    }
