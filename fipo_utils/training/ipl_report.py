"""Tables of an IPL run for notebook 04: per-round statistics and the judge's decisions.

The paper reports two IPL numbers, the judge's accuracy on a held-out split and the share of
prompts replaced per round; both are only as good as the counts behind them, so every
accuracy here stands beside the number of held-out rows it rests on, and the decisions behind
each replaced share can be read prompt by prompt.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fipo_utils.runs.io import read_jsonl

ROUND_COLUMNS = (
    "round",
    "n_rows",
    "n_optimizer_rows",
    "n_replaced",
    "replaced_share",
    "n_discrimination_before",
    "n_discrimination_after",
    "judge_accuracy",
    "n_judge_holdout",
    "loss_first",
    "loss_last",
    "train_wall_s",
)


def rounds_table(record: dict) -> pd.DataFrame:
    """One row per round from a ``rounds.json`` record, judge accuracy beside its ``n``."""
    return pd.DataFrame(record["rounds"]).reindex(columns=list(ROUND_COLUMNS))


def judge_intervals(record: dict, confidence: float = 0.95) -> pd.DataFrame:
    """The judge after each round on the held-out discrimination rows: accuracy against the
    chosen side with its Wilson interval (statsmodels), and whether it beats chance (the
    interval's lower end above 0.5). Round k's judge is the one round k + 1 rebuilds with."""
    from statsmodels.stats.proportion import proportion_confint

    rows = []
    for entry in record["rounds"]:
        n, accuracy = entry.get("n_judge_holdout") or 0, entry.get("judge_accuracy")
        correct = round(accuracy * n) if accuracy is not None and n else 0
        low, high = (
            proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
            if n
            else (float("nan"), float("nan"))
        )
        rows.append(
            {
                "judge": f"after round {entry['round']}",
                "used_by": f"round {entry['round'] + 1}",
                "n_judge_holdout": n,
                "correct": correct,
                "judge_accuracy": accuracy,
                "wilson_low": float(low),
                "wilson_high": float(high),
                "beats_chance": bool(n) and float(low) > 0.5,
            }
        )
    return pd.DataFrame(rows)


def judge_verdict(table: pd.DataFrame) -> list[str]:
    """One sentence per judge of :func:`judge_intervals`, for the notebook to print."""
    lines = []
    for row in table.itertuples():
        if not row.n_judge_holdout:
            lines.append(f"The judge {row.judge} was not measured (no held-out rows).")
            continue
        verdict = "beats chance" if row.beats_chance else "does NOT beat chance"
        lines.append(
            f"The judge {row.judge} (used by {row.used_by}) {verdict}: {row.correct}/"
            f"{row.n_judge_holdout} correct, Wilson interval "
            f"[{row.wilson_low:.2f}, {row.wilson_high:.2f}]."
        )
    return lines


def judge_decisions(train_dir: str | Path) -> pd.DataFrame:
    """Every rewrite the self-judge saw, per round: current prompt, rewrite, verdict (with the
    log-probabilities of both letters, or the sampled token), kept.

    Reads ``round_<k>/judge.jsonl`` (written by :func:`fipo_utils.training.ipl.run_ipl` for
    rounds 2 onwards). Empty when no round rebuilt its data.
    """
    frames = []
    for path in sorted(Path(train_dir).glob("round_*/judge.jsonl")):
        frame = pd.DataFrame(read_jsonl(path))
        frame.insert(0, "round", int(path.parent.name.removeprefix("round_")))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["round", "id", "current", "rewrite", "verdict", "kept"])
    return pd.concat(frames, ignore_index=True)


def kept_and_replaced(decisions: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """Up to ``n`` replaced and ``n`` kept prompts per round, replaced first."""
    if decisions.empty:
        return decisions
    outcome = decisions["kept"].map({True: "replaced by rewrite", False: "current kept"})
    shown = decisions.assign(outcome=outcome).sort_values(
        ["round", "kept"], ascending=[True, False], kind="stable"
    )
    columns = ["round", "outcome", "id", "current", "rewrite", "rewrite_slot", "verdict"]
    # the judge's scores where it gave them (the log-probability judge; not the sampled token)
    columns += [c for c in ("logprob_A", "logprob_B", "sampled") if c in shown.columns]
    return shown.groupby(["round", "outcome"], sort=False).head(n)[columns]
