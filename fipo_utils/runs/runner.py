"""Execute notebooks headlessly with papermill, one run folder per run, resumable.

``reproduce`` runs a profile's chain of notebooks into a new run folder; ``run_notebook``
runs one. Both hold the run folder's lock (:mod:`fipo_utils.runs.lock`) and record every
step in the run's manifest before and after it runs. Every way a step can end is recorded
with its reason: ``done``; ``failed`` (an exception in a cell, the kernel killed, a missing
notebook, an unwritable output); ``interrupted`` (Ctrl-C, SIGTERM, or - noticed by the next
writer - the runner itself killed). Every ending is also kept in the step's ``attempts``
(:mod:`fipo_utils.runs.history`). ``reproduce(resume=...)`` continues from the first step
not yet done, and re-runs a done step whose inputs changed since (``stale``). A run folder
deleted while a step runs fails the step without anything being written or made again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import FipoError, RunFolderGone, SettingsError, user_message
from fipo_utils.runs.folders import (
    RUN_FOLDER_ENV,
    check_run_folder,
    folder_identity,
    new_run_dir,
)
from fipo_utils.runs.history import add_attempt, inputs_at_end, snapshot, stale_inputs
from fipo_utils.runs.kernel_output import kernel_start_arguments, quiet_kernel_env
from fipo_utils.runs.lock import run_folder_lock
from fipo_utils.runs.manifest import (
    check_profile_unchanged,
    git_revision,
    new_manifest,
    read_manifest,
    utc_now,
    write_manifest,
)
from fipo_utils.runs.paths import NOTEBOOKS_DIR, PROJECT_ROOT
from fipo_utils.runs.profiles import load_profile, profile_reference
from fipo_utils.runs.schema import check_mapping, check_parameter_names

Log = Callable[[str], None]


@dataclass(frozen=True)
class ChainStep:
    """One notebook execution: the notebook and the parameters given on top of the profile."""

    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A file-name-safe label, unique for a notebook and its parameters."""
        name = Path(self.notebook).stem
        extras = "__".join(f"{k}-{_slug(v)}" for k, v in sorted(self.parameters.items()))
        return f"{name}__{extras}" if extras else name

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "notebook": self.notebook, "parameters": dict(self.parameters)}


class StepFailed(FipoError, RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""

    def __init__(self, step_key: str, error: dict[str, Any], output: Path) -> None:
        self.step_key = step_key
        self.error = error
        self.output = output
        source = error.get("source", "").strip().splitlines()
        first_line = source[0] if source else ""
        super().__init__(
            f"notebook {step_key} failed in cell {error.get('cell_index')} "
            f"(In [{error.get('exec_count')}]: {first_line!r}): "
            f"{error.get('ename')}: {error.get('evalue')}\n"
            f"the executed notebook with the traceback is {output}\n"
            f"fix the cause, then: fipo reproduce --resume {output.parent.parent}"
        )


class StepAborted(FipoError, RuntimeError):
    """A notebook ended without a cell error: its kernel died, or it could not run at all."""

    def __init__(self, step_key: str, reason: str, run_dir: Path) -> None:
        self.step_key = step_key
        self.reason = reason
        super().__init__(
            f"notebook {step_key} failed: {reason}; the manifest records it. Fix the cause, "
            f"then: fipo reproduce --resume {run_dir}"
        )


class Terminated(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, turned into an exception so the step is recorded before the
    process ends."""


def _kill_child_processes() -> None:
    """SIGKILL this process's children (the notebook's kernel). Linux-only (``/proc``);
    elsewhere nothing, and the raised exception alone has to stop the step."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # the parent pid
            with contextlib.suppress(OSError):
                os.kill(int(stat.parent.name), signal.SIGKILL)


@contextlib.contextmanager
def _stop_signals_as_exception(received: list[str]) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the step whatever the main thread is doing.

    Python raises Ctrl-C wherever the main thread happens to be, and inside papermill's
    event loop the exception can be swallowed (the step then ran to its end and the runner
    exited 0: seen in CI). So the handler also kills the kernel, which ends the step for
    certain, and notes the signal in ``received`` for the caller to record the step as
    interrupted however the step's call ended."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        reason = "Ctrl-C" if signum == signal.SIGINT else f"terminated by signal {name}"
        if received:  # a second signal while the first is being handled
            return
        received.append(reason)
        _kill_child_processes()
        raise Terminated(reason)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _slug(value: Any) -> str:
    text = str(value)
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)[:40]


def notebook_path(notebook: str) -> Path:
    """A chain entry is a notebook name in ``notebooks/`` (with or without ``.ipynb``) or a path."""
    candidate = Path(notebook)
    if candidate.suffix == ".ipynb" and candidate.is_file():
        return candidate.resolve()
    named = NOTEBOOKS_DIR / f"{candidate.stem}.ipynb"
    if named.is_file():
        return named
    raise FileNotFoundError(
        f"notebook {notebook!r} not found (looked for {candidate} and {named}); "
        f"available: {', '.join(sorted(p.stem for p in NOTEBOOKS_DIR.glob('*.ipynb')))}"
    )


# Parameters the runner gives every step: a chain entry that set them would write into
# another folder (outside the lock and the manifest) or run another profile unchecked.
RESERVED_PARAMETERS = frozenset({"run_dir", "profile"})


def chain_from_profile(profile: str) -> list[ChainStep]:
    """The profile's chain as steps. An entry with ``seeds: [1, 2]`` becomes one step per
    seed with the parameter ``seed`` (a training notebook then trains ``<name>-seed<N>``),
    so each seed is its own resumable step with its own wall time in the manifest."""
    data = load_profile(profile)
    chain = data.get("chain")
    if not chain:
        raise ValueError(f"profile {profile!r} has no `chain` of notebooks to run")
    steps = []
    for index, entry in enumerate(chain):
        where = f"profile {profile!r}, chain entry {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("notebook"), str):
            raise SettingsError(f"{where}: needs a `notebook` key naming a notebook")
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise SettingsError(f"{where}: parameters: expected a mapping, got {parameters!r}")
        reserved = sorted(RESERVED_PARAMETERS & set(parameters))
        if reserved:
            raise SettingsError(
                f"{where}: parameters: {reserved[0]!r} is set by the runner (every step writes "
                "into the run's own folder with the run's profile); remove it"
            )
        unknown = sorted(set(entry) - {"notebook", "parameters", "seeds"})
        if unknown:
            raise SettingsError(
                f"{where}: unknown key {unknown[0]!r} (notebook, parameters, seeds)"
            )
        seeds = entry.get("seeds")
        if seeds is None:
            steps.append(ChainStep(entry["notebook"], dict(parameters)))
            continue
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds)
        ):
            raise SettingsError(
                f"{where}: seeds: expected a list of distinct integers, got {seeds!r}"
            )
        if "seed" in parameters:
            raise SettingsError(f"{where}: give `seeds` or parameters.seed, not both")
        steps.extend(ChainStep(entry["notebook"], {**parameters, "seed": s}) for s in seeds)
    return steps


def check_step_parameters(step: ChainStep) -> None:
    """Names against the notebook's ``parameters`` cell, values against the schema: before
    the step runs, so a typo is an error instead of a parameter papermill adds and the
    notebook never reads."""
    import papermill

    source = notebook_path(step.notebook)
    declared = list(papermill.inspect_notebook(str(source)))
    label = source.stem
    check_parameter_names(list(step.parameters), declared, label)
    check_mapping(step.parameters, f"notebook {label}, parameter", allow_none=True)


def _output_path(run_dir: Path, step: ChainStep) -> Path:
    """Where the executed notebook goes; a repeated step gets a new name, never overwrites."""
    folder = run_dir / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{step.key}.ipynb"
    attempt = 2
    while path.exists():
        path = folder / f"{step.key}.attempt{attempt}.ipynb"
        attempt += 1
    return path


def execute_step(step: ChainStep, run_dir: Path, profile: str, progress: bool) -> Path:
    """Run one notebook with papermill; raise :class:`StepFailed` naming the failing cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebook_path(step.notebook)
    output = _output_path(run_dir, step)
    parameters = {"run_dir": str(run_dir), "profile": profile, **step.parameters}
    try:
        logs = run_dir / "logs"
        logs.mkdir(exist_ok=True)
        with (logs / f"{output.stem}.kernel.log").open("a", encoding="utf-8") as kernel_log:
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters=parameters,
                kernel_name="python3",
                progress_bar=progress,
                cwd=str(PROJECT_ROOT),
                kernel_manager_class=_kernel_manager_logging_to(kernel_log, run_dir),
            )
    except PapermillExecutionError as exc:
        error = {
            "cell_index": exc.cell_index,
            "exec_count": exc.exec_count,
            "source": exc.source,
            "ename": exc.ename,
            "evalue": exc.evalue,
        }
        raise StepFailed(step.key, error, output) from None
    return output


def _kernel_manager_logging_to(handle: Any, run_dir: Path) -> type:
    """A kernel manager whose kernel writes its own stderr (start-up warnings, its noise
    when the runner is interrupted) into ``handle`` (``<run>/logs/<step>.kernel.log``)
    instead of the user's terminal, and knows its run folder (``FIPO_RUN_FOLDER``), so it
    never makes the folder again once it is deleted. Cell outputs still go into the
    notebook, without progress bars; Python warnings go to the same log
    (:mod:`fipo_utils.runs.kernel_output`)."""
    from jupyter_client.manager import AsyncKernelManager

    class KernelLoggingToFile(AsyncKernelManager):
        # jupyter_client's stubs type the async manager's start_kernel as its sync base's
        async def start_kernel(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            kwargs.setdefault("stderr", handle)
            env = quiet_kernel_env(kwargs.get("env") or os.environ, handle.name)
            kwargs["env"] = {**env, RUN_FOLDER_ENV: str(run_dir)}
            kwargs["extra_arguments"] = [
                *(kwargs.get("extra_arguments") or []),
                *kernel_start_arguments(),
            ]
            await super().start_kernel(*args, **kwargs)

    return KernelLoggingToFile


def _silence_kernel_teardown() -> None:
    """After an interrupt the dying kernel's client logs its own death (and asyncio reports
    its abandoned tasks at exit): noise that would bury the one line saying what happened."""
    for name in ("asyncio", "papermill", "traitlets", "nbclient"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def settle_orphaned_steps(manifest: dict, previous_holder: dict | None) -> int:
    """Mark steps still ``running`` as ``interrupted``: called by the lock holder, so the
    process that started them is gone (killed with no chance to record). Returns how many."""
    count = 0
    for record in manifest["steps"]:
        if record.get("status") == "running":
            who = previous_holder or {"pid": record.get("pid"), "host": record.get("host")}
            record.update(
                status="interrupted",
                reason=f"the process running it (pid {who.get('pid')} on {who.get('host')}) "
                "ended without recording an outcome (killed?)",
            )
            add_attempt(record, git_revision(), utc_now())
            count += 1
    return count


def _record_end(
    run_dir: Path, manifest: dict, record: dict, status: str, *, started: float, **fields: Any
) -> None:
    """Record how a step ended, as its latest ending and as one more of its ``attempts``.
    After a failure an unwritable folder must not hide the original error; a finished step
    that cannot be recorded is an error itself."""
    record.update(status=status, wall_time_s=round(time.perf_counter() - started, 2), **fields)
    add_attempt(record, git_revision(), utc_now())
    if status == "done":
        write_manifest(run_dir, manifest)
        return
    with contextlib.suppress(OSError):
        write_manifest(run_dir, manifest)


def _should_skip(run_dir: Path, record: dict, label: str, log: Log) -> bool:
    """A done step is skipped unless what it read changed since (then it is marked stale)."""
    if record["status"] != "done":
        return False
    changed = stale_inputs(run_dir, record)
    if not changed:
        log(f"{label}: already done, skipped")
        return True
    reason = f"its inputs changed since it ran: {', '.join(changed)}"
    record.update(status="stale", reason=reason)
    add_attempt(record, git_revision(), utc_now())
    log(f"{label}: stale ({reason}); running it again")
    return False


def _run_pending(
    run_dir: Path,
    manifest: dict,
    profile: str,
    log: Log,
    progress: bool,
    only: set[int] | None = None,
) -> None:
    """Run every step not yet done or stale (or only the step indices in ``only``), in order.

    The run folder must stay the folder it was: one deleted (or replaced) while a step ran
    fails the step, and nothing is written, so no manifest claims outputs that are gone."""
    from nbclient.exceptions import DeadKernelError

    identity = folder_identity(run_dir)
    steps = manifest["steps"]
    for number, record in enumerate(steps, start=1):
        if only is not None and number - 1 not in only:
            continue
        label = f"[{number}/{len(steps)}] {record['key']}"
        if _should_skip(run_dir, record, label, log):
            continue
        step = ChainStep(record["notebook"], record.get("parameters") or {})
        check_run_folder(run_dir, identity, record["key"])
        record.update(
            status="running",
            started=utc_now(),
            error=None,
            reason=None,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        write_manifest(run_dir, manifest)
        log(f"{label}: running")
        at_start = snapshot(run_dir)
        started = time.perf_counter()
        end = functools.partial(_record_end, run_dir, manifest, record, started=started)
        received: list[str] = []  # the stop signal, if one came during the step
        try:
            with _stop_signals_as_exception(received):
                output = execute_step(step, run_dir, profile, progress)
            if received:  # the stop was swallowed inside papermill; the kernel is gone
                raise Terminated(received[0])
            check_run_folder(run_dir, identity, record["key"])
        except RunFolderGone:
            raise
        except KeyboardInterrupt as stop:
            _silence_kernel_teardown()
            check_run_folder(run_dir, identity, record["key"])
            reason = received[0] if received else str(stop) or "interrupted (Ctrl-C)"
            end("interrupted", reason=reason)
            raise
        except Exception as error:
            check_run_folder(run_dir, identity, record["key"])
            if received:  # whatever the killed kernel raised, the stop signal caused it
                _silence_kernel_teardown()
                end("interrupted", reason=received[0])
                raise Terminated(received[0]) from error
            if isinstance(error, StepFailed):
                failed = error.error
                evalue = " ".join(str(failed.get("evalue")).split())  # one line, as every reason
                reason = f"{failed.get('ename')}: {evalue} (cell {failed.get('cell_index')})"
                output_notebook = str(error.output.relative_to(run_dir))
                end("failed", reason=reason, error=failed, output_notebook=output_notebook)
                raise
            if isinstance(error, DeadKernelError):
                reason = f"the notebook's kernel died (killed, e.g. out of memory): {error}"
                end("failed", reason=reason)
                raise StepAborted(record["key"], reason, run_dir) from error
            end("failed", reason=user_message(error) or f"{type(error).__name__}: {error}")
            raise
        end(
            "done",
            output_notebook=str(output.relative_to(run_dir)),
            inputs=inputs_at_end(run_dir, at_start),
        )
        log(f"{label}: done in {record['wall_time_s']:.1f}s")


def reproduce(
    profile: str | None = None,
    resume: str | Path | None = None,
    runs_root: str | Path | None = None,
    log: Log = print,
    progress: bool | None = None,
    accept_profile_change: bool = False,
) -> Path:
    """Run the profile's notebook chain into a new run folder, or resume an earlier one.

    ``profile`` defaults to ``smoke`` for a new run and to the run's own for a resume (a
    resume always continues with the profile it began with; naming another is reported).
    Returns the run folder. Raises :class:`StepFailed` at the first failing notebook,
    after recording it in the manifest. A resume stops when the run's profile resolves to
    values other than the recorded ones, unless ``accept_profile_change``; it refuses a
    folder another live process is writing into
    (:class:`~fipo_utils.runs.errors.RunFolderLocked`).
    """
    progress = sys.stderr.isatty() if progress is None else progress
    named = None if profile is None else profile_reference(profile)
    profile = named or profile_reference("smoke")
    if resume:
        run_dir = Path(resume).expanduser().resolve()
        read_manifest(run_dir)  # not a run folder: say so before taking any lock
    else:
        steps = chain_from_profile(profile)
        for index, step in enumerate(steps):
            with _naming_chain_entry(profile, index):
                check_step_parameters(step)
        manifest = new_manifest(profile, {}, [dict(s.as_dict(), status="pending") for s in steps])
        run_dir = new_run_dir(label=Path(profile).stem, root=runs_root)
    with run_folder_lock(run_dir) as previous:
        if resume:
            manifest = read_manifest(run_dir)
            _settle(manifest, previous, log)
            if named is not None and manifest["profile"] != named:
                log(f"resuming with the run's own profile {manifest['profile']!r}, not {named!r}")
            profile = manifest["profile"]
            check_profile_unchanged(run_dir, manifest, accept_profile_change)
            if accept_profile_change:
                _adopt_chain(manifest, profile, log)
            manifest.setdefault("resumed", []).append(utc_now())
            manifest.setdefault("resumed_at_revision", []).append(git_revision())
        write_manifest(run_dir, manifest)
        log(f"run folder: {run_dir}")
        _run_pending(run_dir, manifest, profile, log, progress)
    return run_dir


@contextlib.contextmanager
def _naming_chain_entry(profile: str, index: int) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as error:
        raise FileNotFoundError(f"profile {profile!r}, chain entry {index}: {error}") from None
    except SettingsError as error:
        raise SettingsError(f"profile {profile!r}, chain entry {index}: {error}") from None


def _adopt_chain(manifest: dict, profile: str, log: Log) -> None:
    """Bring the run's step list in line with the profile's chain after an accepted change.

    A step the profile added (e.g. a notebook inserted before the analysis) joins as pending
    at its place in the chain; recorded steps keep their status, so done work is not redone.
    A step the profile dropped stays in the record at the end if it ran (its outputs are in
    the folder and the manifest says how they were made); a dropped step that never ran goes.
    """
    if not load_profile(profile).get("chain"):
        return
    chain = chain_from_profile(profile)
    for index, step in enumerate(chain):
        with _naming_chain_entry(profile, index):
            check_step_parameters(step)
    recorded = {record["key"]: record for record in manifest["steps"]}
    keys = {step.key for step in chain}
    steps = [recorded.get(step.key) or dict(step.as_dict(), status="pending") for step in chain]
    dropped = [r for r in manifest["steps"] if r["key"] not in keys and r["status"] != "pending"]
    added = [step.key for step in chain if step.key not in recorded]
    if added:
        log(f"chain: {len(added)} step(s) added by the profile change: {', '.join(added)}")
    manifest["steps"] = steps + dropped


def _settle(manifest: dict, previous: dict | None, log: Log) -> None:
    settled = settle_orphaned_steps(manifest, previous)
    if settled:
        log(f"{settled} step(s) left running by a process that is gone: marked interrupted")


def run_notebook(
    notebook: str,
    parameters: dict[str, Any] | None = None,
    profile: str = "smoke",
    run_dir: str | Path | None = None,
    runs_root: str | Path | None = None,
    log: Log = print,
    progress: bool | None = None,
) -> Path:
    """Run one notebook into ``run_dir`` (a new run folder when not given); return the folder.

    Inside an existing run the step is appended to its manifest; outputs of earlier steps
    stay where they are. Another live writer on the folder is refused.
    """
    progress = sys.stderr.isatty() if progress is None else progress
    profile = profile_reference(profile)
    step = ChainStep(notebook, dict(parameters or {}))
    # fail before creating anything: a missing notebook, a bad parameter, a bad profile
    check_step_parameters(step)
    load_profile(profile)
    if run_dir:
        folder = Path(run_dir).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = new_run_dir(label=step.key, root=runs_root)
    with run_folder_lock(folder) as previous:
        try:
            manifest = read_manifest(folder)
        except FileNotFoundError:
            manifest = new_manifest(profile, {}, [])
        _settle(manifest, previous, log)
        if manifest.get("profile") != profile:
            log(f"note: {folder} was made with profile {manifest.get('profile')!r}")
        manifest["steps"].append(dict(step.as_dict(), status="pending"))
        write_manifest(folder, manifest)
        log(f"run folder: {folder}")
        _run_pending(folder, manifest, profile, log, progress, only={len(manifest["steps"]) - 1})
    return folder
