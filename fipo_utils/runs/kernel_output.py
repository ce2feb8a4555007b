"""What a notebook executed by the runner keeps in its cells: results, not progress.

An executed notebook is read later, as a record (the reference run's notebooks are the
study's report). Progress bars from transformers, datasets and the project's own
generators, the trainers' per-step log lines and library deprecation warnings bury the
tables a reader is there for. The runner's kernels therefore start with progress bars off
(huggingface_hub's switch, which transformers, datasets and :func:`progress_shown` follow)
and with Python warnings sent to the step's kernel log (``logs/<step>.kernel.log``) instead
of the cell; nothing is dropped that the log does not keep. A notebook opened in Jupyter
keeps its bars and warnings: none of this applies outside the runner.

The user's own environment wins for those switches, with one exception: matplotlib's
backend. ``MPLBACKEND=Agg`` is what headless processes (the Makefile, CI) set for
themselves; inherited by a kernel it would keep every figure out of the executed notebook,
so runner kernels draw with the notebook's inline backend whatever the environment says.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

KERNEL_LOG_ENV = "FIPO_KERNEL_LOG"

QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' and the project's bars follow it
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",  # any other library's tqdm bar left at its default
    "TRANSFORMERS_VERBOSITY": "error",
}

# Figures inline in the executed notebook (ipykernel's own default backend).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

# Runs in the kernel before the first cell (ipykernel's ``exec_lines``).
KERNEL_START_CODE = "import fipo_utils.runs.kernel_output as _k; _k.send_warnings_to_kernel_log()"


def quiet_kernel_env(env: Mapping[str, str], kernel_log: str) -> dict[str, str]:
    """``env`` for a runner kernel: progress bars off unless ``env`` says otherwise, figures
    inline, and the path of the step's kernel log for :func:`send_warnings_to_kernel_log`."""
    return {**QUIET_ENV, **env, "MPLBACKEND": INLINE_BACKEND, KERNEL_LOG_ENV: kernel_log}


def kernel_start_arguments() -> list[str]:
    """ipykernel command-line arguments that run :data:`KERNEL_START_CODE` at start-up."""
    return [f"--IPKernelApp.exec_lines={KERNEL_START_CODE}"]


def send_warnings_to_kernel_log() -> None:
    """Route Python warnings into the file named by ``FIPO_KERNEL_LOG`` (appended), so a
    cell shows its results and the log keeps every warning with its source line.

    The kernel's own stderr descriptor is forwarded into the cells by ipykernel, so the
    file is opened by name rather than written through it.
    """
    path = os.environ.get(KERNEL_LOG_ENV)
    if not path:
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("py.warnings")
    logger.addHandler(handler)
    logger.propagate = False
    logging.captureWarnings(True)


def progress_shown() -> bool:
    """Whether progress output is on: off in runner kernels (and wherever the user set
    ``HF_HUB_DISABLE_PROGRESS_BARS``), on in an interactive session."""
    from huggingface_hub.utils import are_progress_bars_disabled

    return not are_progress_bars_disabled()
