"""Offline reward model: gradient-boosted trees predicting whether a (question, prompt) pair
is answered correctly, from the concatenation of the two embeddings.

XGBoost is what Prompt-OIRL used (depth 10, eta 0.001, 2,000 rounds: ``PAPER_XGBOOST``).
That setting takes far too long on 2 CPU cores for three datasets, so the default is a
shallower, faster-learning XGBoost with the same features and objective; LightGBM is offered
as a faster option. Pick with ``RewardModelConfig(backend=..., ...)``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("xgboost", "lightgbm")


@dataclass(frozen=True)
class RewardModelConfig:
    backend: str = "xgboost"
    max_depth: int = 6
    learning_rate: float = 0.1
    n_rounds: int = 200
    n_threads: int = 2
    seed: int = 2024
    device: str = "cpu"  # "cuda" runs XGBoost on a GPU with the same trees
    # Row and feature sampling per tree: below 1 the seed matters, so several seeds measure
    # how much the selection depends on the fit (1.0 = deterministic trees, as the original).
    subsample: float = 1.0
    colsample: float = 1.0
    # Weigh correct pairs by (negatives / positives): GSM8K's positive rate is ~18%, and an
    # unweighted model almost never predicts "correct" (the original does not weigh).
    balance_classes: bool = False
    # The first fraction of the training pairs (question-major order) is fitted, the rest
    # held out, as Prompt-OIRL's step 4 fits the first 80% (1.0 = every training pair).
    train_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")


PAPER_XGBOOST = RewardModelConfig(
    backend="xgboost", max_depth=10, learning_rate=0.001, n_rounds=2000, train_fraction=0.8
)


def pair_features(question_vectors: np.ndarray, prompt_vectors: np.ndarray) -> np.ndarray:
    """``[n_q * n_p, d_q + d_p]``: row ``i * n_p + k`` is question ``i`` with prompt ``k``."""
    n_q, n_p = len(question_vectors), len(prompt_vectors)
    q = np.repeat(np.asarray(question_vectors, dtype=np.float32), n_p, axis=0)
    p = np.tile(np.asarray(prompt_vectors, dtype=np.float32), (n_q, 1))
    return np.concatenate([q, p], axis=1)


class RewardModel:
    """A trained booster plus the config it came from; ``predict`` returns P(correct)."""

    def __init__(
        self,
        config: RewardModelConfig,
        booster: Any,  # an xgboost or a lightgbm Booster: both predict and save_model
        train_seconds: float,
        train_cpu_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.booster = booster
        self.train_seconds = train_seconds  # wall clock
        # CPU time of this process: on a shared machine the wall clock overstates the cost.
        self.train_cpu_seconds = train_cpu_seconds

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray, config: RewardModelConfig
    ) -> RewardModel:
        labels = np.asarray(labels, dtype=np.float32).ravel()
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        if not 0.0 < config.train_fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {config.train_fraction}")
        keep = int(config.train_fraction * len(labels))
        features, labels = features[:keep], labels[:keep]
        positives = float(labels.sum())
        weight = (
            (len(labels) - positives) / positives if config.balance_classes and positives else 1
        )
        start, cpu_start = time.perf_counter(), time.process_time()
        if config.backend == "xgboost":
            import xgboost as xgb

            params = {
                "objective": "binary:logistic",
                "eval_metric": "logloss",
                "tree_method": "hist",
                "max_depth": config.max_depth,
                "eta": config.learning_rate,
                "nthread": config.n_threads,
                "seed": config.seed,
                "device": config.device,
                "subsample": config.subsample,
                "colsample_bytree": config.colsample,
                "scale_pos_weight": weight,
            }
            booster: Any = xgb.train(params, xgb.DMatrix(features, label=labels), config.n_rounds)
        else:
            import lightgbm as lgb

            params = {
                "objective": "binary",
                "learning_rate": config.learning_rate,
                "max_depth": config.max_depth,
                "num_leaves": min(2**config.max_depth - 1, 127),
                "num_threads": config.n_threads,
                "seed": config.seed,
                "deterministic": True,
                "verbose": -1,
                "bagging_fraction": config.subsample,
                "bagging_freq": 1 if config.subsample < 1 else 0,
                "feature_fraction": config.colsample,
                "scale_pos_weight": weight,
            }
            booster = lgb.train(params, lgb.Dataset(features, label=labels), config.n_rounds)
        return cls(config, booster, time.perf_counter() - start, time.process_time() - cpu_start)

    def predict(self, features: np.ndarray) -> np.ndarray:
        if self.config.backend == "xgboost":
            import xgboost as xgb

            return self.booster.predict(xgb.DMatrix(features))
        return self.booster.predict(features)

    def score_matrix(self, question_vectors: np.ndarray, prompt_vectors: np.ndarray) -> np.ndarray:
        """P(correct) for every question with every prompt, ``[n_q, n_p]``."""
        flat = self.predict(pair_features(question_vectors, prompt_vectors))
        return flat.reshape(len(question_vectors), len(prompt_vectors))

    def save(self, folder: str | Path) -> Path:
        """Write the booster and its config; ``load`` reads them back."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = "booster.json" if self.config.backend == "xgboost" else "booster.txt"
        self.booster.save_model(str(folder / name))
        meta = {"config": asdict(self.config), "train_seconds": self.train_seconds, "file": name}
        (folder / "reward_model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RewardModel:
        folder = Path(folder)
        meta_path = folder / "reward_model.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: no saved reward model here")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        config = RewardModelConfig(**meta["config"])
        if config.backend == "xgboost":
            import xgboost as xgb

            booster: Any = xgb.Booster()
            booster.load_model(str(folder / meta["file"]))
        else:
            import lightgbm as lgb

            booster = lgb.Booster(model_file=str(folder / meta["file"]))
        return cls(config, booster, meta["train_seconds"])
