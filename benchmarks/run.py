"""Run every ``benchmarks/bench_*.py`` and write ``benchmarks/results/<date>.{json,md}``.

    python benchmarks/run.py --quick            # under 5 minutes on 2 cores
    python benchmarks/run.py --only generation  # one area
    python benchmarks/run.py --quick --update-readme

Rows that carry a ``series`` (x, y, labels) are also drawn as scaling curves into
``benchmarks/results/<date>-scaling.png``. A module that fails is reported as a failed
row with its error, never dropped.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

RESULTS_DIR = HERE / "results"
README = HERE.parent / "README.md"
README_START = "<!-- benchmark-table:start -->"
README_END = "<!-- benchmark-table:end -->"


def machine_description() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def discover(only: list[str] | None) -> list[Path]:
    modules = sorted(HERE.glob("bench_*.py"))
    if only:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in only]
    return modules


def run_module(path: Path, quick: bool) -> tuple[list[dict], float]:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    started = time.perf_counter()
    try:
        spec.loader.exec_module(module)
        rows = module.run(quick)
    except Exception as error:  # noqa: BLE001 - one area failing must not hide the others
        rows = [
            {
                "name": f"{path.stem} failed",
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(limit=5),
            }
        ]
    elapsed = time.perf_counter() - started
    for row in rows:
        row["area"] = path.stem.removeprefix("bench_")
    return rows, elapsed


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown_table(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"Measured {report['date']} ({'quick' if report['quick'] else 'full'} mode) on "
        f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}. "
        "Ratio > 1 means the candidate wins; min / median / max over repeats.",
        "",
        "| area | measurement | baseline | candidate | ratio min | median | max | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        if "error" in row:
            lines.append(f"| {row['area']} | {row['name']} | | | | | | {row['error']} |")
            continue
        lines.append(
            f"| {row['area']} | {row['name']} | {row['baseline']} | {row['candidate']} | "
            f"{_fmt(row['ratio_min'])} | {_fmt(row['ratio_median'])} | {_fmt(row['ratio_max'])} "
            f"| {row.get('notes', '')} |"
        )
    return "\n".join(lines) + "\n"


def plot_series(report: dict, path: Path) -> bool:
    series_rows = [r for r in report["results"] if r.get("series")]
    if not series_rows:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(series_rows), figsize=(4.5 * len(series_rows), 3.5), squeeze=False
    )
    for ax, row in zip(axes[0], series_rows, strict=True):
        series = row["series"]
        for label, ys in series["y"].items():
            ax.plot(series["x"], ys, marker="o", label=label)
        ax.set_xscale("log" if series.get("log_x") else "linear")
        ax.set_xlabel(series["xlabel"])
        ax.set_ylabel(series["ylabel"])
        ax.set_title(row["name"], fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def update_readme(markdown: str) -> None:
    text = README.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{README} has no {README_START} ... {README_END} block")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    README.write_text(f"{head}{README_START}\n{markdown}{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--only", default=None, help="comma-separated areas (file bench_<area>)")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)

    only = args.only.split(",") if args.only else None
    report = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ"),
        "quick": args.quick,
        "machine": machine_description(),
        "results": [],
        "seconds_per_area": {},
    }
    for path in discover(only):
        print(f"benchmark {path.stem} ...", flush=True)
        rows, elapsed = run_module(path, args.quick)
        report["results"].extend(rows)
        report["seconds_per_area"][path.stem] = round(elapsed, 1)
        print(f"  {len(rows)} rows in {elapsed:.0f}s", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report["date"]
    markdown = markdown_table(report)
    (stem.with_suffix(".json")).write_text(json.dumps(report, indent=2) + "\n")
    (stem.with_suffix(".md")).write_text(markdown)
    if plot_series(report, out / f"{report['date']}-scaling.png"):
        print(f"scaling curves: {out / (report['date'] + '-scaling.png')}")
    if args.update_readme:
        update_readme(markdown)
    print(markdown)
    print(f"written: {stem}.json, {stem}.md")
    return 1 if any("error" in row for row in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
