"""Run every ``benchmarks/bench_*.py`` and write ``benchmarks/results/<date>.{json,md}``.

    python benchmarks/run.py --quick            # under 5 minutes on 2 cores
    python benchmarks/run.py --only generation  # one area
    python benchmarks/run.py --quick --update-readme
    python benchmarks/run.py --update-readme     # full mode, SmolLM2 scale, with vLLM
    python benchmarks/run.py --only generation --merge-into benchmarks/results/<date>.json

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
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fipo_utils.runs.machine import cpu_flags  # noqa: E402

RESULTS_DIR = HERE / "results"
README = HERE.parent / "README.md"
README_START = "<!-- benchmark-table:start -->"
README_END = "<!-- benchmark-table:end -->"
# Areas whose module exists but whose rows no committed full-mode run holds yet, each with
# the reason. tests/test_benchmark_report.py keeps this list exact (an area leaves it once
# measured) and the README's performance section names each one as not measured.
NOT_YET_MEASURED: dict[str, str] = {}


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
        "cpu_flags": cpu_flags(),
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


def _cell(text: object) -> str:
    """Table-safe text: an error message's newlines or pipes must not break the table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def merge_reports(earlier: dict, now: dict) -> dict:
    """``now``'s rows for the areas it measured, ``earlier``'s for the rest; each area keeps
    the date and the machine it was measured on, and the header of the table says which came
    from where (ratios from different CPUs sit in one table only with their CPU named)."""
    if earlier["quick"] != now["quick"]:
        raise SystemExit("--merge-into: the earlier run is of the other mode (quick vs full)")
    measured = {row["area"] for row in now["results"]}
    kept = [row for row in earlier["results"] if row["area"] not in measured]
    dates = {row["area"]: earlier.get("area_dates", {}).get(row["area"], earlier["date"])
             for row in kept}  # fmt: skip
    dates.update({area: now["date"] for area in measured})
    machines = {
        row["area"]: earlier.get("area_machines", {}).get(row["area"])
        or machine_label(earlier["machine"])
        for row in kept
    }
    machines.update({area: machine_label(now["machine"]) for area in measured})
    order = {path.stem.removeprefix("bench_"): i for i, path in enumerate(discover(None))}
    rows = sorted(kept + now["results"], key=lambda row: order.get(row["area"], len(order)))
    seconds = {**earlier.get("seconds_per_area", {}), **now["seconds_per_area"]}
    return {
        **now,
        "results": rows,
        "area_dates": dates,
        "area_machines": machines,
        "seconds_per_area": seconds,
    }


def simd_summary(machine: dict) -> str:
    """AVX2 / AVX-512 / AMX in a few words (the full list stays in the JSON)."""
    flags = set(machine.get("cpu_flags") or [])
    parts = ["AVX2" if "avx2" in flags else "no AVX2"]
    parts.append("AVX-512" if "avx512f" in flags else "no AVX-512")
    if any(f.startswith("amx") for f in flags):
        parts.append("AMX")
    return "/".join(parts)


def machine_label(machine: dict) -> str:
    """The CPU and its SIMD in a few words, as the table's header names a machine."""
    flags = f", {simd_summary(machine)}" if machine.get("cpu_flags") else ""
    return f"{machine['cpu']}{flags}"


def markdown_table(report: dict) -> str:
    machine = report["machine"]
    here = machine_label(machine)
    machines = report.get("area_machines", {})

    def measured_on(area: str) -> str:
        other = machines.get(area)
        return f" on {other}" if other and other != here else ""

    older = sorted(
        {f"{area}: {date}{measured_on(area)}" for area, date in report.get("area_dates", {}).items()
         if date != report["date"]}
    )  # fmt: skip
    merged = f" Areas measured earlier in the same mode: {', '.join(older)}." if older else ""
    lines = [
        f"Measured {report['date']} ({'quick' if report['quick'] else 'full'} mode) on "
        f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}"
        f"{', ' + simd_summary(machine) if machine.get('cpu_flags') else ''}. "
        f"Ratio > 1 means the candidate wins; min / median / max over repeats.{merged}",
        "",
        "| area | measurement | baseline | candidate | ratio min | median | max | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        if "error" in row:
            lines.append(f"| {row['area']} | {row['name']} | | | | | | {_cell(row['error'])} |")
            continue
        lines.append(
            f"| {row['area']} | {row['name']} | {row['baseline']} | {row['candidate']} | "
            f"{_fmt(row['ratio_min'])} | {_fmt(row['ratio_median'])} | {_fmt(row['ratio_max'])} "
            f"| {_cell(row.get('notes', ''))} |"
        )
    return "\n".join(lines) + "\n"


def series_of(row: dict) -> list[dict]:
    """A row's scaling curves: ``series`` is one curve dict or a list of them."""
    series = row.get("series")
    if not series:
        return []
    return series if isinstance(series, list) else [series]


def plot_series(report: dict, path: Path) -> bool:
    panels = [(row, series) for row in report["results"] for series in series_of(row)]
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.8 * columns, 3.6 * rows), squeeze=False)
    for ax, (row, series) in zip(axes.flat, panels, strict=False):
        for label, ys in series["y"].items():
            ax.plot(series["x"], ys, marker="o", label=label)
        ax.set_xscale("log" if series.get("log_x") else "linear")
        ax.set_xticks(series["x"], [f"{x:g}" for x in series["x"]])
        ax.minorticks_off()
        ax.set_xlabel(series["xlabel"])
        ax.set_ylabel(series["ylabel"])
        ax.set_title(f"{row['area']}: {row['name']}", fontsize=7, wrap=True)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    machine = report["machine"]
    fig.suptitle(
        f"{report['date']} ({'quick' if report['quick'] else 'full'} mode), "
        f"{machine['cpu']}, {machine['cores']} cores",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def readme_block(readme: Path = README) -> str:
    """The text between the README's benchmark-table markers."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} block")
    return text.split(README_START, 1)[1].split(README_END, 1)[0].removeprefix("\n")


def update_readme(markdown: str, readme: Path = README) -> None:
    readme_block(readme)  # fails clearly when the markers are missing
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(f"{head}{README_START}\n{markdown}{README_END}{tail}", encoding="utf-8")


# The suite's own reports are named by their UTC time alone; one-off measurements
# (``<time>-letter-scorer-fix.json``) share the folder but not the schema.
SUITE_REPORT_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.json$")


def latest_report(results: Path = RESULTS_DIR) -> Path:
    """The newest suite report (names are the UTC time, so they sort by date)."""
    reports = sorted(p for p in results.glob("*.json") if SUITE_REPORT_NAME.match(p.name))
    if not reports:
        raise FileNotFoundError(f"no benchmark results in {results}")
    return reports[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--only", default=None, help="comma-separated areas (file bench_<area>)")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--vllm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="vLLM rows (default: in full mode only; they run in .venv-vllm when needed)",
    )
    parser.add_argument(
        "--merge-into",
        default=None,
        help="an earlier results JSON of the same mode: keep its rows for the areas not "
        "measured now (re-measure one area without re-running the others)",
    )
    args = parser.parse_args(argv)
    if args.vllm is not None:
        os.environ["FIPO_BENCH_VLLM"] = "1" if args.vllm else "0"

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

    if args.merge_into:
        report = merge_reports(json.loads(Path(args.merge_into).read_text()), report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report["date"]
    markdown = markdown_table(report)
    (stem.with_suffix(".json")).write_text(json.dumps(report, indent=2) + "\n")
    (stem.with_suffix(".md")).write_text(markdown)
    plot = out / f"{report['date']}-scaling.png"
    plotted = plot_series(report, plot)
    if plotted:
        print(f"scaling curves: {plot}")
    if args.update_readme:
        inside = plot.resolve().is_relative_to(README.parent)
        link = plot.resolve().relative_to(README.parent) if inside else None
        curves = f"\n![benchmark scaling curves]({link})\n" if plotted and link else ""
        update_readme(markdown + curves)
    print(markdown)
    print(f"written: {stem}.json, {stem}.md")
    return 1 if any("error" in row for row in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
