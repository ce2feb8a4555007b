"""Bad inputs that used to pass silently or print a traceback: names that become paths
(item 1), benchmark gold and options (item 2), whole-profile checks (item 5), token
budgets past the model's window (item 7). Every case exits non-zero with one line naming
the file, record, field or parameter, and writes nothing: no run folder, nothing outside."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from fipo_utils.cli import main
from fipo_utils.data.benchmarks import load_benchmark
from fipo_utils.runs.errors import SettingsError, user_message
from fipo_utils.runs.names import inside_run
from fipo_utils.runs.profiles import load_profile, profile_reference

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
# profile file name -> (text, what the message must name)
PROFILES = {
    "typo": (
        "inherits: tiny\ntraim:\n  lora: true\n",
        "unknown section 'traim'; did you mean 'train'?",
    ),
    "twice": (
        "inherits: tiny\ninfer:\n  n_items: 2\n  n_items: 3\n",
        "line 4: key 'n_items' is given twice (first on line 3)",
    ),
    "bomb": (
        f"inherits: tiny\nsizing:\n  {BOMB.replace(chr(10), chr(10) + '  ')}\n",
        "expand past 100000 values",
    ),
    "cycle": (
        "inherits: tiny\nsizing: &s\n  self: *s\n",
        "an alias refers to a value from inside it",
    ),
    "intkey": ("inherits: tiny\ninfer:\n  1: x\n", "key 1 is not a name"),
    "deep": (
        "inherits: tiny\nsizing:\n  x: " + "[" * 60 + "]" * 60 + "\n",
        "nested deeper than 50",
    ),
    "listsection": ("inherits: tiny\nsft: [1, 2]\n", "section 'sft' must be a mapping"),
    "lorar": (
        "inherits: tiny\ntrain:\n  lora_settings: {r: eight}\n",
        "train.lora_settings.r: expected an integer",
    ),
    "bigseed": ("inherits: tiny\nseed: 4294967296\n", "seed: must be 4294967295 or less"),
    "negseed": (
        "inherits: tiny\ninfer:\n  sample_seed: -1\n",
        "infer.sample_seed: must be 0 or more",
    ),
    "float": (
        "inherits: tiny\ninfer:\n  n_items: 2.0\n",
        "infer.n_items: expected an integer, got 2.0",
    ),
    "perbench": (
        "inherits: tiny\ninfer:\n  n_items: {gsm8k: two}\n",
        "infer.n_items.gsm8k: expected an integer",
    ),
    "testers": (
        "inherits: tiny\nmodels:\n  testers: tiny-random\n",
        "models.testers: expected a list",
    ),
    "chainlist": (
        "inherits: tiny\nchain:\n  - notebook: 00_tour\n    parameters: [1]\n",
        "chain entry 0: parameters: expected a mapping",
    ),
    "chainrun": (
        "inherits: tiny\nchain:\n  - notebook: 00_tour\n    parameters: {run_dir: /tmp/x}\n",
        "'run_dir' is set by the runner",
    ),
    "chainprofile": (
        "inherits: tiny\nchain:\n  - notebook: 00_tour\n    parameters: {profile: paper}\n",
        "'profile' is set by the runner",
    ),
    "badbench": (
        "inherits: tiny\ninfer:\n  benchmarks: [../../x]\n",
        "infer.benchmarks: item 0: '../../x' is not a benchmark name",
    ),
    "badopt": (
        "inherits: tiny\ninfer:\n  optimizer: ../x/..\n",
        "infer.optimizer: its last part '..' is not a safe name",
    ),
}

# (command line; {tmp}: a scratch folder, {p}: the profiles folder; what the message names)
CASES = [
    (
        "run 02_sft_training --profile tiny -p name ../../x",
        "parameter: name: '../../x' is not a safe name",
    ),
    (
        "run 02_sft_training --profile tiny -p name /abs/path",
        "parameter: name: '/abs/path' is not a safe name",
    ),
    ("run 03_preference_training --profile tiny -p name .hidden", "name: '.hidden'"),
    ("run 05_batch_inference --profile tiny -p optimizer /", "parameter: optimizer: its last part"),
    (
        "run 05_batch_inference --profile tiny -p optimizer ..",
        "parameter: optimizer: its last part '..'",
    ),
    (
        "run 05_batch_inference --profile tiny -p benchmarks [gsm8k/../../x]",
        "benchmarks: item 0: 'gsm8k/../../x' is not a benchmark",
    ),
    (
        "run 06_evaluation --profile tiny -p testers tiny-random",
        "parameter: testers: expected a list",
    ),
    ("run 06_evaluation --profile tiny -p optimizers [../up]", "optimizers: item 0: '../up'"),
    (
        "run 05_batch_inference --profile tiny -p n_items 2.5",
        "n_items: expected an integer, got 2.5",
    ),
    (
        "train --run-dir {tmp}/run --strategy sft --profile tiny --name ../../escape",
        "name: '../../escape' is not a safe name",
    ),
    (
        "train --run-dir {tmp}/run --strategy ipl-ipo --profile tiny --name /abs",
        "name: '/abs' is not a safe name",
    ),
    *[
        (f"reproduce --profile {{p}}/{name}.yaml", expected)
        for name, (_, expected) in PROFILES.items()
    ],
    *[
        (f"optimize hi --profile {{p}}/{name}.yaml", expected)
        for name, (_, expected) in PROFILES.items()
        if not name.startswith("chain")
    ],
]


@pytest.fixture
def places(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for name, (text, _) in PROFILES.items():
        (profiles / f"{name}.yaml").write_text(text)
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    runs_root = tmp_path / "runs"
    monkeypatch.setenv("FIPO_RUNS_DIR", str(runs_root))
    return {"tmp": tmp_path, "p": profiles, "runs": runs_root}


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(line, expected, places, capsys):
    before = _tree(places["tmp"])
    argv = shlex.split(line.format(tmp=places["tmp"], p=places["p"]))
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code not in (0, None)
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith(f"fipo {argv[0]}: error: ")
    assert expected.format(tmp=places["tmp"]) in message, err
    assert _tree(places["tmp"]) == before, "nothing written, no run folder made"


def test_writers_refuse_a_path_that_leaves_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "checkpoints" / "link").symlink_to(outside)
    assert inside_run(run, "checkpoints", "sft-lora") == run.resolve() / "checkpoints" / "sft-lora"
    with pytest.raises(SettingsError, match="name: .*link leaves the run folder"):
        inside_run(run, "checkpoints", "link")
    for name in ("..", "a/b", "/etc", "", ".lock"):
        with pytest.raises(SettingsError, match="optimizer: .* is not a safe name"):
            inside_run(run, "optimized", name, parameter="optimizer")


def test_a_relative_profile_path_is_resolved_against_the_callers_folder(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text("inherits: tiny\ninfer:\n  n_items: 2\n")
    monkeypatch.chdir(tmp_path)
    reference = profile_reference("mine.yaml")
    assert reference == str(tmp_path / "mine.yaml")
    assert load_profile(reference)["infer"]["n_items"] == 2
    assert profile_reference("tiny") == "tiny"


def test_shipped_profiles_pass_the_whole_check() -> None:
    from fipo_utils.runs.profiles import available_profiles

    for name in available_profiles():
        assert load_profile(name)["name"] == name


# --- benchmark gold and options -------------------------------------------------------

GSM8K_OK = {"question": "How many?", "answer": "Two and two.\n#### 4"}
COSMOS_HEADER = "id,context,question,answer0,answer1,answer2,answer3,label\n"


def _gsm8k(root: Path, test_rows: list[dict]) -> None:
    folder = root / "gsm8k"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(GSM8K_OK) + "\n" for _ in range(3)))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test_rows))


def _bbh(root: Path, task: str, targets: list[str]) -> None:
    (root / "bbh" / "bbh").mkdir(parents=True)
    (root / "bbh" / "cot-prompts").mkdir()
    (root / "bbh" / "cot-prompts" / f"{task}.txt").write_text("canary\n-----\nQ: a\nA: b")
    examples = [{"input": f"q{i}", "target": t} for i, t in enumerate(targets)]
    (root / "bbh" / "bbh" / f"{task}.json").write_text(json.dumps({"examples": examples}))


def _cosmosqa(root: Path, labels: list[str]) -> None:
    (root / "cosmosqa").mkdir()
    rows = [f"c{i},ctx {i},q{i}?,a,b,c,d,{label}\n" for i, label in enumerate(labels)]
    (root / "cosmosqa" / "valid.csv").write_text(COSMOS_HEADER + "".join(rows))


def _piqa(root: Path, labels: list[int]) -> None:
    import datasets

    rows = [{"goal": f"g{i}", "sol1": "a", "sol2": "b", "label": x} for i, x in enumerate(labels)]
    datasets.Dataset.from_list(rows).save_to_disk(str(root / "piqa" / "validation"))


def _mmlu(root: Path, answers: list[int]) -> None:
    import datasets

    rows = [
        {"question": f"q{i}", "choices": ["w", "x", "y", "z"], "answer": a}
        for i, a in enumerate(answers)
    ]
    for split in ("dev", "test"):
        datasets.Dataset.from_list(rows).save_to_disk(str(root / "mmlu" / "anatomy" / split))


# (benchmark, how to write the bad copy, what the message names)
GOLD = [
    (
        "gsm8k",
        lambda r: _gsm8k(r, [GSM8K_OK, {"question": "q", "answer": "no final line"}]),
        "test.jsonl, line 2: field 'answer': expected it to end in '#### <number>'",
    ),
    (
        "gsm8k",
        lambda r: _gsm8k(r, [GSM8K_OK, GSM8K_OK, {"question": "q", "answer": "x\n#### four"}]),
        "test.jsonl, line 3: field 'answer'",
    ),
    (
        "gsm8k",
        lambda r: _gsm8k(r, [{"question": " ", "answer": "#### 1"}]),
        "test.jsonl, line 1: field 'question': expected text",
    ),
    ("gsm8k", lambda r: _gsm8k(r, []), "test.jsonl: no records (the file is empty)"),
    (
        "bbh/navigate",
        lambda r: _bbh(r, "navigate", ["Yes", "No", "(A)"]),
        "navigate.json, example 3: field 'target': expected the form 'Yes|No' of navigate, "
        "got '(A)'",
    ),
    (
        "bbh/date_understanding",
        lambda r: _bbh(r, "date_understanding", ["(A)", "Yes"]),
        "example 2: field 'target'",
    ),
    (
        "bbh/object_counting",
        lambda r: _bbh(r, "object_counting", ["3", "three"]),
        "example 2: field 'target'",
    ),
    ("bbh/navigate", lambda r: _bbh(r, "navigate", []), "navigate.json: no records"),
    (
        "cosmosqa",
        lambda r: _cosmosqa(r, ["0", "1", "2", "3", "0", "7"]),
        "valid.csv, line 7: field 'label': expected 0 to 3, got '7'",
    ),
    (
        "cosmosqa",
        lambda r: _cosmosqa(r, ["0", "1", "-1"]),
        "valid.csv, line 4: field 'label': expected 0 to 3",
    ),
    ("cosmosqa", lambda r: _cosmosqa(r, []), "valid.csv: no records"),
    (
        "piqa",
        lambda r: _piqa(r, [0, 1, 0, 2]),
        "validation, record 4: field 'label': expected 0 to 1, got 2",
    ),
    (
        "mmlu",
        lambda r: _mmlu(r, [0, 1, 2, 3, 0, 4]),
        "mmlu anatomy test, record 6: field 'answer': expected 0 to 3, got 4",
    ),
]


@pytest.mark.parametrize(
    ("name", "write", "expected"), GOLD, ids=[f"{g[0]}-{g[2][:40]}" for g in GOLD]
)
def test_a_wrong_gold_or_option_stops_the_loader_naming_file_line_and_field(
    name, write, expected, tmp_path
):
    write(tmp_path)
    with pytest.raises(ValueError) as raised:
        load_benchmark(name, data_dir=tmp_path, allow_hub=False)
    message = user_message(raised.value)
    assert message is not None and "\n" not in message
    assert expected in message


def test_the_real_benchmarks_pass_the_checks() -> None:
    """The published files keep their own quirks (two BBH tasks hold a few targets that are
    not choice letters); everything else is of its benchmark's form."""
    from fipo_utils.runs.paths import reference_path

    root = reference_path("benchmarks")
    if root is None:
        pytest.skip("needs ../shared/data")
    for name in ("gsm8k", "cosmosqa", "bbh/ruin_names", "bbh/dyck_languages", "bbh/word_sorting"):
        assert load_benchmark(name, data_dir=root, allow_hub=False).items


# --- token budgets --------------------------------------------------------------------


@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_a_budget_past_the_window_is_capped_with_one_line(batching, capsys) -> None:
    import torch

    from fipo_utils.models.generate import GenerationParams, TransformersGenerator
    from fipo_utils.models.generate_continuous import ContinuousGenerator
    from fipo_utils.models.loading import load_model
    from fipo_utils.models.window import capped_new_tokens

    assert capped_new_tokens(10, 100, 20) == 10
    assert capped_new_tokens(10**11, 100, 20, log=None) == 80
    assert capped_new_tokens(10**11, None, 20) == 10**11  # a config without a window
    loaded = load_model("tiny-random")
    loaded.model.config.max_position_embeddings = 48  # a small window keeps the test quick
    kind = TransformersGenerator if batching == "static" else ContinuousGenerator
    generator = kind(loaded.model, loaded.tokenizer, batch_size=2)
    torch.manual_seed(0)
    texts = generator.generate(["hello", "the answer is"], GenerationParams(max_new_tokens=10**11))
    texts += generator.generate(["again"], GenerationParams(max_new_tokens=10**11))
    out = capsys.readouterr().out
    assert len(texts) == 3
    assert out.count("max_new_tokens 100000000000 is past the model's window of 48 tokens") == 1
