"""The run-folder I/O layer: torn tails, error messages, history copies, atomic writes."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from fipo_utils.runs.io import (
    current_files,
    cut_torn_tail,
    is_previous_version,
    iter_jsonl,
    jsonl_text,
    read_json,
    read_json_or_none,
    read_jsonl,
    write_atomic,
    write_json_atomic,
)
from fipo_utils.runs.safe_write import write_text_preserving


class OwnError(ValueError):
    pass


def test_a_torn_last_line_is_cut_and_the_complete_records_survive(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}\n{"k": 3, "v": "cut sh')
    assert read_jsonl(path, heal_torn_tail=True) == [{"k": 1}, {"k": 2}]
    assert path.read_text() == '{"k": 1}\n{"k": 2}\n'
    assert cut_torn_tail(path) == 0  # nothing left to cut


def test_a_torn_only_line_leaves_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    path.write_bytes(b'{"k": ' + b"x" * 70_000)  # longer than one read block
    assert cut_torn_tail(path) == 70_006
    assert path.read_bytes() == b""


def test_without_healing_a_torn_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"k": 1}\n\n{"k": 2')
    with pytest.raises(ValueError, match=r"rows\.jsonl, line 3: invalid JSON"):
        read_jsonl(path)
    assert path.read_text().endswith('{"k": 2')  # reading never changes the file


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{oops}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl, line 3: invalid JSON"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl, line 2: expected a JSON object"):
        read_jsonl(path)
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(ValueError, match=r"rows\.jsonl, line 2: invalid UTF-8"):
        read_jsonl(path)


def test_a_missing_required_field_names_the_field_and_the_callers_error(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(jsonl_text([{"id": 1, "text": "x"}, {"id": 2}]))
    with pytest.raises(OwnError, match=r"rows\.jsonl, line 2: field 'text' is missing"):
        read_jsonl(path, ("id", "text"), error=OwnError)
    assert [n for n, _ in iter_jsonl(path, ("id",))] == [1, 2]


def test_skip_bad_lines_keeps_the_good_records(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    path.write_bytes(b'{"k": 1, "v": 1}\n{bad\n[1]\n{"k": 2}\n\xff\n{"k": 3, "v": 3}\n')
    records = read_jsonl(path, ("k", "v"), skip_bad_lines=True)
    assert records == [{"k": 1, "v": 1}, {"k": 3, "v": 3}]


def test_read_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"a": [\n  1,\n  oops\n]}')
    with pytest.raises(OwnError, match=r"data\.json, line 3: invalid JSON"):
        read_json(path, error=OwnError)
    assert read_json_or_none(tmp_path / "absent.json") is None
    write_json_atomic(path, {"a": [1]})
    assert read_json(path) == {"a": [1]}


def test_current_files_leave_out_prev_copies_and_missing_folders(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a.prev-20260101-000000-000000.jsonl", "sub/c.jsonl", "x.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert current_files(tmp_path) == [tmp_path / "b.jsonl", tmp_path / "sub" / "c.jsonl"]
    assert current_files(tmp_path, recursive=False) == [tmp_path / "b.jsonl"]
    assert current_files(tmp_path / "absent") == []
    assert is_previous_version("a.prev-20260101-000000-000000.jsonl")
    assert not is_previous_version("previous.jsonl")


def test_a_replaced_file_is_kept_aside_and_left_out(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rows.jsonl"
    assert write_text_preserving(path, "1\n") == "written"
    assert write_text_preserving(path, "1\n") == "unchanged"
    assert write_text_preserving(path, "2\n") == "replaced"
    assert len(list(path.parent.iterdir())) == 2
    assert current_files(path.parent) == [path] and path.read_text() == "2\n"


def test_write_atomic_replaces_content_and_leaves_no_staging_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "file.txt"
    write_atomic(path, "first")
    path.chmod(0o640)
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]


def test_a_failed_write_keeps_the_old_file_and_no_staging_file(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    write_atomic(path, "old")
    with pytest.raises(TypeError):
        write_atomic(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def _append_records(path: str, worker: int, n: int) -> None:
    import fcntl

    for index in range(n):
        with open(path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            handle.write(json.dumps({"w": worker, "i": index, "pad": "x" * 200}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def test_concurrent_appends_and_heals_lose_no_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    path.write_text('{"w": -1, "i": 0}\n{"torn": ')
    assert read_jsonl(path, heal_torn_tail=True) == [{"w": -1, "i": 0}]  # on opening, as the cache
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_records, args=(str(path), w, 100)) for w in range(2)]
    for writer in writers:
        writer.start()
    heals = 0
    while any(writer.is_alive() for writer in writers):
        cut_torn_tail(path)
        heals += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    records = read_jsonl(path, ("w", "i"), heal_torn_tail=True)
    assert heals > 0
    assert sorted((r["w"], r["i"]) for r in records) == [(-1, 0)] + [
        (w, i) for w in range(2) for i in range(100)
    ]


def test_the_generation_cache_skips_bad_lines_and_heals_its_tail(tmp_path: Path) -> None:
    from fipo_utils.models.cache import GenerationCache

    cache = GenerationCache("model", "backend", root=tmp_path)
    params = {"max_new_tokens": 4}
    path = cache.file_for(params)
    lines = [
        '{"k": "a", "v": 1}',
        "{not json",
        '{"k": "b"}',  # no value
        '{"k": ["unhashable"], "v": 2}',
        "[1, 2]",
        '{"k": "c", "v": 3}',
    ]
    path.write_text("\n".join(lines) + '\n{"k": "d", "v"')
    assert GenerationCache("model", "backend", root=tmp_path).entries(params) == {"a": 1, "c": 3}
    assert path.read_text().endswith('{"k": "c", "v": 3}\n')
    cache.append(params, {"e": 5})
    assert GenerationCache("model", "backend", root=tmp_path).entries(params)["e"] == 5
