"""Table 8 run (notebook 09): every method's BBH task average with its interval and paired
gain over naive, the published Table 8 number beside it, and what it cost.

Reads only ``baselines/table8/`` (``predictions/``, ``cost.csv``); written by
``fipo_utils.baselines.table8``. Methods the companion cannot run (PromptAgent, the GPT-4
rewrite) appear with their published number only, labelled ``published``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fipo_utils.analysis import published
from fipo_utils.analysis.results import read_predictions
from fipo_utils.analysis.tables import CIOptions
from fipo_utils.evaluation import intervals

FOLDER = Path("baselines") / "table8"
RUN_ONLY = {"opro": "OPRO", "bpo-style": "BPO-style zero-shot rewrite"}


def published_method(method: str) -> str | None:
    """The Table 8 column a run's method corresponds to (``None``: not in Table 8)."""
    if method in ("naive", "ape"):
        return {"naive": "naive", "ape": "APE"}[method]
    return "FIPO" if method.startswith("fipo-") else None


def method_label(method: str) -> str:
    if method.startswith("fipo-"):
        return f"FIPO ({method.removeprefix('fipo-')})"
    return RUN_ONLY.get(method) or published_method(method) or method


def accuracy_table(run_dir: str | Path, ci: CIOptions, reference_tester: str) -> pd.DataFrame:
    """One row per (tester, method): mean of per-task accuracies (percent) and the paired
    gain over naive, each with the MOVER interval over tasks (:mod:`.intervals`), the
    published number of the reference tester; then the published-only methods."""
    predictions = read_predictions(Path(run_dir) / FOLDER, "run", "table8")
    if predictions.empty:
        raise FileNotFoundError(f"{Path(run_dir) / FOLDER}/predictions holds no records")
    predictions["task"] = predictions["benchmark"].str.split("/", n=1).str[1]
    rows = []
    for tester, group in predictions.groupby("tester", sort=False):
        pub_tester = (
            published.match_published_tester(tester, tuple(published.TABLE8)) or reference_tester
        )
        first = group["optimizer"].iloc[0]
        naive = _flags(group[(group["optimizer"] == first) & (group["condition"] == "naive")])
        methods = {"naive": naive}
        for method, cells in group[group["condition"] == "optimized"].groupby(
            "optimizer", sort=False
        ):
            methods[method] = _flags(cells)
        for method, flags in methods.items():
            equal = dict.fromkeys(flags, 1.0)
            low, high = intervals.pooled_accuracy_interval(
                {t: (int(f.sum()), f.size) for t, f in flags.items()}, equal, ci.level
            )
            gains = {t: flags[t] - naive[t] for t in flags}
            gain_low, gain_high = intervals.pooled_paired_interval(
                {t: intervals.discordant_counts(g) for t, g in gains.items()}, equal, ci.level
            )
            target = published_method(method)
            rows.append(
                {
                    "tester": tester,
                    "method": method,
                    "label": method_label(method),
                    "source": "ours",
                    "n_tasks": len(flags),
                    "n_items": int(sum(len(f) for f in flags.values())),
                    "accuracy": 100 * float(np.mean([f.mean() for f in flags.values()])),
                    "accuracy_low": 100 * low,
                    "accuracy_high": 100 * high,
                    "gain": 100 * float(np.mean([g.mean() for g in gains.values()])),
                    "gain_low": 100 * gain_low,
                    "gain_high": 100 * gain_high,
                    "published_tester": pub_tester,
                    "published": published.TABLE8[pub_tester][target] if target else np.nan,
                }
            )
        for method in ("PromptAgent", "GPT-4 rewrite"):
            rows.append(
                {
                    "tester": tester,
                    "method": method,
                    "label": f"{method} (published; not run here)",
                    "source": "published",
                    "n_tasks": len(published.TABLE8_TASKS),
                    "published_tester": pub_tester,
                    "published": published.TABLE8[pub_tester][method],
                }
            )
    return pd.DataFrame(rows)


def _flags(cells: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per task, the correctness flags in item order (so naive and optimized pair up)."""
    return {
        task: part.sort_values("id")["correct"].to_numpy(dtype=float)
        for task, part in cells.groupby("task", sort=True)
    }


def cost_table(run_dir: str | Path) -> pd.DataFrame:
    """Per (tester, method): one-off seconds (search per tester, or training), per-query
    seconds and tokens (rewrite + answer), totals of calls and tokens over every phase but
    training, and for trained or rewriting methods the break-even number of queries against
    APE and OPRO (:func:`break_even_queries`; NaN for the search methods themselves)."""
    cost = pd.read_csv(Path(run_dir) / FOLDER / "cost.csv")
    testers = sorted(set(cost["tester"]) - {"-"})
    rows = []
    for tester in testers:
        for method in cost["method"].unique():
            mine = cost[(cost["method"] == method) & cost["tester"].isin([tester, "-"])]
            answer = mine[mine["phase"] == "answer"]
            queries = int(answer["n_queries"].sum())
            if not queries:
                continue
            per_query = mine[mine["phase"].isin(["rewrite", "answer"])]
            one_off = mine[mine["phase"].isin(["search", "training"])]
            spent = mine[mine["phase"] != "training"]
            rows.append(
                {
                    "tester": tester,
                    "method": method,
                    "label": method_label(method),
                    "one_off_seconds": float(one_off["seconds"].sum()),
                    "training_seconds": float(mine[mine["phase"] == "training"]["seconds"].sum()),
                    "search_seconds": float(mine[mine["phase"] == "search"]["seconds"].sum()),
                    "queries": queries,
                    "per_query_seconds": float(per_query["seconds"].sum()) / queries,
                    "per_query_tokens": float(
                        (per_query["prompt_tokens"] + per_query["generated_tokens"]).sum()
                    )
                    / queries,
                    "calls": int(spent["calls"].sum()),
                    "prompt_tokens": int(spent["prompt_tokens"].sum()),
                    "generated_tokens": int(spent["generated_tokens"].sum()),
                    "cached_calls": int(spent["cached_calls"].sum()),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for other in ("ape", "opro"):
        ref = table[table["method"] == other].set_index("tester")
        table[f"break_even_vs_{other}"] = [
            _break_even(row, ref.loc[row["tester"]]) if row["tester"] in ref.index else np.nan
            for _, row in table.iterrows()
        ]
    return table


def _break_even(row: pd.Series, other: pd.Series) -> float:
    if row["method"] in ("ape", "opro", "naive"):
        return np.nan
    return break_even_queries(
        row["one_off_seconds"],
        row["per_query_seconds"],
        other["one_off_seconds"],
        other["per_query_seconds"],
    )


def break_even_queries(
    one_off: float, per_query: float, other_one_off: float, other_per_query: float
) -> float:
    """Queries after which a method with a larger one-off cost (training, or a search) and a
    smaller per-query cost becomes the cheaper one in total: 0 when it is cheaper from the
    first query, ``inf`` when never (its per-query cost is not smaller)."""
    if one_off <= other_one_off and per_query <= other_per_query:
        return 0.0
    saving = other_per_query - per_query
    if saving <= 0:
        return float("inf")
    return max(0.0, (one_off - other_one_off) / saving)
