"""One writer per run folder: ``<run>/.lock`` names the process writing into it.

Two ``fipo run`` / ``fipo reproduce`` processes on one folder would interleave manifest
writes and train over each other's checkpoints. The lock is an exclusive ``flock`` on
``.lock`` held for the whole command; the file also holds the holder's pid, host and command
so a refused writer can say who holds it. The kernel drops a ``flock`` when its process
dies, however it dies (``kill -9`` included), so a lock left by a dead process is taken over
by the next writer without any clean-up step.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fipo_utils.runs.errors import RunFolderLocked
from fipo_utils.runs.manifest import utc_now

LOCK_NAME = ".lock"


def lock_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """What ``.lock`` says about its last holder (``None`` if absent or unreadable)."""
    try:
        return json.loads((Path(run_dir) / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextmanager
def run_folder_lock(run_dir: str | Path) -> Iterator[dict[str, Any] | None]:
    """Hold the run folder's lock; yields the previous holder's record if it was taken over
    from a process that is gone (its steps left ``running`` were interrupted), else ``None``.

    Raises :class:`RunFolderLocked` naming the holder when another live process has it.
    """
    path = Path(run_dir) / LOCK_NAME
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until released
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = lock_holder(run_dir) or {}
            raise RunFolderLocked(
                f"{run_dir} is in use by pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')} "
                f"({holder.get('command', '?')}); wait for it to finish or stop it first"
            ) from None
        try:
            same_file = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:  # not a file a releasing holder unlinked under us
            break
        handle.close()
    handle.seek(0)
    previous = lock_holder(run_dir)
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": utc_now(),
        "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200],
    }
    handle.truncate(0)
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    try:
        yield previous if previous and previous.get("pid") != os.getpid() else None
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()
