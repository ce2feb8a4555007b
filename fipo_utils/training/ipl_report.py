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
