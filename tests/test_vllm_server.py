"""The vllm-server backend: its arguments, its fallback, its cache, and no server outliving
the step that started it (Ctrl-C, SIGTERM or SIGKILL of the step).

The tests marked ``vllm`` start a real server from ``.venv-vllm`` (``make test-vllm``; the
step runs in the main environment, as a notebook's kernel does) and are skipped where no
environment has vLLM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import CPU_MEMORY_SHARE, CachedGenerator, make_generator
from fipo_utils.models.vllm_server import (
    ENV_PYTHON,
    VLLMServer,
    log_folder,
    server_arguments,
    vllm_python,
)
from fipo_utils.runs.folders import RUN_FOLDER_ENV
from fipo_utils.runs.machine import cpu_flags
from fipo_utils.runs.paths import PROJECT_ROOT

# On a CPU, gpu_memory_utilization is the share of RAM vLLM reserves; SmolLM2 needs little.
SERVER_OPTIONS = {"max_model_len": 2048, "enforce_eager": True, "gpu_memory_utilization": 0.3}
# more stop strings than OpenAI's limit of 4, as a FIPO rewrite has (one per template label)
STOP = ("\n\n", "Question:", "Answer:", "Original Prompt:", "Improved Prompt:", "###")


def test_server_arguments_carry_the_engine_options_as_flags() -> None:
    args = server_arguments(
        "/models/m",
        8123,
        dtype="float32",
        tensor_parallel_size=8,
        seed=7,
        max_model_len=2048,
        options={"enforce_eager": True, "gpu_memory_utilization": 0.3, "enable_lora": False},
    )

    def value(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert value("--model") == "/models/m" and value("--port") == "8123"
    assert value("--tensor-parallel-size") == "8" and value("--seed") == "7"
    assert value("--max-model-len") == "2048" and value("--dtype") == "float32"
    assert "--enforce-eager" in args and "--enable-lora" not in args
    assert value("--gpu-memory-utilization") == "0.3"
    # the model's generation_config.json must not change what a request asks for
    assert value("--generation-config") == "vllm"


def test_a_step_s_server_logs_into_its_run_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv(RUN_FOLDER_ENV, raising=False)
    assert log_folder() is None  # a script's own server: the system's temporary folder
    monkeypatch.setenv(RUN_FOLDER_ENV, str(tmp_path / "gone"))
    assert log_folder() is None and not (tmp_path / "gone").exists()
    monkeypatch.setenv(RUN_FOLDER_ENV, str(tmp_path))
    assert log_folder() == tmp_path / "logs" and (tmp_path / "logs").is_dir()


def test_vllm_python_reads_its_environment_variable(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_PYTHON, sys.executable)
    assert vllm_python() == Path(sys.executable)
    monkeypatch.setenv(ENV_PYTHON, str(tmp_path / "no-python"))
    with pytest.raises(FileNotFoundError, match=ENV_PYTHON):
        vllm_python()


def test_without_a_vllm_environment_the_step_says_so_and_uses_transformers(
    monkeypatch, capsys, tiny_model_dir: Path
) -> None:
    from fipo_utils.models import vllm_server

    monkeypatch.setattr(vllm_server, "vllm_python", lambda: None)
    generator = make_generator(str(tiny_model_dir), "vllm-server", show_progress=False)
    assert generator.backend == "transformers"
    # one line about vLLM (the weights' progress bar may follow it)
    lines = [line for line in capsys.readouterr().err.splitlines() if "vllm" in line.lower()]
    assert len(lines) == 1 and "no vLLM environment" in lines[0] and "transformers" in lines[0]


def test_with_a_vllm_environment_the_backend_is_built_without_starting_the_server(
    monkeypatch, tiny_model_dir: Path
) -> None:
    """Building the backend starts nothing (a step that only scores never pays the start-up),
    and one cache chunk is at least one request, whether the caller sized chunks or not."""
    from fipo_utils.models import vllm_server

    monkeypatch.setattr(vllm_server, "vllm_python", lambda: Path(sys.executable))
    for chunk_size in (None, 2, 100_000):
        generator = make_generator(
            str(tiny_model_dir), "vllm-server", chunk_size=chunk_size, show_progress=False
        )
        assert isinstance(generator, CachedGenerator) and generator.backend == "vllm-server"
        assert generator.inner.server.process is None
        assert generator.chunk_size == max(chunk_size or 0, generator.inner.request_size)
    # on a CPU the server asks for a share of RAM that leaves room for the step's models
    # (vLLM's own 0.92 fails there); a profile's value wins
    options = generator.inner.server.settings["options"]
    assert options["gpu_memory_utilization"] == CPU_MEMORY_SHARE < 0.5
    chosen = make_generator(
        str(tiny_model_dir),
        "vllm-server",
        backend_options={"gpu_memory_utilization": 0.2},
        show_progress=False,
    )
    assert chosen.inner.server.settings["options"]["gpu_memory_utilization"] == 0.2
    on_gpu = make_generator(str(tiny_model_dir), "vllm-server", device="cuda", show_progress=False)
    assert "gpu_memory_utilization" not in on_gpu.inner.server.settings["options"]


def test_server_backend_scores_in_process_and_shares_the_transformers_cache(
    monkeypatch, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Scoring never starts the server, gives the transformers backend's scores, and the
    cache files entries where the transformers backend finds them."""
    from fipo_utils.models import cache
    from fipo_utils.models.generate_vllm_server import VLLMServerGenerator

    monkeypatch.setattr(cache, "cache_dir", lambda *parts: tmp_path.joinpath(*parts))
    source = str(tiny_model_dir)
    server = VLLMServer(source, Path(sys.executable))
    served = CachedGenerator(VLLMServerGenerator(source, server), "m", show_progress=False)
    prompts = ["Question: is snow white?\nA. yes\nB. no\nAnswer:", "Pick one:\nA. up\nB. down\n"]
    scores = served.option_logprobs(prompts, ["A", "B"])
    plain = make_generator(source, use_cache=False)
    for row, expected in zip(scores, plain.option_logprobs(prompts, ["A", "B"]), strict=True):
        assert row == pytest.approx(expected, abs=1e-5)
    assert server.process is None  # scoring started no server
    # the transformers backend behind the default cache finds every entry
    again = CachedGenerator(plain, "m", show_progress=False)
    assert again.option_logprobs(prompts, ["A", "B"]) == scores
    assert again.stats.hits == len(prompts) and again.stats.misses == 0


_STEP = """
import json, sys
from fipo_utils.models.generate import GenerationParams
from fipo_utils.models.generators import describe_engine, make_generator

prompts, options = json.loads(sys.argv[1]), json.loads(sys.argv[2])
generator = make_generator(
    "smollm2-135m-instruct", "vllm-server", use_cache=False, backend_options=options
)
params = GenerationParams(max_new_tokens=16, stop=tuple(json.loads(sys.argv[3])))
texts = generator.generate(prompts, params)
server = generator.server.process.pid
report = {"texts": texts, "server": server, "engine": describe_engine(generator)}
print(json.dumps(report), flush=True)
while True:  # the step goes on until it is stopped; nothing here closes the generator
    generator.generate(prompts, params)
"""


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _live_members(group: int) -> list[int]:
    """Processes of process group ``group`` that are not zombies (from ``/proc``)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: signal.Signals(s).name
)
def test_the_server_generates_like_transformers_and_never_outlives_its_step(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """A step in the main environment starts the server from ``.venv-vllm``, generates the
    transformers backend's greedy texts (stop strings included) and is then stopped by a
    signal while it generates: no process of the server's group is left afterwards."""
    if vllm_python() is None:
        pytest.skip("no vLLM environment (make vllm-env, or FIPO_VLLM_PYTHON)")
    from fipo_utils.data.template import wrap_prompt

    params = GenerationParams(max_new_tokens=16, stop=STOP)
    hf = make_generator("smollm2-135m-instruct", use_cache=False, batch_size=4)
    prompts = [
        wrap_prompt(text, "chat_template", hf.tokenizer)
        for text in (
            "What is the capital of France?",
            "Write two short paragraphs about the sea.",
            "Natalia sold 48 clips in April and half as many in May. How many in total?",
        )
    ]
    expected = hf.generate(prompts, params)
    del hf
    script = tmp_path / "step.py"
    script.write_text(_STEP)
    run_folder = tmp_path / "run"  # as the runner sets it for a step's kernel
    run_folder.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), *sys.path]),
        RUN_FOLDER_ENV: str(run_folder),
    }
    errors = tmp_path / "step.err"
    with errors.open("w") as err:
        step = subprocess.Popen(
            [
                sys.executable,
                str(script),
                json.dumps(prompts),
                json.dumps(SERVER_OPTIONS),
                json.dumps(STOP),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            text=True,
            # Ctrl-C reaches a step in a terminal's foreground; a shell that started pytest
            # as a background job left SIGINT ignored, which exec would pass on
            preexec_fn=_ctrl_c_as_in_a_terminal,
        )
    try:
        assert step.stdout is not None
        line = step.stdout.readline()
        if not line:
            tail = "\n".join(errors.read_text(errors="replace").splitlines()[-30:])
            pytest.fail(f"the step ended (code {step.wait()}) before it generated:\n{tail}")
        report = json.loads(line)
        group = report["server"]
        assert _live_members(group), "the server was not running while the step generated"
        step.send_signal(stop)
        step.wait(timeout=120)
    finally:
        if step.poll() is None:
            step.kill()
    deadline = time.monotonic() + 60  # SIGKILL: the server's own shutdown on SIGTERM
    while _live_members(group) and time.monotonic() < deadline:
        time.sleep(1)
    assert _live_members(group) == []
    assert step.returncode != 0
    assert report["texts"] == expected
    engine = report["engine"]
    assert engine["engine"] == "vllm-server" and engine["vllm_version"]
    assert engine["server_args"][engine["server_args"].index("--tensor-parallel-size") + 1] == "1"
    assert engine["cpu_flags"] == cpu_flags()
    # the server's log is the run's, not a file in the system's temporary folder
    assert len(list((run_folder / "logs").glob("vllm-server-*.log"))) == 1
