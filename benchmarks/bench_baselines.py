"""Reward-model training speed for Prompt-OIRL: LightGBM against XGBoost, and the CPU default
against the paper's settings, on synthetic features shaped like the real ones (768 = question
384 + prompt 384 dims, six prompts per question, ~20% positives).

Ratios are candidate speed / baseline speed (= baseline seconds / candidate seconds), measured
in this process with 2 threads. Run alone with ``python benchmarks/bench_baselines.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import numpy as np

from fipo_utils.baselines.oirl.reward_model import PAPER_XGBOOST, RewardModel, RewardModelConfig


def _features(n_questions: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    questions = rng.normal(size=(n_questions, 384)).astype(np.float32)
    prompts = rng.normal(size=(6, 384)).astype(np.float32)
    q = np.repeat(questions, 6, axis=0)
    p = np.tile(prompts, (n_questions, 1))
    logits = q[:, 0] * p[:, 0] + q[:, 1] - 1.5
    labels = rng.random(len(q)) < 1 / (1 + np.exp(-logits))
    return np.concatenate([q, p], axis=1), labels


def _seconds(config: RewardModelConfig, x: np.ndarray, y: np.ndarray, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        RewardModel.fit(x, y, config)
        times.append(time.perf_counter() - start)
    return times


def _ratio(
    name: str, baseline: str, candidate: str, base: list[float], cand: list[float], notes: str
) -> dict:
    ratios = sorted(b / c for b in base for c in cand)
    return {
        "name": name,
        "baseline": baseline,
        "candidate": candidate,
        "unit": "seconds per fit",
        "baseline_values": base,
        "candidate_values": cand,
        "ratio_min": ratios[0],
        "ratio_median": statistics.median(ratios),
        "ratio_max": ratios[-1],
        "notes": notes,
    }


def run(quick: bool) -> list[dict]:
    n_questions, repeats = (150, 1) if quick else (600, 3)
    x, y = _features(n_questions)
    default = RewardModelConfig()
    lightgbm = RewardModelConfig(backend="lightgbm")
    xgb_times = _seconds(default, x, y, repeats)
    lgb_times = _seconds(lightgbm, x, y, repeats)
    # The paper setting runs 2,000 rounds; time 10% of them and scale, or it takes hours.
    paper_part = replace(PAPER_XGBOOST, n_rounds=PAPER_XGBOOST.n_rounds // 10)
    paper_times = [10 * t for t in _seconds(paper_part, x, y, 1)]
    rows = f"{n_questions * 6} rows x 768 features, 2 threads"
    speed = _ratio("oirl_reward_lightgbm_vs_xgboost", "xgboost depth 6 eta 0.1 x200",
                   "lightgbm depth 6 eta 0.1 x200", xgb_times, lgb_times, rows)  # fmt: skip
    if not quick:  # fit time against training rows (questions x 6 prompts)
        counts = [n_questions // 4, n_questions // 2]
        fits = {
            name: [_seconds(config, *_features(n), 1)[0] for n in counts]
            + [statistics.median(full)]
            for name, config, full in (
                ("xgboost", default, xgb_times),
                ("lightgbm", lightgbm, lgb_times),
            )
        }
        speed["series"] = {
            "x": [6 * n for n in [*counts, n_questions]],
            "y": fits,
            "xlabel": "reward-model training rows",
            "ylabel": "seconds per fit",
            "log_x": True,
        }
    return [
        speed,
        _ratio("oirl_reward_default_vs_paper", "xgboost depth 10 eta 0.001 x2000 (scaled from 200)",
               "xgboost depth 6 eta 0.1 x200", paper_times, xgb_times, rows),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))
