"""Agreement and speed against lm-evaluation-harness on the same model, items and format.

    python benchmarks/lmeval_agreement.py --model smollm2-135m-instruct \\
        --piqa 200 --mmlu 200 --gsm8k 20

The companion's items (naive condition: each item's own instruction, drawn with the
companion's seeded selection from ``../shared/data/benchmarks``) are written as JSONL next
to task YAMLs that reproduce the harness's own task formats (``piqa``: "Question: ..
Answer:" over the two solutions; ``mmlu``: the default template with the subject
description, letters as continuations; ``gsm8k``: 5 first training examples, "Question: ..
Answer:", greedy, stops and both answer filters of the harness). The hub is unreachable,
so the tasks read those local files (``dataset_path: json``).

``--fewshot`` scores PiQA and MMLU with the few-shot examples the paper's evaluation uses
(§3.1.2: PiQA 3, MMLU 5; the companion's shots: PiQA's first 3 validation rows, each MMLU
subject's 5 dev rows), in the harness's few-shot layout (examples as "text target", joined
by a blank line). PiQA uses the harness's own few-shot machinery (``num_fewshot`` with the
``first_n`` sampler over a file of the 3 shots). MMLU's shots differ by subject, which one
harness task cannot draw from one few-shot split, so each document carries its subject's
examples and the task's description renders them; the context strings are checked to be
byte-identical either way. Few-shot contexts are what prefix sharing is for: the zero-shot
formats leave a few tokens to share.

lm-eval runs in its own environment (``make lmeval-env``) through ``lmeval_runner.py``; the
companion scores the same context strings with its continuation scorer
(``fipo_utils.models.loglikelihood``, prefixes shared and, for the speed comparison, not
shared) and generates GSM8K answers with its transformers generator. The report gives per
benchmark both accuracies, the item-level agreement, every disagreeing item with both
predictions, whether the contexts were byte-identical, and items/s of each side.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

LMEVAL_PYTHON = ROOT / ".venv-lmeval" / "bin" / "python"
GSM8K_SHOTS = 5  # the harness's gsm8k task (first_n here: the harness samples at random)
GSM8K_STOPS = ("Question:", "</s>", "<|im_end|>")
_IGNORE = (",", r"\$", r"(?s).*#### ", r"\.$")  # the harness's gsm8k regexes_to_ignore


# --- the items, as documents in the harness's field names -------------------------------


MC_SHOTS = {"piqa": 3, "mmlu": 5}  # the paper's few-shot counts (fipo_utils.data.benchmarks)


def export_docs(
    n_piqa: int, n_mmlu: int, n_gsm8k: int, seed: int, fewshot: bool = False
) -> dict[str, list[dict]]:
    """The companion's items (its own seeded selection) as harness-style documents; with
    ``fewshot`` each MMLU document carries its subject's examples (field ``shots``)."""
    from fipo_utils.data.benchmarks import LETTERS, load_benchmark

    docs: dict[str, list[dict]] = {}
    if n_piqa:
        docs["piqa"] = [
            {
                "id": item.id,
                "goal": item.instruction.removeprefix("Goal: "),
                "sol1": item.options[0],
                "sol2": item.options[1],
                "label": LETTERS.index(item.gold),
            }
            for item in load_benchmark("piqa", n_piqa, seed=seed).items
        ]
    if n_mmlu:
        docs["mmlu"] = [
            {
                "id": item.id,
                "subject": item.id.split("/", 1)[1].rsplit("-", 1)[0].replace("_", " "),
                "question": item.instruction,
                "choices": item.options,
                "answer": LETTERS.index(item.gold),
            }
            for item in load_benchmark("mmlu", n_mmlu, seed=seed).items
        ]
        if fewshot:
            for doc in docs["mmlu"]:
                examples = mmlu_dev_shots(doc["id"].split("/", 1)[1].rsplit("-", 1)[0])
                doc["shots"] = "".join(f"{shot_text('mmlu', s)}\n\n" for s in examples)
    if n_gsm8k:
        docs["gsm8k"] = [
            {"id": item.id, "question": item.instruction, "answer": item.gold}
            for item in load_benchmark("gsm8k", n_gsm8k, seed=seed).items
        ]
    return docs


def _reference_rows(*parts: str) -> list[dict]:
    import datasets

    from fipo_utils.runs.paths import reference_path

    path = reference_path("benchmarks", *parts)
    if path is None:
        raise FileNotFoundError(f"benchmarks/{'/'.join(parts)} under FIPO_DATA_DIR")
    return [dict(row) for row in datasets.load_from_disk(str(path))]


def piqa_shots() -> list[dict]:
    """The companion's PiQA examples: the first validation rows (left out of its items)."""
    return _reference_rows("piqa", "validation")[: MC_SHOTS["piqa"]]


def mmlu_dev_shots(subject: str) -> list[dict]:
    """The subject's first dev rows, MMLU's own few-shot examples."""
    return _reference_rows("mmlu", subject, "dev")[: MC_SHOTS["mmlu"]]


def gsm8k_shots() -> list[dict]:
    from fipo_utils.runs.paths import reference_path

    path = reference_path("benchmarks", "gsm8k", "train.jsonl")
    if path is None:
        raise FileNotFoundError("benchmarks/gsm8k/train.jsonl under FIPO_DATA_DIR")
    lines = path.read_text(encoding="utf-8").splitlines()[:GSM8K_SHOTS]
    return [{"id": f"train-{i}", **json.loads(line)} for i, line in enumerate(lines)]


# --- the harness's formats, built on the companion's side -------------------------------


def _mc_text(benchmark: str, doc: dict) -> str:
    """The harness task's ``doc_to_text`` for one document."""
    if benchmark == "piqa":
        return f"Question: {doc['goal']}\nAnswer:"
    if benchmark == "mmlu":
        options = "".join(f"\n{x}. {c}" for x, c in zip("ABCD", doc["choices"], strict=True))
        return f"{doc['question'].strip()}{options}\nAnswer:"
    raise ValueError(f"{benchmark} is not multiple choice here")


def shot_text(benchmark: str, doc: dict) -> str:
    """One few-shot example as the harness writes it: text, a space, the gold target."""
    if benchmark == "piqa":
        target = [doc["sol1"], doc["sol2"]][doc["label"]]
    else:
        target = "ABCD"[doc["answer"]]
    return f"{_mc_text(benchmark, doc)} {target}"


def mc_requests(
    benchmark: str, doc: dict, shots: list[dict] | None = None
) -> tuple[str, list[str], list[str]]:
    """(context, continuations, option texts for acc_norm) in the harness task's format;
    ``shots`` (PiQA) or the document's own ``shots`` field (MMLU) put examples first."""
    text = _mc_text(benchmark, doc)
    if benchmark == "piqa":
        choices = [doc["sol1"], doc["sol2"]]
        examples = "".join(f"{shot_text('piqa', s)}\n\n" for s in shots or [])
        return examples + text, [" " + c for c in choices], choices
    letters = ["A", "B", "C", "D"]
    description = (
        f"The following are multiple choice questions (with answers) about {doc['subject']}.\n\n"
    )
    return description + doc.get("shots", "") + text, [" " + x for x in letters], letters


def gsm8k_context(doc: dict, shots: list[dict]) -> str:
    examples = [f"Question: {s['question']}\nAnswer: {s['answer']}" for s in shots]
    return "\n\n".join([*examples, f"Question: {doc['question']}\nAnswer:"])


def cut_at_stops(text: str) -> str:
    for stop in GSM8K_STOPS:
        text = text.split(stop, 1)[0]
    return text


def harness_gsm8k_answers(text: str) -> dict[str, str]:
    """The harness's two GSM8K filters: ``strict-match`` (the number after ``####``) and
    ``flexible-extract`` (the last number-like run)."""
    strict = re.search(r"#### (\-?[0-9\.\,]+)", text)
    flexible = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", text)
    last = next((g for g in flexible[-1] if g), "") if flexible else ""
    return {
        "strict-match": strict.group(1) if strict else "[invalid]",
        "flexible-extract": last or "[invalid]",
    }


def harness_exact_match(prediction: str, reference: str) -> bool:
    """The harness's gsm8k exact_match: its ignore regexes, then case-insensitive equality."""
    for pattern in _IGNORE:
        prediction = re.sub(pattern, "", prediction)
        reference = re.sub(pattern, "", reference)
    return prediction.strip().lower() == reference.strip().lower()


# --- the harness's side -------------------------------------------------------------------


def write_tasks(
    folder: Path, docs: dict[str, list[dict]], max_gen_toks: int, fewshot: bool = False
) -> list[str]:
    """Task YAMLs over local JSONL files, in the harness's own task formats."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in docs.items():
        _write_jsonl(folder / f"{name}.jsonl", rows)
    tasks: list[str] = []
    common = {"dataset_path": "json", "test_split": "test", "output_type": "multiple_choice"}
    if "piqa" in docs:
        tasks.append("fipo_piqa")
        files = {"test": str(folder / "piqa.jsonl")}
        task = common | {
            "task": "fipo_piqa",
            "dataset_kwargs": {"data_files": files},
            "doc_to_text": "Question: {{goal}}\nAnswer:",
            "doc_to_target": "label",
            "doc_to_choice": "{{[sol1, sol2]}}",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        }
        if fewshot:
            files["train"] = str(folder / "piqa_shots.jsonl")
            _write_jsonl(folder / "piqa_shots.jsonl", piqa_shots())
            task |= {
                "fewshot_split": "train",
                "num_fewshot": MC_SHOTS["piqa"],
                "fewshot_config": {"sampler": "first_n"},
            }
        (folder / "fipo_piqa.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    if "mmlu" in docs:
        tasks.append("fipo_mmlu")
        task = common | {
            "task": "fipo_mmlu",
            "dataset_kwargs": {"data_files": {"test": str(folder / "mmlu.jsonl")}},
            # with --fewshot each document carries its subject's examples (module docstring)
            "description": "The following are multiple choice questions (with answers) "
            "about {{subject}}.\n\n" + ("{{shots}}" if fewshot else ""),
            "doc_to_text": "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\n"
            "C. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "answer",
            "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}],
        }
        (folder / "fipo_mmlu.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    if "gsm8k" in docs:
        tasks.append("fipo_gsm8k")
        _write_jsonl(folder / "gsm8k_train.jsonl", gsm8k_shots())
        files = {"test": str(folder / "gsm8k.jsonl"), "train": str(folder / "gsm8k_train.jsonl")}
        task = {
            "task": "fipo_gsm8k",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files},
            "output_type": "generate_until",
            "test_split": "test",
            "fewshot_split": "train",
            "num_fewshot": GSM8K_SHOTS,
            "fewshot_config": {"sampler": "first_n"},
            "doc_to_text": "Question: {{question}}\nAnswer:",
            "doc_to_target": "{{answer}}",
            "generation_kwargs": {
                "until": list(GSM8K_STOPS),
                "do_sample": False,
                "temperature": 0.0,
                "max_gen_toks": max_gen_toks,
            },
            "metric_list": [
                {
                    "metric": "exact_match",
                    "aggregation": "mean",
                    "higher_is_better": True,
                    "ignore_case": True,
                    "ignore_punctuation": False,
                    "regexes_to_ignore": list(_IGNORE),
                }
            ],
            "filter_list": [
                {
                    "name": "strict-match",
                    "filter": [
                        {"function": "regex", "regex_pattern": r"#### (\-?[0-9\.\,]+)"},
                        {"function": "take_first"},
                    ],
                },
                {
                    "name": "flexible-extract",
                    "filter": [
                        {
                            "function": "regex",
                            "group_select": -1,
                            "regex_pattern": r"(-?[$0-9.,]{2,})|(-?[0-9]+)",
                        },
                        {"function": "take_first"},
                    ],
                },
            ],
        }
        (folder / "fipo_gsm8k.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
    return tasks


def run_lmeval(
    folder: Path, model_path: str, tasks: list[str], batch_size: int, timeout: int = 7200
) -> dict[str, Any]:
    """lm-eval's report (``lmeval_runner.py`` in the harness's environment)."""
    if not LMEVAL_PYTHON.exists():
        raise FileNotFoundError(f"{LMEVAL_PYTHON} is missing: run `make lmeval-env` first")
    out = folder / "lmeval.json"
    command = [
        str(LMEVAL_PYTHON),
        str(HERE / "lmeval_runner.py"),
        "--model",
        model_path,
        "--include",
        str(folder),
        "--tasks",
        ",".join(tasks),
        "--batch-size",
        str(batch_size),
        "--out",
        str(out),
    ]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"lm-eval failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


# --- the companion's side -----------------------------------------------------------------


def companion_mc(
    model_path: str,
    benchmark: str,
    docs: list[dict],
    batch_size: int,
    share_prefix: bool,
    shots: list[dict] | None = None,
) -> dict[str, Any]:
    """Per item: context, option scores, acc and acc_norm choices; and the wall time."""
    from fipo_utils.models.loglikelihood import ContinuationScorer, best_options
    from fipo_utils.models.pool import get_model

    loaded = get_model(model_path)
    scorer = ContinuationScorer(loaded.model, loaded.tokenizer, batch_size, share_prefix)
    built = [mc_requests(benchmark, doc, shots) for doc in docs]
    requests = [(context, x) for context, continuations, _ in built for x in continuations]
    start = time.perf_counter()
    scores = iter(scorer.score(requests))
    seconds = time.perf_counter() - start
    items = {}
    for doc, (context, continuations, texts) in zip(docs, built, strict=True):
        row = [next(scores) for _ in continuations]
        acc, acc_norm = best_options(row, texts)
        items[doc["id"]] = {"context": context, "scores": row, "acc": acc, "acc_norm": acc_norm}
    return {"seconds": seconds, "tokens": scorer.tokens_computed, "items": items}


def companion_gsm8k(model_path: str, docs: list[dict], batch_size: int, max_new: int) -> dict:
    from fipo_utils.models.generate import GenerationParams, TransformersGenerator
    from fipo_utils.models.pool import get_model

    loaded = get_model(model_path)
    generator = TransformersGenerator(loaded.model, loaded.tokenizer, batch_size)
    shots = gsm8k_shots()
    contexts = [gsm8k_context(doc, shots) for doc in docs]
    start = time.perf_counter()
    texts = generator.generate(contexts, GenerationParams(max_new_tokens=max_new))
    seconds = time.perf_counter() - start
    items = {}
    for doc, context, text in zip(docs, contexts, texts, strict=True):
        answer = cut_at_stops(text)
        extracted = harness_gsm8k_answers(answer)
        items[doc["id"]] = {
            "context": context,
            "text": answer,
            "extracted": extracted,
            "correct": {k: harness_exact_match(v, doc["answer"]) for k, v in extracted.items()},
        }
    return {"seconds": seconds, "items": items}


# --- comparison -------------------------------------------------------------------------


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def compare_mc(benchmark: str, docs: list[dict], ours: dict, theirs: dict) -> dict[str, Any]:
    """Both accuracies (acc, acc_norm), item agreement, disagreements, context identity."""
    gold = {d["id"]: d["label" if benchmark == "piqa" else "answer"] for d in docs}
    samples = {s["id"]: s for s in theirs["samples"]}
    report: dict[str, Any] = {"n_items": len(docs), "metrics": {}}
    identical = 0
    max_diff = 0.0
    for doc in docs:
        sample = samples[doc["id"]]
        mine = ours["items"][doc["id"]]
        identical += all(arg[0] == mine["context"] for arg in sample["arguments"])
        their_scores = [resp[0][0] for resp in sample["resps"]]
        mine["harness_scores"] = their_scores
        pairs = zip(their_scores, mine["scores"], strict=True)
        max_diff = max(max_diff, *(abs(a - b) for a, b in pairs))
    for metric in ("acc", "acc_norm"):
        agree, ours_right, theirs_right, disagreements = 0, 0, 0, []
        for doc in docs:
            mine = ours["items"][doc["id"]]
            their_right = bool(samples[doc["id"]]["metrics"].get(metric))
            scores = mine["harness_scores"]
            if metric == "acc":
                their_choice = max(range(len(scores)), key=lambda i: (scores[i], -i))
            else:
                texts = mc_requests(benchmark, doc)[2]
                normed = [s / len(t) for s, t in zip(scores, texts, strict=True)]
                their_choice = max(range(len(normed)), key=lambda i: (normed[i], -i))
            our_right = mine[metric] == gold[doc["id"]]
            if (their_choice == gold[doc["id"]]) != their_right:
                raise AssertionError(f"{doc['id']}: harness {metric} disagrees with its scores")
            ours_right += our_right
            theirs_right += their_right
            if mine[metric] == their_choice:
                agree += 1
            else:
                disagreements.append(
                    {
                        "id": doc["id"],
                        "gold": gold[doc["id"]],
                        "companion": mine[metric],
                        "harness": their_choice,
                        "companion_scores": mine["scores"],
                        "harness_scores": scores,
                    }
                )
        n = len(docs)
        report["metrics"][metric] = {
            "companion_accuracy": ours_right / n,
            "harness_accuracy": theirs_right / n,
            "harness_reported": theirs["results"].get(f"{metric},none"),
            "companion_ci95": wilson(ours_right, n),
            "harness_ci95": wilson(theirs_right, n),
            "difference_points": 100 * (ours_right - theirs_right) / n,
            "item_agreement": agree / n,
            "disagreements": disagreements,
        }
    report["contexts_identical"] = identical
    report["max_abs_logprob_difference"] = max_diff
    return report


def compare_gsm8k(docs: list[dict], ours: dict, theirs: dict) -> dict[str, Any]:
    samples: dict[str, dict[str, dict]] = {}
    for sample in theirs["samples"]:
        samples.setdefault(sample["id"], {})[sample["filter"]] = sample
    report: dict[str, Any] = {"n_items": len(docs), "filters": {}}
    report["contexts_identical"] = sum(
        next(iter(samples[d["id"]].values()))["arguments"][0][0]
        == ours["items"][d["id"]]["context"]
        for d in docs
    )
    report["texts_identical"] = sum(
        next(iter(samples[d["id"]].values()))["resps"][0][0] == ours["items"][d["id"]]["text"]
        for d in docs
    )
    for name in ("strict-match", "flexible-extract"):
        agree, ours_right, theirs_right, disagreements = 0, 0, 0, []
        for doc in docs:
            sample, mine = samples[doc["id"]][name], ours["items"][doc["id"]]
            their_answer = sample["filtered_resps"][0]
            their_right = bool(sample["metrics"].get("exact_match"))
            our_right = mine["correct"][name]
            ours_right += our_right
            theirs_right += their_right
            if mine["extracted"][name] == their_answer and our_right == their_right:
                agree += 1
            else:
                disagreements.append(
                    {
                        "id": doc["id"],
                        "companion": mine["extracted"][name],
                        "harness": their_answer,
                        "companion_text": mine["text"],
                        "harness_text": sample["resps"][0][0],
                    }
                )
        n = len(docs)
        report["filters"][name] = {
            "companion_accuracy": ours_right / n,
            "harness_accuracy": theirs_right / n,
            "companion_ci95": wilson(ours_right, n),
            "harness_ci95": wilson(theirs_right, n),
            "item_agreement": agree / n,
            "disagreements": disagreements,
        }
    return report


def agreement(
    model: str,
    counts: dict[str, int],
    folder: Path,
    *,
    seed: int = 2024,
    batch_size: int = 8,
    max_gen_toks: int = 128,
    unshared: bool = True,
    fewshot: bool = False,
) -> dict[str, Any]:
    """Run both sides and compare; ``unshared`` adds the companion without prefix sharing,
    ``fewshot`` the paper's PiQA and MMLU examples (module docstring)."""
    from fipo_utils.models.loading import resolve_model_path

    model_path = resolve_model_path(model)
    docs = export_docs(
        counts.get("piqa", 0), counts.get("mmlu", 0), counts.get("gsm8k", 0), seed, fewshot
    )
    tasks = write_tasks(folder, docs, max_gen_toks, fewshot)
    shots = {"piqa": piqa_shots() if fewshot else None, "mmlu": None}
    harness = run_lmeval(folder, model_path, tasks, batch_size)
    report: dict[str, Any] = {
        "model": model,
        "seed": seed,
        "batch_size": batch_size,
        "fewshot": MC_SHOTS if fewshot else None,
    }
    report["lmeval_load_seconds"] = harness["load_seconds"]
    for name, rows in docs.items():
        theirs = harness["tasks"][f"fipo_{name}"]
        if name == "gsm8k":
            ours = companion_gsm8k(model_path, rows, batch_size, max_gen_toks)
            entry = compare_gsm8k(rows, ours, theirs)
        else:
            ours = companion_mc(model_path, name, rows, batch_size, True, shots[name])
            entry = compare_mc(name, rows, ours, theirs)
            if unshared:
                plain = companion_mc(model_path, name, rows, batch_size, False, shots[name])
                entry["companion_unshared_items_per_s"] = len(rows) / plain["seconds"]
                entry["tokens_shared_vs_unshared"] = [ours["tokens"], plain["tokens"]]
        entry["companion_seconds"] = ours["seconds"]
        entry["harness_seconds"] = theirs["seconds"]
        entry["companion_items_per_s"] = len(rows) / ours["seconds"]
        entry["harness_items_per_s"] = len(rows) / theirs["seconds"]
        report[name] = entry
    return report


def to_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# lm-evaluation-harness agreement: {report['model']}",
        "",
        "Multiple choice "
        + (
            f"few-shot ({', '.join(f'{k} {v}' for k, v in report['fewshot'].items())} examples)"
            if report.get("fewshot")
            else "zero-shot (the harness's default task formats)"
        )
        + "; GSM8K 5-shot.",
        "",
        f"Machine: {report.get('machine', {})}",
        "",
        "| benchmark | metric | n | companion | harness | diff (pt) | item agreement | "
        "items/s companion | items/s harness |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("piqa", "mmlu", "gsm8k"):
        entry = report.get(name)
        if not entry:
            continue
        metrics = entry.get("metrics") or entry.get("filters")
        for metric, m in metrics.items():
            diff = 100 * (m["companion_accuracy"] - m["harness_accuracy"])
            lines.append(
                f"| {name} | {metric} | {entry['n_items']} | {m['companion_accuracy']:.3f} | "
                f"{m['harness_accuracy']:.3f} | {diff:+.1f} | {m['item_agreement']:.3f} | "
                f"{entry['companion_items_per_s']:.2f} | {entry['harness_items_per_s']:.2f} |"
            )
    lines.append("")
    for name in ("piqa", "mmlu", "gsm8k"):
        entry = report.get(name)
        if not entry:
            continue
        lines.append(f"## {name}")
        lines.append(f"- contexts identical: {entry['contexts_identical']}/{entry['n_items']}")
        for key in ("max_abs_logprob_difference", "texts_identical", "tokens_shared_vs_unshared"):
            if key in entry:
                lines.append(f"- {key}: {entry[key]}")
        if "companion_unshared_items_per_s" in entry:
            lines.append(
                f"- items/s without prefix sharing: {entry['companion_unshared_items_per_s']:.2f}"
            )
        metrics = entry.get("metrics") or entry.get("filters")
        for metric, m in metrics.items():
            for row in m["disagreements"]:
                lines.append(f"- disagrees ({metric}): {json.dumps(row)}")
        lines.append("")
    return "\n".join(lines)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    from run import machine_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--piqa", type=int, default=200)
    parser.add_argument("--mmlu", type=int, default=200)
    parser.add_argument("--gsm8k", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-gen-toks", type=int, default=128)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--fewshot", action="store_true", help="PiQA 3 and MMLU 5 examples, as the paper"
    )
    parser.add_argument(
        "--no-unshared",
        action="store_true",
        help="skip the companion's run without prefix sharing (5-shot MMLU: ~4x the harness)",
    )
    args = parser.parse_args()
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    counts = {"piqa": args.piqa, "mmlu": args.mmlu, "gsm8k": args.gsm8k}
    # the exported items are reference data: they stay in a temporary folder, never in git
    with tempfile.TemporaryDirectory(prefix="fipo-lmeval-") as work:
        report = agreement(
            args.model,
            counts,
            Path(work),
            seed=args.seed,
            batch_size=args.batch_size,
            max_gen_toks=args.max_gen_toks,
            fewshot=args.fewshot,
            unshared=not args.no_unshared,
        )
    report["machine"] = machine_description()
    name = f"{stamp}-fewshot" if args.fewshot else stamp
    out = HERE / "results" / "lmeval" / name  # not beside the suite's own reports
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    out.with_suffix(".md").write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))


if __name__ == "__main__":
    main()
