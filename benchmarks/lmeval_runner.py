"""Run lm-evaluation-harness on task YAMLs written by ``lmeval_agreement.py`` and save what
the comparison needs: per task the wall time (model load apart), the harness's aggregate
metrics and every logged sample (its request arguments, responses and per-item metrics).

It runs in the harness's own environment (``make lmeval-env``: lm-eval pins
python-dateutil below 3, which the main environment has at 4), so it imports nothing from
``fipo_utils``.

    .venv-lmeval/bin/python benchmarks/lmeval_runner.py --model DIR --include TASKS_DIR \\
        --tasks fipo_piqa,fipo_mmlu --out lmeval.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    """JSON-safe copy of a logged sample value (tuples become lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="local model folder (safetensors)")
    parser.add_argument("--include", required=True, help="folder of task YAMLs")
    parser.add_argument("--tasks", required=True, help="comma-separated task names")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    start = time.perf_counter()
    lm = HFLM(pretrained=args.model, dtype="float32", device="cpu", batch_size=args.batch_size)
    load_seconds = time.perf_counter() - start
    manager = TaskManager(include_path=args.include)
    report: dict[str, Any] = {"load_seconds": load_seconds, "tasks": {}}
    for task in args.tasks.split(","):
        start = time.perf_counter()
        output = simple_evaluate(
            model=lm, tasks=[task], task_manager=manager, log_samples=True, bootstrap_iters=0
        )
        seconds = time.perf_counter() - start
        samples = [
            {
                "id": sample["doc"]["id"],
                "filter": sample.get("filter"),
                "arguments": _plain(sample["arguments"]),
                "resps": _plain(sample["resps"]),
                "filtered_resps": _plain(sample["filtered_resps"]),
                "metrics": {m: _plain(sample[m]) for m in sample.get("metrics", []) if m in sample},
            }
            for sample in output["samples"][task]
        ]
        report["tasks"][task] = {
            "seconds": seconds,
            "results": _plain(output["results"][task]),
            "samples": samples,
        }
    Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
