"""Size the `study` profile from a `study-pilot` run: item counts from the measured discordance,
and the study's wall time per step from the measured per-item rates.

    python benchmarks/study_pilot.py RUN_DIR... [--cpu-05 S --cpu-06 S]

RUN_DIR is a `study-pilot` run, or several runs that split it (e.g. one benchmark each, run
side by side); their counts and times are added up.

The pilot (configs/profiles/study-pilot.yaml) lets the untrained base model rewrite N items
of each multiple-choice benchmark and SmolLM2-135M-Instruct answer the naive and rewritten
prompts (letter scoring). From it:

* per benchmark, the discordance rate and the items a 95% paired half-width of 5 points needs
  (``fipo_utils.analysis.significance.pilot_sizes``);
* seconds per rewrite and per scored prompt. On a shared machine wall time measures the
  neighbours as much as the code, so pass the kernels' CPU seconds (``--cpu-05``,
  ``--cpu-06``, e.g. from ``ps -o times`` of each step's kernel) when you have them: one
  CPU-second is one core-second; with torch's 2 threads on an idle 2-core machine a step
  takes between cpu/2 and cpu wall seconds.

The projection multiplies those rates by the study's counts. What it cannot measure here
is stated as an assumption in ``ASSUMPTIONS`` and printed with the table.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from fipo_utils.analysis.report import AnalysisSettings
from fipo_utils.analysis.results import collect_runs
from fipo_utils.analysis.significance import pilot_sizes, study_table
from fipo_utils.analysis.tables import markdown_table
from fipo_utils.data.benchmarks import items_for
from fipo_utils.runs.profiles import load_profile
from fipo_utils.runs.runner import chain_from_profile

# Cost ratios the pilot does not measure, each with its reason.
ASSUMPTIONS = {
    # Gemma-3-270M has twice SmolLM2-135M's parameters; CPU forward cost scales with them.
    "gemma_factor": 2.0,
    # continuation scoring adds one forward over each option's text after a shared prompt
    # prefix; options are short beside the prompt (assumed +50% of a letter scoring).
    "continuation_factor": 0.5,
    # a generation-benchmark answer decodes up to 96 tokens where a rewrite decodes 80.
    "answer_vs_rewrite": 96 / 80,
    # smoke's measured training notebooks on 2 cores (README): SFT 2 min for 8 steps, DPO and
    # IPO 1.5 min for 4 steps each, of which about 30 s is loading, merging, saving and the
    # preview; IPL rounds as DPO/IPO plus rewriting the round's optimizer rows.
    "sft_s_per_step": (120 - 30) / 8,
    "pref_s_per_step": (90 - 30) / 4,
    "run_overhead_s": 30,
    # the pilot's rates are CPU seconds of one kernel (one core); torch's two threads on an
    # idle 2-core machine do a forward pass about this much faster (the shared machine the
    # pilot ran on could not measure it).
    "two_core_speedup": 1.7,
    # notebooks 00, 01 and 07: under a minute each in smoke.
    "small_steps_s": 3 * 60,
}
# mean words of a rendered naive prompt (few-shot context, question, options), measured on
# the seeded items of each benchmark: a scored prompt's cost grows with its length.
PROMPT_WORDS = {"piqa": 192, "cosmosqa": 742, "mmlu": 644}
GENERATING_OPTIMIZERS = ("base", "sft-lora", "dpo-lora", "ipo-lora", "ipl-ipo-lora", "bpo-style")
MULTIPLE_CHOICE = ("piqa", "cosmosqa", "mmlu")


def step_seconds(run_dir: Path) -> dict[str, float]:
    """Wall seconds of each finished step, from the manifest (none without one)."""
    if not (run_dir / "manifest.json").is_file():
        return {}
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    return {
        s["notebook"]: float(s["wall_time_s"]) for s in manifest["steps"] if s.get("wall_time_s")
    }


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def pilot_rates(
    run_dirs: list[Path],
    cpu_05: float | None,
    cpu_06: float | None,
    rewrites_05: int | None = None,
) -> dict[str, float]:
    """Seconds per rewrite and per scored prompt (distinct prompts: naive + rewritten), over
    all ``run_dirs``; CPU seconds when given, else the manifests' wall seconds."""
    rewrites = prompts = words = 0
    wall_05 = wall_06 = 0.0
    for run_dir in run_dirs:
        rewrites += sum(len(_lines(p)) for p in (run_dir / "optimized").glob("*/*.jsonl"))
        for path in (run_dir / "eval" / "predictions").rglob("*.jsonl"):
            distinct = {r["prompt"] for r in _lines(path)}
            prompts += len(distinct)
            words += sum(len(p.split()) for p in distinct)
        walls = step_seconds(run_dir)
        wall_05 += walls.get("05_batch_inference", math.nan)
        wall_06 += walls.get("06_evaluation", math.nan)
    rewrites = rewrites_05 or rewrites
    return {
        "rewrites": rewrites,
        "scored_prompts": prompts,
        "scored_words": words,
        "wall_05": wall_05,
        "wall_06": wall_06,
        "s_per_rewrite": (cpu_05 or wall_05) / rewrites,
        # a scored prompt costs one forward pass over it: seconds per prompt word, so
        # benchmarks with long few-shot contexts (CosmosQA) cost what their length says
        "s_per_letter_word": (cpu_06 or wall_06) / words,
    }


def project(profile_name: str, rates: dict[str, float]) -> pd.DataFrame:
    """Seconds per step of a study profile at the pilot's rates (see ASSUMPTIONS)."""
    profile = load_profile(profile_name)
    a = ASSUMPTIONS
    counts = {b: items_for(b, profile["infer"]["n_items"]) for b in profile["infer"]["benchmarks"]}
    total = sum(counts.values())
    mc = sum(n for b, n in counts.items() if b in MULTIPLE_CHOICE)
    generation = total - mc
    testers = profile["models"]["testers"]
    tester_factor = sum(a["gemma_factor"] if "gemma" in t else 1.0 for t in testers)
    conditions = 1 + len(GENERATING_OPTIMIZERS)  # naive + each distinct rewrite (identity = naive)
    scorings = profile["evaluate"]["mc_scoring"]
    scoring_factor = 1.0 + (a["continuation_factor"] if "continuation" in scorings else 0.0)
    train, pref, ipl = profile["train"], profile["preference"], profile["ipl"]
    ipl_step = next(
        (s.parameters for s in chain_from_profile(profile_name) if s.notebook.startswith("04")), {}
    )
    ipl_steps = ipl_step.get("max_steps") or pref["max_steps"]
    ipl_rows = ipl_step.get("max_rows") or train["max_rows"] or 591
    rewrite = rates["s_per_rewrite"]
    pref_run = a["run_overhead_s"] + pref["max_steps"] * a["pref_s_per_step"]
    rows = [
        ("00, 01, 07 (tour, diversification, analysis)", a["small_steps_s"]),
        ("02 SFT", a["run_overhead_s"] + train["max_steps"] * a["sft_s_per_step"]),
        ("03 DPO", pref_run),
        ("03 IPO", pref_run),
        (
            f"04 IPL-IPO ({ipl['rounds']} rounds, {ipl_rows} rows)",
            ipl["rounds"] * (a["run_overhead_s"] + ipl_steps * a["pref_s_per_step"])
            + (ipl["rounds"] - 1) * ipl_rows * rewrite,
        ),
    ]
    for name in GENERATING_OPTIMIZERS:
        rows.append((f"05 {name} ({total} rewrites)", total * rewrite))
    rows.append(("05 identity", 0.0))
    for benchmark in MULTIPLE_CHOICE:
        n = counts.get(benchmark) or 0
        per_prompt = PROMPT_WORDS[benchmark] * rates["s_per_letter_word"]
        rows.append(
            (
                f"06 {benchmark} ({n} items x {conditions} prompts x {len(testers)} testers)",
                n * conditions * tester_factor * scoring_factor * per_prompt,
            )
        )
    rows.append(
        (
            f"06 generation ({generation} items x {conditions} prompts x {len(testers)} testers)",
            generation * conditions * tester_factor * rewrite * a["answer_vs_rewrite"],
        )
    )
    baseline_items = profile["baselines"]["n_items"]
    n_candidates = profile["baselines"]["n_candidates"]
    rows.append(
        (
            f"08 baselines ({baseline_items} GSM8K items)",
            baseline_items
            * ((2 + n_candidates) * rewrite + 5 * tester_factor * rewrite * a["answer_vs_rewrite"]),
        )
    )
    table = pd.DataFrame(rows, columns=["step", "seconds"])
    # rates measured in CPU seconds (05, 06, 08) -> wall seconds on 2 cores
    measured = table["step"].str.match(r"0[568] ")
    table.loc[measured, "seconds"] /= a["two_core_speedup"]
    table["minutes"] = (table["seconds"] / 60).round(1)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", type=Path, nargs="+")
    parser.add_argument("--cpu-05", type=float, default=None, help="CPU seconds of step 05")
    parser.add_argument("--cpu-06", type=float, default=None, help="CPU seconds of step 06")
    parser.add_argument(
        "--rewrites-05", type=int, default=None, help="rewrites --cpu-05 paid for (default: all)"
    )
    parser.add_argument("--profile", default="study")
    args = parser.parse_args()
    settings = AnalysisSettings.from_profile(load_profile(args.profile))
    table = study_table(
        collect_runs(args.run_dirs), primary=settings.primary, level=settings.confidence
    )
    sizes = pilot_sizes(table)
    print("## Discordance and items needed (95% paired half-width 5 points)\n")
    print(markdown_table(sizes.round(3)))
    rates = pilot_rates(args.run_dirs, args.cpu_05, args.cpu_06, args.rewrites_05)
    print("\n## Measured rates\n")
    print(json.dumps({k: round(v, 3) for k, v in rates.items()}, indent=1))
    projection = project(args.profile, rates)
    print(f"\n## Projected wall time of `{args.profile}` (seconds at the rates above)\n")
    print(markdown_table(projection.round(0)))
    print(f"\ntotal: {projection['seconds'].sum() / 60:.0f} min")
    print("assumptions:", json.dumps(ASSUMPTIONS, indent=1))


if __name__ == "__main__":
    main()
