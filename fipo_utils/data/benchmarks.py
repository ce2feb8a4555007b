"""Benchmark loaders: GSM8K, BBH, PiQA, CosmosQA and MMLU in one item schema.

Every item separates what FIPO's optimizer may rewrite (``instruction``, the final task
instruction) from what stays fixed (``few_shot_context`` and ``options``), so optimized and
naive prompts differ only where the paper lets them. Few-shot counts follow the paper
(GSM8K 3, BBH 3, PiQA 3, CosmosQA 5, MMLU 5).

Sources, in order: a local folder in the layout of the reference data (``benchmarks/``
under ``FIPO_DATA_DIR``, see ``../shared/data/README.md``), then the usual hub datasets.
A benchmark that neither provides raises ``BenchmarkMissing``: it is reported as missing,
never replaced by made-up items.
"""

from __future__ import annotations

import csv
import functools
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fipo_utils.runs.io import iter_jsonl, read_json
from fipo_utils.runs.paths import reference_path

# The paper every published number of this project comes from (tables and captions cite it).
PAPER = "FIPO, arXiv 2402.11811 v4"

FAMILIES = ("gsm8k", "bbh", "piqa", "cosmosqa", "mmlu")
# How tables and figures name each family.
BENCHMARK_LABELS = {
    "gsm8k": "GSM8K",
    "bbh": "BBH",
    "piqa": "PiQA",
    "cosmosqa": "CosmosQA",
    "mmlu": "MMLU",
}
SHOTS = {"gsm8k": 3, "bbh": 3, "piqa": 3, "cosmosqa": 5, "mmlu": 5}
LETTERS = "ABCDEFGHIJ"
BBH_TASKS = [
    "boolean_expressions",
    "causal_judgement",
    "date_understanding",
    "disambiguation_qa",
    "dyck_languages",
    "formal_fallacies",
    "geometric_shapes",
    "hyperbaton",
    "logical_deduction_five_objects",
    "logical_deduction_seven_objects",
    "logical_deduction_three_objects",
    "movie_recommendation",
    "multistep_arithmetic_two",
    "navigate",
    "object_counting",
    "penguins_in_a_table",
    "reasoning_about_colored_objects",
    "ruin_names",
    "salient_translation_error_detection",
    "snarks",
    "sports_understanding",
    "temporal_sequences",
    "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects",
    "web_of_lies",
    "word_sorting",
]
# Test-set sizes used for the paper's "weighted average" (its evaluation setup): GSM8K test, all
# 27 BBH task files, PiQA validation, CosmosQA validation (its test labels are hidden), MMLU
# test. Recomputing Table 2's weighted averages with these sizes lands within 0.05 points of
# the printed ones (the paper's exact sizes are not stated); tests check that bound.
PAPER_TEST_SIZES = {"gsm8k": 1319, "bbh": 6511, "piqa": 1838, "cosmosqa": 2985, "mmlu": 14042}
# The benchmark name of the paper's weighted average (benchmarks weighted by PAPER_TEST_SIZES)
# in every summary, table and figure: notebook 06's summary, notebook 07's tables, the
# published tables.
WEIGHTED_AVERAGE = "wavg_paper_sizes"


# Accuracy (%) of a tester that answers at random: one of PiQA's 2 options, one of CosmosQA's
# or MMLU's 4; GSM8K's answers are free numbers. BBH has none: its tasks range from 2 options
# to free-form answers, so a pooled BBH cell has no single chance level.
CHANCE_ACCURACY = {"gsm8k": 0.0, "piqa": 50.0, "cosmosqa": 25.0, "mmlu": 25.0}


def chance_accuracy(benchmarks: Iterable[str]) -> float | None:
    """Chance accuracy (%) of ``benchmarks`` weighted as the paper's average weights them
    (one benchmark: its own level); ``None`` when any of them has no chance level (BBH)."""
    names = [b.split("/")[0] for b in benchmarks]
    if not names or any(b not in CHANCE_ACCURACY for b in names):
        return None
    return weighted_average({b: CHANCE_ACCURACY[b] for b in names}, PAPER_TEST_SIZES)


def weighted_average(values: Mapping[str, float], sizes: Mapping[str, float]) -> float:
    """Average of ``values`` weighted by ``sizes`` over the benchmarks present in both.

    Missing benchmarks (absent, ``None`` or NaN) are left out rather than counted as zero, so
    a run that evaluated three benchmarks gets the weighted average of those three.
    """
    keys = [k for k in values if k in sizes and values[k] is not None and values[k] == values[k]]
    if not keys:
        return float("nan")
    total = sum(sizes[k] for k in keys)
    return sum(values[k] * sizes[k] for k in keys) / total


MMLU_HEADER = "The following are multiple choice questions (with answers) about {subject}."
PIQA_HEADER = "Choose the more appropriate solution to reach each goal."
COSMOSQA_HEADER = "Read each passage and choose the best answer to its question."


class BenchmarkMissing(LookupError):
    """Neither a local copy nor the hub could provide a benchmark; the message says why."""


@dataclass(frozen=True)
class BenchmarkItem:
    id: str
    benchmark: str  # gsm8k, bbh/<task>, piqa, cosmosqa, mmlu
    few_shot_context: str
    instruction: str  # the final task instruction: the only part FIPO rewrites
    options: list[str] = field(default_factory=list)
    gold: str = ""  # GSM8K full solution, BBH target, MC letter
    kind: str = "generation"  # "generation" | "multiple_choice"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LoadedBenchmark:
    name: str
    items: list[BenchmarkItem]
    full_size: int  # size of the whole test pool: the weight of the paper's weighted average
    source: str


def benchmark_family(name: str) -> str:
    """The paper's benchmark a name belongs to (``bbh/navigate`` -> ``bbh``): the unit of
    Table 2's columns, of few-shot counts and of answer checking."""
    return name.split("/", 1)[0]


def render_prompt(item: BenchmarkItem, instruction: str | None = None) -> str:
    """The tester's input (before chat wrapping): context, instruction, options, cue."""
    text = item.instruction if instruction is None else instruction
    family = benchmark_family(item.benchmark)
    if family == "gsm8k":
        return f"{item.few_shot_context}\n\nQ: {text}\nA:"
    if family == "bbh":
        return f"{item.few_shot_context}\n\nQ: {text}\nA: Let's think step by step."
    return f"{item.few_shot_context}\n\n{text}\n{format_options(item.options)}\nAnswer:"


# BBH writes a task's answer options into its input, after this line: "(A) text" lines for
# most tasks, "- text" lines for causal_judgement, formal_fallacies and navigate.
OPTIONS_HEADER = "\nOptions:\n"


def split_options(item: BenchmarkItem) -> tuple[str, str]:
    """(question, options block) of an item's instruction.

    The block is the BBH input's tail from its ``Options:`` line on, byte for byte, so that
    ``question + block == item.instruction``; it is ``""`` for a BBH task without options
    and for every other benchmark (multiple-choice options live in ``item.options``, outside
    the instruction, and ``render_prompt`` attaches them).
    """
    if benchmark_family(item.benchmark) != "bbh":
        return item.instruction, ""
    at = item.instruction.rfind(OPTIONS_HEADER)
    if at < 0:
        return item.instruction, ""
    return item.instruction[:at], item.instruction[at:]


def bbh_chance_accuracy(items: Sequence[BenchmarkItem]) -> float:
    """Accuracy (%) of answering BBH items at random: per item 1/k of its k listed options
    (the ``Options:`` block: ``(A)`` or ``-`` lines), 0 for a free-form answer (object
    counts, sorted words, arithmetic), averaged over ``items``; NaN for no items."""
    levels = []
    for item in items:
        _, block = split_options(item)
        k = sum(1 for line in block.splitlines() if line.strip().startswith(("(", "- ")))
        levels.append(100.0 / k if k else 0.0)
    return sum(levels) / len(levels) if levels else float("nan")


def bbh_tasks_chance(tasks: Iterable[str]) -> float | None:
    """Mean over BBH ``tasks`` (names without ``bbh/``) of each task's chance accuracy over
    all its items (Table 8 averages accuracy over tasks); ``None`` when a task's data is
    missing here."""
    levels = []
    for task in tasks:
        try:
            levels.append(bbh_chance_accuracy(load_benchmark(f"bbh/{task}").items))
        except BenchmarkMissing:
            return None
    return sum(levels) / len(levels) if levels else None


def format_options(options: Sequence[str]) -> str:
    return "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))


def expand_names(names: Iterable[str]) -> list[str]:
    """``bbh`` means all 27 tasks; ``bbh/<task>`` one; other names pass through checked."""
    expanded: list[str] = []
    for name in names:
        family = benchmark_family(name)
        if family not in FAMILIES:
            raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(FAMILIES)}")
        if name == "bbh":
            expanded.extend(f"bbh/{task}" for task in BBH_TASKS)
        elif family == "bbh" and name.split("/", 1)[1] not in BBH_TASKS:
            raise ValueError(f"unknown BBH task in {name!r}; known: {', '.join(BBH_TASKS)}")
        elif family != "bbh" and name != family:  # the name becomes a file name
            raise ValueError(f"unknown benchmark {name!r}: {family} has no tasks")
        else:
            expanded.append(name)
    return expanded


def select(items: list[BenchmarkItem], n_items: int | None, seed: int | None) -> list:
    """The first ``n_items`` (``seed`` None) or a seeded sample kept in dataset order."""
    if n_items is None or n_items >= len(items):
        return items
    if seed is None:
        return items[:n_items]
    chosen = sorted(random.Random(seed).sample(range(len(items)), n_items))
    return [items[i] for i in chosen]


def load_benchmark(
    name: str,
    n_items: int | None = None,
    *,
    seed: int | None = None,
    data_dir: str | Path | None = None,
    allow_hub: bool = True,
) -> LoadedBenchmark:
    """Load one benchmark (``gsm8k``, ``bbh/<task>``, ``piqa``, ``cosmosqa``, ``mmlu``)."""
    if expand_names([name]) != [name]:
        raise ValueError(f"{name!r} names several benchmarks: load them with load_benchmarks")
    family = benchmark_family(name)
    root = Path(data_dir) if data_dir else reference_path("benchmarks")
    local_reason = "no local benchmark folder (set FIPO_DATA_DIR)"
    if root is not None:
        try:
            pool, shots = _local_pool(family, str(root), name)
            return _finish(name, pool, shots, n_items, seed, f"local:{root}")
        except FileNotFoundError as error:
            local_reason = f"local copy absent ({error})"
    if not allow_hub:
        raise BenchmarkMissing(f"{name}: {local_reason}; hub loading disabled")
    try:
        pool, shots = _HUB[family](name)
    except Exception as error:  # noqa: BLE001 - offline, gated or renamed datasets alike
        raise BenchmarkMissing(
            f"{name}: {local_reason}; hub: {type(error).__name__}: {error}"
        ) from error
    return _finish(name, pool, shots, n_items, seed, "hub")


def items_for(name: str, n_items: int | None | Mapping[str, int | None]) -> int | None:
    """A benchmark's item count: ``n_items`` itself, or from a mapping by benchmark name, then
    by family (``bbh`` covers ``bbh/<task>``), then ``default`` (missing: the full set).
    A mapping lets a study give costly generation benchmarks fewer items."""
    if not isinstance(n_items, Mapping):
        return n_items
    for key in (name, benchmark_family(name), "default"):
        if key in n_items:
            return n_items[key]
    return None


def load_benchmarks(
    names: Iterable[str], n_items: int | None | Mapping[str, int | None] = None, **kwargs: Any
) -> tuple[dict[str, LoadedBenchmark], dict[str, str]]:
    """Load several; returns (loaded by name, reason by missing name). ``n_items`` is one
    count for all or a mapping (:func:`items_for`)."""
    loaded: dict[str, LoadedBenchmark] = {}
    missing: dict[str, str] = {}
    for name in expand_names(names):
        try:
            loaded[name] = load_benchmark(name, items_for(name, n_items), **kwargs)
        except BenchmarkMissing as error:
            missing[name] = str(error)
    return loaded, missing


def _finish(name, pool, context, n_items, seed, source) -> LoadedBenchmark:
    """``context`` is one string, or one per MMLU subject (a dict keyed by subject)."""
    items = [
        _make_item(name, context[r["subject"]] if isinstance(context, dict) else context, r)
        for r in pool
    ]
    return LoadedBenchmark(name, select(items, n_items, seed), len(items), source)


def _make_item(name: str, context: str, record: dict[str, Any]) -> BenchmarkItem:
    kind = "multiple_choice" if record.get("options") else "generation"
    return BenchmarkItem(
        id=record["id"],
        benchmark=name,
        few_shot_context=context,
        instruction=record["instruction"],
        options=list(record.get("options") or []),
        gold=str(record["gold"]),
        kind=kind,
    )


# --- record builders shared by local and hub sources ------------------------------------
# Each checks the gold and options against its benchmark's rules and raises ``ValueError``
# naming the field; :func:`_build_records` adds the file and line. A wrong gold would not fail
# anything later: it would be scored (never matched) or shown in every few-shot context.

# GSM8K's answers end in ``#### <number>`` (digits, commas, a sign, a decimal point)
GSM8K_FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")
_CHOICE = r"\([A-R]\)"
# The form of each BBH task's targets (every other task: a choice letter, "(A)" .. "(R)").
BBH_TARGET_FORMS = {
    "boolean_expressions": r"True|False",
    "causal_judgement": r"Yes|No",
    "navigate": r"Yes|No",
    "web_of_lies": r"Yes|No",
    "sports_understanding": r"yes|no",
    "formal_fallacies": r"valid|invalid",
    "multistep_arithmetic_two": r"-?\d+",
    "object_counting": r"\d+",
    "dyck_languages": r"[\])}>]( [\])}>])*",
    "word_sorting": r"\S+( \S+)*",
}
# Targets of the published BBH files that are not of their task's form (the dataset's own
# quirks, kept as they are so scores stay comparable with other BBH results).
BBH_KNOWN_ODD_TARGETS = {
    "movie_recommendation": {"Monsters, Inc"},
    "ruin_names": {"dearth, wind, & fire", "rita, sue and bob poo"},
}


def _text(row: dict, name: str) -> str:
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"field {name!r}: expected text, got {value!r}")
    return value


def _label(row: dict, name: str, n_options: int) -> str:
    """The letter of an option index ``row[name]`` (``0`` .. ``n_options - 1``)."""
    value = row[name]
    index = int(value)  # a label that is not a number: "invalid literal ..."
    if str(value).strip() != str(index) or not 0 <= index < n_options:
        raise ValueError(f"field {name!r}: expected 0 to {n_options - 1}, got {value!r}")
    return LETTERS[index]


def _gsm8k_answer(row: dict) -> str:
    answer = _text(row, "answer")
    if not GSM8K_FINAL.search(answer):
        tail = answer.strip().splitlines()[-1][-60:]
        raise ValueError(f"field 'answer': expected it to end in '#### <number>', got {tail!r}")
    return answer


def _gsm8k_record(row: dict, index: int) -> dict:
    question = _text(row, "question")
    return {"id": f"gsm8k-{index}", "instruction": question, "gold": _gsm8k_answer(row)}


def _bbh_builder(task: str) -> Callable[[dict, int], dict]:
    form = re.compile(BBH_TARGET_FORMS.get(task, _CHOICE))
    odd = BBH_KNOWN_ODD_TARGETS.get(task, set())

    def build(row: dict, index: int) -> dict:
        target = row["target"]
        if not isinstance(target, str) or not (form.fullmatch(target) or target in odd):
            raise ValueError(
                f"field 'target': expected the form {form.pattern!r} of {task}, got {target!r}"
            )
        return {"id": f"bbh/{task}-{index}", "instruction": _text(row, "input"), "gold": target}

    return build


def _gsm8k_shot(row: dict) -> str:
    """A training solution as a worked example ending in the strict answer template."""
    reasoning, _, answer = row["answer"].rpartition("####")
    reasoning = re.sub(r"<<[^>]*>>", "", reasoning).strip()
    return f"Q: {row['question']}\nA: {reasoning}\nThe answer is {answer.strip()}."


def _gsm8k_context(train_rows: Sequence[dict]) -> str:
    return "\n\n".join(_gsm8k_shot(row) for row in train_rows[: SHOTS["gsm8k"]])


def _mc_shot(instruction: str, options: Sequence[str], answer: int) -> str:
    return f"{instruction}\n{format_options(options)}\nAnswer: {LETTERS[answer]}"


def _piqa_record(row: dict, index: int) -> dict:
    return {
        "id": f"piqa-{index}",
        "instruction": f"Goal: {_text(row, 'goal')}",
        "options": [_text(row, "sol1"), _text(row, "sol2")],
        "gold": _label(row, "label", 2),
    }


def _cosmosqa_record(row: dict, index: int) -> dict:
    context, question = _text(row, "context").strip(), _text(row, "question").strip()
    return {
        "id": f"cosmosqa-{row.get('id') or index}",
        "instruction": f"{context}\nQuestion: {question}",
        "options": [_text(row, f"answer{i}") for i in range(4)],
        "gold": _label(row, "label", 4),
    }


def _mmlu_record(row: dict, index: int, subject: str) -> dict:
    choices = row["choices"]
    if not isinstance(choices, list | tuple) or not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"field 'choices': expected 2 to {len(LETTERS)} options, got {choices!r}")
    options = [_text({"choices": c}, "choices") for c in choices]
    return {
        "id": f"mmlu/{subject}-{index}",
        "instruction": _text(row, "question").strip(),
        "options": options,
        "gold": _label(row, "answer", len(options)),
    }


def _shots_then_pool(records: list[dict], n_shots: int, header: str):
    """Benchmarks without a train split here (PiQA, CosmosQA validation): the first
    ``n_shots`` rows become the examples and are removed from the test pool."""
    shots = [_mc_shot(r["instruction"], r["options"], LETTERS.index(r["gold"])) for r in records]
    context = "\n\n".join([header, *shots[:n_shots]])
    return records[n_shots:], context


def _bbh_context(prompt_text: str) -> str:
    """The CoT prompt file without its canary header (everything after the ``-----`` line)."""
    _, sep, body = prompt_text.partition("-----\n")
    return (body if sep else prompt_text).strip()


# --- local files (the layout of ../shared/data/benchmarks) ------------------------------


@functools.lru_cache(maxsize=64)
def _local_pool(family: str, root: str, name: str):
    """Parsed once per process: notebooks and tests load the same benchmark repeatedly."""
    return _LOCAL[family](Path(root), name)


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(str(path))
    return path


def _check_fields(path: Path, rows: Sequence[dict], fields: Sequence[str]) -> None:
    for number, row in enumerate(rows, 1):
        for name in fields:
            if name not in row:
                raise ValueError(f"{path}, record {number}: field {name!r} is missing")


def _build_records(
    path: Path | str,
    rows: Sequence[dict],
    build: Callable[[dict, int], dict],
    lines: Sequence[int] | None = None,
    unit: str = "line",
) -> list[dict]:
    """``build`` each row; a value it cannot read or that breaks the benchmark's rules (a
    label out of range, a GSM8K answer without ``#### <number>``, ...) is an error naming the
    file, the line (``lines[i]``: the line row ``i`` ends on; default i + 1) or the ``unit``
    (``record``, ``example``) and the field. No rows at all is an error too: an empty file
    would otherwise be a benchmark of 0 items, scored as if it ran."""
    if not rows:
        raise ValueError(f"{path}: no records (the file is empty)")
    records = []
    for index, row in enumerate(rows):
        try:
            records.append(build(row, index))
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as error:
            detail = f"field {error.args[0]!r} is missing" if isinstance(error, KeyError) else error
            line = lines[index] if lines else index + 1
            raise ValueError(f"{path}, {unit} {line}: {detail}") from error
    return records


def _read_json(path: Path) -> Any:
    return read_json(_require(path))


def _numbered_jsonl(path: Path) -> tuple[list[dict], list[int]]:
    """The records of a JSONL file and the line each is on (blank lines skipped)."""
    numbered = list(iter_jsonl(_require(path)))
    return [record for _, record in numbered], [number for number, _ in numbered]


def _local_gsm8k(root: Path, name: str):
    test_path, train_path = root / "gsm8k" / "test.jsonl", root / "gsm8k" / "train.jsonl"
    (test, test_lines), (train, train_lines) = (
        _numbered_jsonl(test_path),
        _numbered_jsonl(train_path),
    )
    shots = train[: SHOTS["gsm8k"]]
    _build_records(train_path, shots, _gsm8k_record, train_lines)  # checked as the test rows
    return _build_records(test_path, test, _gsm8k_record, test_lines), _gsm8k_context(shots)


def _local_bbh(root: Path, name: str):
    task = name.split("/", 1)[1]
    data_path = _require(root / "bbh" / "bbh" / f"{task}.json")
    prompt_path = _require(root / "bbh" / "cot-prompts" / f"{task}.txt")
    data = _read_json(data_path)
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise ValueError(f"{data_path}: expected an object with an 'examples' list")
    _check_fields(data_path, examples, ["input", "target"])
    pool = _build_records(data_path, examples, _bbh_builder(task), unit="example")
    return pool, _bbh_context(prompt_path.read_text(encoding="utf-8"))


def _load_from_disk(path: Path):
    import datasets

    return datasets.load_from_disk(str(_require(path)))


def _local_piqa(root: Path, name: str):
    folder = root / "piqa" / "validation"
    records = _build_records(folder, list(_load_from_disk(folder)), _piqa_record, unit="record")
    return _shots_then_pool(records, SHOTS["piqa"], PIQA_HEADER)


def _local_cosmosqa(root: Path, name: str):
    path = _require(root / "cosmosqa" / "valid.csv")
    rows, lines = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    _check_fields(path, rows, ["context", "question", "answer0", "answer3", "label"])
    records = _build_records(path, rows, _cosmosqa_record, lines)
    return _shots_then_pool(records, SHOTS["cosmosqa"], COSMOSQA_HEADER)


def _mmlu_items(subjects: Iterable[tuple[str, Any, Any]]):
    """MMLU: 5 dev shots per subject, so each subject has its own context."""
    pool: list[dict] = []
    contexts: dict[str, str] = {}
    for subject, dev, test in subjects:
        shots = _build_records(
            f"mmlu {subject} dev",
            list(dev)[: SHOTS["mmlu"]],
            functools.partial(_mmlu_record, subject=subject),
            unit="record",
        )
        header = MMLU_HEADER.format(subject=subject.replace("_", " "))
        examples = [
            _mc_shot(r["instruction"], r["options"], LETTERS.index(r["gold"])) for r in shots
        ]
        contexts[subject] = "\n\n".join([header, *examples])
        records = _build_records(
            f"mmlu {subject} test",
            list(test),
            functools.partial(_mmlu_record, subject=subject),
            unit="record",
        )
        pool.extend({**record, "subject": subject} for record in records)
    return pool, contexts


def _local_mmlu(root: Path, name: str):
    folder = _require(root / "mmlu")
    subjects = sorted(p.name for p in folder.iterdir() if (p / "test").is_dir())
    if not subjects:
        raise FileNotFoundError(f"{folder}/<subject>/test")
    return _mmlu_items(
        (s, _load_from_disk(folder / s / "dev"), _load_from_disk(folder / s / "test"))
        for s in subjects
    )


# --- hub datasets (real code; needs a network or a populated hub cache) ----------------


def _hub_gsm8k(name: str):
    import datasets

    data = datasets.load_dataset("openai/gsm8k", "main")
    test = _build_records("openai/gsm8k test", list(data["test"]), _gsm8k_record, unit="record")
    return test, _gsm8k_context(list(data["train"].select(range(SHOTS["gsm8k"]))))


def _hub_bbh(name: str):
    import datasets

    task = name.split("/", 1)[1]
    prompt = reference_path("benchmarks", "bbh", "cot-prompts", f"{task}.txt")
    if prompt is None:
        raise FileNotFoundError(f"the 3-shot CoT prompt of {task} (cot-prompts/{task}.txt)")
    rows = list(datasets.load_dataset("lukaemon/bbh", task, split="test"))
    pool = _build_records(f"lukaemon/bbh {task}", rows, _bbh_builder(task), unit="record")
    return pool, _bbh_context(prompt.read_text(encoding="utf-8"))


def _hub_piqa(name: str):
    import datasets

    rows = list(datasets.load_dataset("ybisk/piqa", split="validation"))
    records = _build_records("ybisk/piqa validation", rows, _piqa_record, unit="record")
    return _shots_then_pool(records, SHOTS["piqa"], PIQA_HEADER)


def _hub_cosmosqa(name: str):
    import datasets

    rows = list(datasets.load_dataset("allenai/cosmos_qa", split="validation"))
    records = _build_records("allenai/cosmos_qa validation", rows, _cosmosqa_record, unit="record")
    return _shots_then_pool(records, SHOTS["cosmosqa"], COSMOSQA_HEADER)


def _hub_mmlu(name: str):
    import datasets

    data = datasets.load_dataset("cais/mmlu", "all")
    by_subject: dict[str, tuple[list, list]] = {}
    for split, target in (("dev", 0), ("test", 1)):
        for row in data[split]:
            by_subject.setdefault(row["subject"], ([], []))[target].append(row)
    return _mmlu_items((s, dev, test) for s, (dev, test) in sorted(by_subject.items()))


_LOCAL = {
    "gsm8k": _local_gsm8k,
    "bbh": _local_bbh,
    "piqa": _local_piqa,
    "cosmosqa": _local_cosmosqa,
    "mmlu": _local_mmlu,
}
_HUB = {
    "gsm8k": _hub_gsm8k,
    "bbh": _hub_bbh,
    "piqa": _hub_piqa,
    "cosmosqa": _hub_cosmosqa,
    "mmlu": _hub_mmlu,
}


# --- training splits (never tested on) -------------------------------------------------

TRAIN_SPLITS = {"gsm8k": "train.jsonl after its few-shot rows", "mmlu": "validation"}


def load_train_split(name: str, *, data_dir: str | Path | None = None) -> LoadedBenchmark:
    """The items of a benchmark's own training split, rendered exactly like its test items.

    GSM8K: ``train.jsonl`` after the rows the few-shot context uses; MMLU: each subject's
    ``validation`` split with its dev shots. No test item of any notebook comes from these.
    Benchmarks without such a split (PiQA, CosmosQA, BBH) raise ``BenchmarkMissing``:
    their training items come from the test pool minus what the notebooks test
    (:mod:`fipo_utils.feedback.items`).
    """
    family = benchmark_family(name)
    if family not in TRAIN_SPLITS:
        raise BenchmarkMissing(f"{name}: no training split here (only {', '.join(TRAIN_SPLITS)})")
    root = Path(data_dir) if data_dir else reference_path("benchmarks")
    if root is None:
        raise BenchmarkMissing(f"{name}: no local benchmark folder (set FIPO_DATA_DIR)")
    if family == "gsm8k":
        path = root / "gsm8k" / "train.jsonl"
        rows, lines = _numbered_jsonl(path)
        built = _build_records(path, rows, _gsm8k_record, lines)
        records = [{**r, "id": f"gsm8k-train-{i}"} for i, r in enumerate(built)]
        shots = SHOTS["gsm8k"]
        return _finish(
            name, records[shots:], _gsm8k_context(rows[:shots]), None, None, f"local:{path}"
        )
    folder = _require(root / "mmlu")
    subjects = sorted(p.name for p in folder.iterdir() if (p / "validation").is_dir())
    pool, contexts = _mmlu_items(
        (s, _load_from_disk(folder / s / "dev"), _load_from_disk(folder / s / "validation"))
        for s in subjects
    )
    pool = [
        {**r, "id": r["id"].replace(f"mmlu/{r['subject']}-", f"mmlu/{r['subject']}-val-")}
        for r in pool
    ]
    return _finish(name, pool, contexts, None, None, f"local:{folder} (validation)")
