"""Collect the result files of one or more run folders into tidy tables.

Reads what docs/CONTRACTS.md promises (06: ``eval/``, 08: ``baselines/``, 05: ``optimized/``,
02-04: ``train/``, 01: ``data/type_mix.json``). Every file except a results table is
optional: a run without training or baselines still gets the tables and figures for what it
has. Malformed files raise :class:`ResultFileError` naming file, line and field.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.data.benchmarks import benchmark_family
from fipo_utils.evaluation.columns import CONDITIONS, PREDICTION_FIELDS, RESULT_COLUMNS
from fipo_utils.runs.folders import MissingStepOutput
from fipo_utils.runs.io import current_files, read_json
from fipo_utils.runs.records import read_predictions as read_prediction_records
from fipo_utils.runs.records import read_rewrites

OPTIMIZED_FIELDS = ("id", "benchmark", "optimizer", "naive_instruction", "optimized_instruction")
ACCURACY_TOLERANCE = 1e-3
# Where each results table comes from: (source label, folder in the run).
SOURCES = (("eval", "eval"), ("baselines", "baselines"), ("table8", "baselines/table8"))


class ResultFileError(ValueError):
    """A result file does not follow docs/CONTRACTS.md; the message says where."""


@dataclass
class RunCollection:
    """Everything the analysis reads, over all runs; each frame has a ``run`` column.

    ``results`` holds each benchmark's primary scoring (what paper-shaped tables use),
    ``all_results`` every scoring a run reported.
    """

    runs: list[str]
    run_dirs: dict[str, Path]
    results: pd.DataFrame
    predictions: pd.DataFrame
    optimized: pd.DataFrame
    all_results: pd.DataFrame
    train_metrics: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    ipl_rounds: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    type_mix: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_labels(run_dirs: list[Path]) -> list[str]:
    """Short names for runs (folder names), made unique when two folders share a name."""
    labels: list[str] = []
    for path in run_dirs:
        label = path.name
        while label in labels:
            label = f"{label}'"
        labels.append(label)
    return labels


def read_results_csv(path: Path, run: str, source: str) -> pd.DataFrame:
    """One results table, validated row by row; accuracy is recomputed from the counts."""
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in RESULT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ResultFileError(f"{path}: header lacks column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            rows.append(_checked_result_row(path, line, row, run, source))
    frame = pd.DataFrame(rows, columns=["run", "source", *RESULT_COLUMNS, "benchmark_group"])
    return frame


def _checked_result_row(path: Path, line: int, row: dict, run: str, source: str) -> dict:
    where = f"{path}, line {line}"
    for name in ("optimizer", "tester", "benchmark", "condition", "scoring"):
        if not row.get(name):
            raise ResultFileError(f"{where}: field {name!r} is empty")
    if row["condition"] not in CONDITIONS:
        raise ResultFileError(
            f"{where}: field 'condition' is {row['condition']!r}, expected one of {CONDITIONS}"
        )
    if row["primary"] not in ("True", "False"):
        raise ResultFileError(
            f"{where}: field 'primary' is {row['primary']!r}, expected True or False"
        )
    counts = {}
    for name in ("n_items", "n_correct"):
        try:
            counts[name] = int(float(row[name]))
        except (TypeError, ValueError):
            raise ResultFileError(
                f"{where}: field {name!r} is not a number: {row[name]!r}"
            ) from None
    if counts["n_items"] < 0 or not 0 <= counts["n_correct"] <= counts["n_items"]:
        raise ResultFileError(
            f"{where}: fields 'n_correct'/'n_items' are inconsistent: "
            f"{counts['n_correct']}/{counts['n_items']}"
        )
    accuracy = counts["n_correct"] / counts["n_items"] if counts["n_items"] else math.nan
    if counts["n_items"]:
        try:
            stated = float(row["accuracy"])
        except (TypeError, ValueError):
            raise ResultFileError(
                f"{where}: field 'accuracy' is not a number: {row['accuracy']!r}"
            ) from None
        # Tolerates rounding to 3 decimals; catches percent written instead of a fraction.
        if abs(stated - accuracy) > ACCURACY_TOLERANCE:
            raise ResultFileError(
                f"{where}: field 'accuracy' is {stated}, but n_correct/n_items = {accuracy:.6f}"
            )
    return {
        "run": run,
        "source": source,
        "optimizer": row["optimizer"],
        "tester": row["tester"],
        "benchmark": row["benchmark"],
        "condition": row["condition"],
        "scoring": row["scoring"],
        "primary": row["primary"] == "True",
        **counts,
        "accuracy": accuracy,
        "benchmark_group": benchmark_family(row["benchmark"]),
    }


def primary_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of each benchmark's primary scoring (the one compared with the paper).

    The mask goes through ``.loc`` as booleans: an empty table's ``primary`` column has
    dtype object, and plain ``[]`` indexing would read it as a list of column labels."""
    return results.loc[results["primary"].astype(bool)].reset_index(drop=True)


def read_predictions(folder: Path, run: str, source: str) -> pd.DataFrame:
    """Per-item correctness from ``<folder>/predictions/<optimizer>/<tester>/<benchmark>.jsonl``
    (BBH tasks nest one level deeper); fields inside the records are authoritative.
    ``correct`` is the primary scoring's verdict, ``correct_by`` every scoring's."""
    columns = ["run", "source", *PREDICTION_FIELDS]
    rows = []
    for path in current_files(folder / "predictions"):
        for record in read_prediction_records(path, error=ResultFileError):
            fields = record.as_dict()
            rows.append(
                {
                    "run": run,
                    "source": source,
                    **{k: fields[k] for k in PREDICTION_FIELDS},
                    "scoring": record.scoring,
                    "correct_by": record.correct_by,
                }
            )
    frame = pd.DataFrame(rows, columns=[*columns, "scoring", "correct_by"])
    frame["id"] = frame["id"].astype(str)
    frame["benchmark_group"] = frame["benchmark"].map(benchmark_family)
    return frame


def read_optimized(run_dir: Path, run: str) -> pd.DataFrame:
    """The optimizer's rewrites (05): instructions before and after, and the cheating flag."""
    columns = ["run", *OPTIMIZED_FIELDS, "cheating_note"]
    rows = []
    for path in current_files(run_dir / "optimized"):
        for record in read_rewrites(path, error=ResultFileError):
            fields = record.as_dict()
            rows.append(
                {
                    "run": run,
                    **{k: fields[k] for k in OPTIMIZED_FIELDS},
                    "cheating_note": record.cheating_note,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _records(path: Path, data: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """A list of dict records, stored either bare or under one of ``keys``."""
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ResultFileError(
            f"{path}: expected a list of records (or an object with one of {keys} holding it)"
        )
    return data


def read_train_logs(run_dir: Path, filename: str, keys: tuple[str, ...]) -> dict[str, list]:
    """``train/<name>/<filename>`` for every trained optimizer, keyed by name."""
    logs = {}
    for path in sorted((run_dir / "train").glob(f"*/{filename}")):
        logs[path.parent.name] = _records(path, read_json(path, error=ResultFileError), keys)
    return logs


def collect_runs(run_dirs: list[str | Path]) -> RunCollection:
    """Read every run's result files into one :class:`RunCollection`.

    A run must hold at least one results table (``eval/results.csv`` or
    ``baselines/results.csv``); everything else is optional.
    """
    paths = [Path(p).expanduser().resolve() for p in run_dirs]
    labels = run_labels(paths)
    results, predictions, optimized = [], [], []
    train_metrics, ipl_rounds, type_mix = {}, {}, {}
    for run, path in zip(labels, paths, strict=True):
        if not path.is_dir():
            raise FileNotFoundError(f"run folder {path} does not exist")
        tables = [
            (source, path / folder)
            for source, folder in SOURCES
            if (path / folder / "results.csv").exists()
        ]
        if not tables:
            raise MissingStepOutput(
                f"{path} has neither eval/results.csv nor baselines/results.csv: run notebook "
                f"06_evaluation (or 08_baselines) with run_dir={path} first"
            )
        for source, folder in tables:
            results.append(read_results_csv(folder / "results.csv", run, source))
            predictions.append(read_predictions(folder, run, source))
        optimized.append(read_optimized(path, run))
        for name, log in read_train_logs(path, "metrics.json", ("log_history", "metrics")).items():
            train_metrics[(run, name)] = log
        for name, log in read_train_logs(path, "rounds.json", ("rounds",)).items():
            ipl_rounds[(run, name)] = log
        mix_path = path / "data" / "type_mix.json"
        if mix_path.exists():
            mix = read_json(mix_path, error=ResultFileError)
            if not isinstance(mix, dict):
                raise ResultFileError(f"{mix_path}: expected a JSON object of case types")
            type_mix[run] = mix
    everything = pd.concat(results, ignore_index=True)
    return RunCollection(
        runs=labels,
        run_dirs=dict(zip(labels, paths, strict=True)),
        results=primary_rows(everything),
        all_results=everything,
        predictions=pd.concat(predictions, ignore_index=True),
        optimized=pd.concat(optimized, ignore_index=True),
        train_metrics=train_metrics,
        ipl_rounds=ipl_rounds,
        type_mix=type_mix,
    )
