"""``fipo oirl``: reproduce Prompt-OIRL's best-of-N prompt selection from the released logs."""

from __future__ import annotations

import argparse

from fipo_utils.runs.schema import argument_type

HELP = (
    "Prompt-OIRL on CPU: reward model from offline logs, best-of-N prompt selection per question."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="reference data folder holding oirl/, benchmarks/gsm8k/ and svamp/ "
        "(default: FIPO_DATA_DIR or ../shared/data)",
    )
    parser.add_argument("--dataset", required=True, choices=["gsm8k", "mawps", "svamp"])
    parser.add_argument(
        "--out",
        required=True,
        help="folder for results.json (an earlier one is kept as results.prev-<time>.json)",
    )
    parser.add_argument("--split", default="original", choices=["original", "leak-free"])
    parser.add_argument("--backend", default="xgboost", choices=["xgboost", "lightgbm"])
    parser.add_argument(
        "--paper-settings",
        action="store_true",
        help="XGBoost depth 10, eta 0.001, 2000 rounds as Prompt-OIRL (hours on 2 CPU cores)",
    )
    parser.add_argument("--max-depth", type=argument_type("max_depth"), default=None)
    parser.add_argument("--learning-rate", type=argument_type("learning_rate"), default=None)
    parser.add_argument("--rounds", type=argument_type("n_rounds"), default=None)
    parser.add_argument("--threads", type=argument_type("batch_size"), default=2)
    parser.add_argument("--device", default="cpu", help="xgboost device: cpu or cuda")
    parser.add_argument(
        "--max-train-rows", type=argument_type("max_train_rows"), help="seeded subset (smoke)"
    )
    parser.add_argument(
        "--max-test-rows", type=argument_type("max_test_rows"), help="seeded subset (smoke)"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="one reward model per seed; results carry the seed-averaged gain with a paired "
        "bootstrap interval over test questions (seeds matter with --subsample below 1)",
    )
    parser.add_argument("--subsample", type=float, default=None, help="row fraction per tree")
    parser.add_argument("--colsample", type=float, default=None, help="feature fraction per tree")
    parser.add_argument(
        "--balance-classes", action="store_true", help="weigh correct pairs by neg/pos"
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        default=None,
        help="fit the first fraction of the training pairs (Prompt-OIRL's step 4: 0.8; "
        "--paper-settings implies it)",
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from fipo_utils.analysis.oirl_gain import seed_averaged_gain
    from fipo_utils.baselines.oirl.report import run_oirl, write_results
    from fipo_utils.baselines.oirl.reward_model import PAPER_XGBOOST, RewardModelConfig
    from fipo_utils.runs.errors import FipoError
    from fipo_utils.runs.paths import reference_data_dir
    from fipo_utils.runs.safe_write import check_writable_folder

    data_dir = Path(args.data_dir) if args.data_dir else reference_data_dir()
    if data_dir is None or not (data_dir / "oirl").is_dir():
        where = f"{data_dir}/oirl" if data_dir else "FIPO_DATA_DIR or ../shared/data"
        raise FipoError(f"no Prompt-OIRL logs under {where}; pass --data-dir DIR holding oirl/")
    check_writable_folder(args.out, "--out")  # before minutes of training, not after
    config = PAPER_XGBOOST if args.paper_settings else RewardModelConfig(backend=args.backend)
    overrides = {
        "max_depth": args.max_depth,
        "learning_rate": args.learning_rate,
        "n_rounds": args.rounds,
        "subsample": args.subsample,
        "colsample": args.colsample,
        "train_fraction": args.train_fraction,
        "balance_classes": args.balance_classes or None,
    }
    config = dataclasses.replace(
        config,
        **{k: v for k, v in overrides.items() if v is not None},
        n_threads=args.threads,
        seed=args.seed,
        device=args.device,
    )
    results = run_oirl(
        data_dir,
        args.dataset,
        args.split,
        config,
        max_train_rows=args.max_train_rows,
        max_test_rows=args.max_test_rows,
        seed=args.seed,
        seeds=args.seeds,
    )
    results["gain"] = seed_averaged_gain(results, seed=args.seed)
    path = write_results(results, args.out)
    gain = results["gain"]
    verdict = "" if gain["distinguishable_from_zero"] else "not "
    print(
        f"{args.dataset} ({args.split}): best-of-{results['n_prompts']} "
        f"{results['best_of_n_accuracy']:.3f}, best single prompt "
        f"({results['best_single_prompt']}) {results['best_single_prompt_accuracy']:.3f}, "
        f"oracle {results['oracle_accuracy']:.3f}, n={results['n_test_questions']}, "
        f"reward model trained in {results['reward_model']['train_seconds']:.1f} s -> {path}\n"
        f"gain over the best single prompt, mean of {gain['n_seeds']} seed(s): "
        f"{gain['mean']:+.3f} [{gain['low']:+.3f}, {gain['high']:+.3f}] "
        f"({verdict}distinguishable from zero at {gain['level']:.0%})"
    )
    return 0
