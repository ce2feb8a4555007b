"""Read Prompt-OIRL's released logs: per-prompt correctness files, prompt names, critics.

Layout (``<data>/oirl/``): ``llama2_chat_logs/<ds>/llama_<ds>_corr_<alias>.txt`` with one
``(i, True)`` line per row; GSM8K keeps its test rows in ``llama_<ds>_test_corr_<alias>.txt``;
``names/<ds>_names.json`` lists the six training prompts and, through its file names, their
aliases; ``critics/Processed_llama_<ds>_prompt_<k>_{critic,confidence}.npy`` hold LLaMA-2's
self-verdicts on the test rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LINE = re.compile(r"^\((\d+), (True|False)\)$")
_ALIAS = re.compile(r"_train_([A-Za-z0-9]+)\.npy$")


class OirlLogError(ValueError):
    """A log file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class PromptNames:
    """The training prompts of one dataset, in the order the critics number them (0-5)."""

    aliases: list[str]
    texts: list[str]


def logs_dir(oirl_dir: Path, dataset: str) -> Path:
    path = Path(oirl_dir) / "llama2_chat_logs" / dataset
    if not path.is_dir():
        raise OirlLogError(f"{path}: Prompt-OIRL log folder for {dataset!r} not found")
    return path


def read_correctness(path: Path) -> np.ndarray:
    """One bool per line; line ``n`` must read ``(n, True)`` or ``(n, False)``."""
    path = Path(path)
    if not path.is_file():
        raise OirlLogError(f"{path}: correctness log not found")
    values: list[bool] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            match = _LINE.match(text)
            if match is None:
                raise OirlLogError(
                    f"{path}, line {number}: expected '(i, True|False)', got {text!r}"
                )
            if int(match.group(1)) != len(values):
                raise OirlLogError(
                    f"{path}, line {number}: row index {match.group(1)} out of order "
                    f"(expected {len(values)})"
                )
            values.append(match.group(2) == "True")
    return np.asarray(values, dtype=bool)


def read_prompt_names(oirl_dir: Path, dataset: str) -> PromptNames:
    """Prompt texts and their log aliases (``nan`` = no prompt, ``CoT``, ``APE``, ...)."""
    path = Path(oirl_dir) / "names" / f"{dataset}_names.json"
    if not path.is_file():
        raise OirlLogError(f"{path}: prompt names file not found")
    data = json.loads(path.read_text(encoding="utf-8"))
    for field in ("prompts", "training_set"):
        if field not in data:
            raise OirlLogError(f"{path}: field {field!r} missing")
    aliases = []
    for entry in data["training_set"]:
        match = _ALIAS.search(entry)
        if match is None:
            raise OirlLogError(f"{path}: field 'training_set' entry {entry!r} has no alias")
        aliases.append(match.group(1))
    if len(aliases) != len(data["prompts"]):
        raise OirlLogError(f"{path}: {len(aliases)} aliases but {len(data['prompts'])} prompts")
    return PromptNames(aliases=aliases, texts=list(data["prompts"]))


def read_critics(
    oirl_dir: Path, dataset: str, n_prompts: int, *, signed: bool = True
) -> np.ndarray | None:
    """Self-confidence scores ``[n_test_rows, n_prompts]`` or ``None`` when not shipped.

    ``signed`` (the project's score): the stated confidence when LLaMA-2 judged its own
    answer correct and its negation otherwise, so "confidently wrong" ranks below "unsure but
    right". ``signed=False``: the stated confidence alone, which is what Prompt-OIRL's
    selection used (``llama_exps/llama_step5_offline_optimization.py``, lines 143 and 159).
    """
    folder = Path(oirl_dir) / "critics"
    columns = []
    for k in range(n_prompts):
        verdict = folder / f"Processed_llama_{dataset}_prompt_{k}_critic.npy"
        confidence = folder / f"Processed_llama_{dataset}_prompt_{k}_confidence.npy"
        if not (verdict.is_file() and confidence.is_file()):
            return None
        v = np.load(verdict, allow_pickle=False).astype(float)
        c = np.load(confidence, allow_pickle=False).astype(float)
        if v.shape != c.shape:
            raise OirlLogError(f"{verdict}: shape {v.shape} differs from {confidence}: {c.shape}")
        columns.append(np.where(v > 0, c, -c) if signed else c)
    lengths = {len(col) for col in columns}
    if len(lengths) != 1:
        raise OirlLogError(f"{folder}: critics of {dataset} have different lengths {lengths}")
    return np.stack(columns, axis=1)
