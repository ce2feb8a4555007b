"""Every ``fipo`` sub-command x bad inputs: a non-zero exit, no traceback, and one message
naming the file, record, field or parameter at fault. Each case stops before any model is
trained or any notebook kernel starts, so the table runs in seconds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fipo_utils.cli import COMMANDS, main

SAMPLE = str(Path(__file__).resolve().parents[1] / "data" / "sample_pop.jsonl")


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """A folder of broken inputs, one file per kind of mistake."""
    root = tmp_path_factory.mktemp("bad")
    (root / "afile").write_text("not a folder")
    (root / "empty_run").mkdir()
    (root / "no_config").mkdir()
    pickled = root / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (root / "loop_a.yaml").write_text("inherits: loop_b\n")
    (root / "loop_b.yaml").write_text("inherits: loop_a\n")
    (root / "broken.yaml").write_text("models: [unclosed\n")
    (root / "three.yaml").write_text('inherits: tiny\nsft:\n  max_steps: "three"\n')
    (root / "negative.yaml").write_text("inherits: tiny\ninfer:\n  temperature: -0.5\n")
    (root / "torn.jsonl").write_text('{"id": "a", "raw_prompt": \n')
    lines = Path(SAMPLE).read_text().splitlines()
    record = json.loads(lines[0])
    (root / "duplicate.jsonl").write_text("\n".join([lines[0], lines[1], lines[0]]) + "\n")
    (root / "empty_chosen.jsonl").write_text(
        json.dumps({**record, "gpt4_optimized_prompt": "  "}) + "\n"
    )
    (root / "bad_template.json").write_text("{not json")
    return root


TRAIN = "train --run-dir {{bad}}/empty_run --strategy sft --profile tiny"
# (command line with {bad} for the fixture folder, text the message must contain)
CASES = [
    ("diversify {bad}/missing.jsonl --out {bad}/o1", "missing.jsonl"),
    ("diversify {bad}/torn.jsonl --out {bad}/o2", "torn.jsonl, line 1"),
    ("diversify {bad}/duplicate.jsonl --out {bad}/o3", "line 3, field 'id': duplicate id"),
    ("diversify {bad}/empty_chosen.jsonl --out {bad}/o4", "field 'gpt4_optimized_prompt'"),
    (f"diversify {SAMPLE} --template {{bad}}/bad_template.json --out {{bad}}/o5", "bad_template"),
    (f"diversify {SAMPLE} --out {{bad}}/afile", "afile already exists"),
    (f"diversify {SAMPLE} --out {{bad}}/afile/sub", "afile"),
    ("optimize '' --profile tiny", "PROMPT is empty"),
    ("optimize '   ' --profile tiny", "PROMPT is empty"),
    ("optimize hi --profile tiny --response ' '", "--response is empty"),
    ("optimize hi --profile tiny --max-new-tokens -3", "max_new_tokens: must be 1 or more"),
    ("optimize hi --profile tiny --temperature -1", "temperature: must be 0 or more"),
    ("optimize hi --profile tiny --model {bad}/no_config", "no_config is not a model folder"),
    ("optimize hi --profile tiny --model {bad}/pickled", "pickled holds only pickle weights"),
    ("optimize hi --profile tiny --model someorg/not-a-model", "'someorg/not-a-model'"),
    ("optimize hi --profile {bad}/missing.yaml", "missing.yaml"),
    ("optimize hi --profile {bad}/broken.yaml", "broken.yaml, line 2"),
    ("optimize hi --profile {bad}/loop_a.yaml", "loop_a.yaml -> loop_b.yaml -> loop_a.yaml"),
    ("optimize hi --profile {bad}/negative.yaml", "infer.temperature: must be 0 or more"),
    ("optimize hi --profile tiny --template {bad}/missing.json", "missing.json"),
    ("run no_such_notebook --profile tiny", "'no_such_notebook' not found"),
    ("run 02_sft_training --profile tiny -p max_stepz 3", "no parameter 'max_stepz'"),
    ("run 02_sft_training --profile tiny -p lora maybe", "lora: expected true or false"),
    ("run 02_sft_training --profile tiny -p max_steps three", "max_steps: expected an integer"),
    ("run 05_batch_inference --profile tiny -p max_new_tokens -5", "max_new_tokens: must be 1"),
    ("run 02_sft_training --profile {bad}/three.yaml", "sft.max_steps: expected an integer"),
    ("run 00_tour --profile tiny --run-dir {bad}/afile/run", "afile/run"),
    ("reproduce --resume {bad}/empty_run", "empty_run is not a run folder"),
    ("reproduce --profile {bad}/loop_b.yaml", "loop_b.yaml -> loop_a.yaml -> loop_b.yaml"),
    ("reproduce --profile {bad}/broken.yaml", "broken.yaml, line 2"),
    (TRAIN.replace("{{", "{").replace("}}", "}"), "data/sft.json"),
    (f"{TRAIN} --set learning_rat=1", "unknown training keys ['learning_rat']"),
    (f"{TRAIN} --max-steps -4", "max_steps: must be -1 or more"),
    ("figures {bad}/missing_run", "missing_run does not exist"),
    ("figures {bad}/empty_run --out {bad}/afile/figs", "--out"),
    ("figures {bad}/empty_run", "eval/results.csv"),
    ("compare {bad}/missing_run {bad}/empty_run", "missing_run does not exist"),
    ("carry pack {bad}/empty_run {bad}/c1", "empty_run is not a run folder (no manifest.json)"),
    ("carry unpack {bad}/empty_run --runs-root {bad}/r", "empty_run is not a carry folder"),
    ("oirl --dataset gsm8k --data-dir {bad}/empty_run --out {bad}/o", "no Prompt-OIRL logs"),
    ("oirl --dataset gsm8k --out {bad}/o --max-test-rows 0", "--max-test-rows: must be 1 or more"),
    ("oirl --dataset gsm8k --out {bad}/o --rounds -1", "--rounds: must be 1 or more"),
    ("doctor --gpu --dry-run --out {bad}/d --only warp", "unknown GPU check step 'warp'"),
]  # fmt: skip


def _argv(line: str, bad: Path) -> list[str]:
    import shlex

    return shlex.split(line.format(bad=bad))


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_is_one_line_naming_what_is_wrong(line, expected, bad, capsys):
    try:
        code = main(_argv(line, bad))
    except SystemExit as exit_:  # argparse rejected a flag's value
        code = exit_.code
    err = capsys.readouterr().err
    assert code not in (0, None)
    assert "Traceback" not in err
    message = err.strip().splitlines()[-1]
    assert expected in message, err
    assert message.startswith(f"fipo {line.split()[0]}") or "error: argument" in message


def test_every_command_has_bad_input_cases():
    assert {line.split()[0] for line, _ in CASES} == set(COMMANDS)


def test_debug_shows_the_traceback(bad):
    with pytest.raises(Exception, match="loop_a.yaml"):
        main(["--debug", "optimize", "hi", "--profile", str(bad / "loop_a.yaml")])
    with pytest.raises(Exception, match="loop_a.yaml"):
        main(["optimize", "hi", "--profile", str(bad / "loop_a.yaml"), "--debug"])


def test_duplicate_pop_ids_are_kept_when_asked(bad, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["diversify", str(bad / "duplicate.jsonl"), "--out", str(out), "--keep-duplicate-ids"]
    assert main(argv) == 0
    assert "kept duplicate ids at lines 3" in capsys.readouterr().err
    assert json.loads((out / "type_mix.json").read_text())["n_records"] == 3


def test_nothing_was_written_where_an_error_stopped(bad):
    assert not (bad / "o1").exists() and not (bad / "o").exists()
    assert sorted(p.name for p in (bad / "empty_run").iterdir()) in ([], ["analysis"])
    shutil.rmtree(bad / "empty_run" / "analysis", ignore_errors=True)


@pytest.mark.parametrize("bug", [RuntimeError("internal"), KeyError("loss"), AttributeError("x")])
def test_a_bug_keeps_its_traceback(bug, monkeypatch):
    """Only errors a user can fix become one line; a programming error still raises."""
    from fipo_utils.commands import compare

    def broken(args):
        raise bug

    monkeypatch.setattr(compare, "run", broken)
    with pytest.raises(type(bug)):
        main(["compare", "a", "b"])
