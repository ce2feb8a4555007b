"""Errors a user can fix, and how the command line shows them.

A :class:`FipoError` (and the project's ``ValueError`` subclasses for bad records) carries a
message that names the file, record, field or parameter and says what to do: the ``fipo``
command prints it as one line instead of a traceback. :func:`user_message` also recognises
the library errors a user causes (a missing or unreadable file, invalid YAML or JSON, an
offline hub id), so a bug in the code still shows its traceback while a typo does not.
"""

from __future__ import annotations

import json


class FipoError(Exception):
    """A problem with the user's inputs or environment; the message says where and what to do."""


class SettingsError(FipoError, ValueError):
    """A parameter or profile value that fails the schema (name, type or range)."""


class StaleResultError(FipoError):
    """Outputs exist that were made with other settings; using them would be silently stale."""


class RunFolderLocked(FipoError):
    """Another live process is writing into the same run folder."""


class RunFolderGone(FipoError):
    """The run folder was deleted while a step was writing into it."""


class DiskFull(FipoError, OSError):
    """No space left while writing a file; the message names the file (an ``OSError``, so
    code that tolerates a failed write tolerates this one too)."""


def _yaml_message(error: BaseException) -> str | None:
    """``file, line N: problem`` for a YAML parse error, else ``None``."""
    import yaml

    if not isinstance(error, yaml.YAMLError):
        return None
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: invalid YAML ({problem})"


def _os_message(error: OSError) -> str:
    filename = getattr(error, "filename", None)
    if filename and error.strerror:
        hint = {
            FileNotFoundError: "check the path",
            PermissionError: "choose a folder you can write to, or fix its permissions",
            IsADirectoryError: "pass a file, not a folder",
            NotADirectoryError: "a part of the path is a file, not a folder",
        }.get(type(error), "check the path")
        return f"{filename}: {error.strerror.lower()}; {hint}"
    return str(error)


def user_message(error: BaseException) -> str | None:
    """One line for an error the user can fix, or ``None`` for a bug (show the traceback).

    Offline hub errors, missing model files and safetensors-only refusals all reach here
    as ``OSError`` or ``ValueError`` subclasses whose messages already name the model.
    """
    if isinstance(error, FipoError):
        text = str(error)
    elif (yaml_text := _yaml_message(error)) is not None:
        text = yaml_text
    elif isinstance(error, json.JSONDecodeError):
        text = f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
    elif isinstance(error, UnicodeDecodeError):
        text = f"a file is not UTF-8 text ({error.reason} at byte {error.start})"
    elif isinstance(error, OSError):
        text = _os_message(error)
    elif isinstance(error, KeyError) and error.args and " " in str(error.args[0]):
        text = str(error.args[0])  # a sentence naming the key; a bare key is a bug's KeyError
    elif isinstance(error, ValueError | ImportError):
        text = str(error)
    else:
        return None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__
