"""Papermill's cost per notebook, and its share of a smoke reproduction's wall time.

The overhead of one step is the wall time of executing a notebook through papermill
(kernel start, parameter injection, saving) minus the time of the same code run in this
process. Its share uses the per-step wall times in the newest smoke run's manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import ratio_row, time_repeats  # noqa: E402
from fipo_utils.runs.paths import runs_root  # noqa: E402

BODY = "total = sum(i * i for i in range(200_000))"


def _trivial_notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('run_dir = ""\nprofile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(BODY)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "trivial.ipynb"
    nbformat.write(nb, path)
    return path


def newest_smoke_manifest(root: Path | None = None) -> dict | None:
    manifests = sorted((root or runs_root()).glob("*-smoke/manifest.json"))
    for path in reversed(manifests):
        manifest = json.loads(path.read_text())
        if manifest["steps"] and all(s["status"] == "done" for s in manifest["steps"]):
            manifest["_path"] = str(path)
            return manifest
    return None


def run(quick: bool) -> list[dict]:
    import papermill

    repeats = 3 if quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        notebook = _trivial_notebook(folder)
        outputs = iter(range(1000))

        def through_papermill() -> None:
            papermill.execute_notebook(
                str(notebook),
                str(folder / f"out{next(outputs)}.ipynb"),
                parameters={"run_dir": tmp},
                kernel_name="python3",
                progress_bar=False,
            )

        def in_process() -> None:
            exec(BODY, {})  # the same cell's work without papermill

        papermill_times = time_repeats(through_papermill, repeats, warmup=1)
        direct_times = time_repeats(in_process, repeats)
    overhead = sorted(p - d for p, d in zip(papermill_times, direct_times, strict=True))
    rows = [
        ratio_row(
            "papermill overhead per notebook",
            "notebook via papermill",
            "same code in-process",
            "s",
            papermill_times,
            direct_times,
            higher_is_better=False,
            notes=f"overhead median {overhead[len(overhead) // 2]:.2f}s per notebook",
        )
    ]
    manifest = newest_smoke_manifest()
    if manifest is None:
        rows.append(
            {
                "name": "papermill share of smoke reproduction",
                "baseline": "no complete smoke run found",
                "candidate": "papermill overhead x steps",
                "unit": "fraction",
                "ratio_min": None,
                "ratio_median": None,
                "ratio_max": None,
                "notes": f"run `make reproduce` first (or point FIPO_RUNS_DIR at a folder "
                f"holding a finished *-smoke run); looked in {runs_root()}",
            }
        )
    else:
        steps = manifest["steps"]
        total = sum(s["wall_time_s"] for s in steps)
        share = [o * len(steps) / total for o in overhead]
        rows.append(
            {
                "name": "papermill share of smoke reproduction",
                "baseline": f"{len(steps)} steps, {total:.0f}s total",
                "candidate": "papermill overhead x steps",
                "unit": "fraction",
                "baseline_values": [total],
                "candidate_values": share,
                "ratio_min": min(share),
                "ratio_median": share[len(share) // 2],
                "ratio_max": max(share),
                "notes": f"from {manifest['_path']}; goal under 0.15",
            }
        )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
