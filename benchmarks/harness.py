"""Small shared pieces of the benchmark scripts: repeat timing and the result-row shape.

Every row compares a baseline with a candidate measured in the same run on the same
machine, so the ratio means something even on a busy or slow machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``VmHWM``), in MiB.

    Unlike ``getrusage().ru_maxrss``, which Linux keeps across ``exec`` so a subprocess
    would report its parent's peak, ``VmHWM`` belongs to the current address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmHWM line (not Linux?)")


def reset_peak_rss() -> None:
    """Start a new peak-memory mark for this process (``VmHWM``), so several measurements
    in one process each report their own peak. Linux only, as is ``peak_rss_mib``."""
    Path("/proc/self/clear_refs").write_text("5")


def time_repeats(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> list[float]:
    """Wall-clock seconds of ``fn`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def ratio_row(
    name: str,
    baseline: str,
    candidate: str,
    unit: str,
    baseline_values: list[float],
    candidate_values: list[float],
    notes: str = "",
    *,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """A result row; ratios are computed per repeat pair so min/median/max show the spread.

    With ``higher_is_better`` (throughputs) ratio = candidate / baseline; for costs
    (seconds, bytes) ratio = baseline / candidate, so a ratio above 1 always means the
    candidate wins.
    """
    pairs = list(zip(baseline_values, candidate_values, strict=False))
    if higher_is_better:
        ratios = [c / b for b, c in pairs if b > 0]
    else:
        ratios = [b / c for b, c in pairs if c > 0]
    return {
        "name": name,
        "baseline": baseline,
        "candidate": candidate,
        "unit": unit,
        "baseline_values": baseline_values,
        "candidate_values": candidate_values,
        "ratio_min": min(ratios) if ratios else None,
        "ratio_median": statistics.median(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "notes": notes,
    }
