"""A validity record for every rewrite: is it still the item, and did the optimizer finish it?

A rewrite is scored by a tester whatever it says, so a cell's accuracy mixes prompt
optimization with prompt corruption: a reply cut at the token limit, a BBH question whose
options are gone, a GSM8K problem with other numbers, the template echoed in a loop, the
answer given away (the paper's "cheating notes"), an empty reply replaced by the naive
prompt. :func:`rewrite_validity` checks each of these for one rewrite; notebook 05 stores the
record beside the rewrite (``validity`` of ``optimized/<optimizer>/<benchmark>.jsonl``),
:func:`validity_table` counts them per optimizer (05, 07, the study summary) and evaluation
reads ``valid`` for its second reading of every cell (``docs/evaluation.md``); notebook 07
writes the table to ``analysis/rewrite_validity.md``.

Two further fields describe a rewrite without making it invalid: identical to the naive
prompt (the ``identity`` control is nothing else) and identical to the untrained base's
rewrite (a trained optimizer that did not move). The checks are textual: a flag means the
check found the problem; a valid rewrite can still be a poor one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from fipo_utils.data.answers import numbers_in
from fipo_utils.data.benchmarks import BenchmarkItem, split_options
from fipo_utils.data.template import Template, load_template, template_labels
from fipo_utils.inference.optimize import cheating_note
from fipo_utils.inference.rewrite_table import read_rewrite_table

# The untrained optimizer every trained one is compared with (``same_as_base``).
BASE_OPTIMIZER = "base"
# Each problem that makes a rewrite invalid, by the name tables and ``problems`` use.
PROBLEMS = ("unfinished", "options_lost", "numbers_lost", "label_loop", "answer_leaked", "empty")


class MissingValidity(ValueError):
    """A run's rewrites were written before validity records existed (rerun notebook 05)."""


@dataclass(frozen=True)
class RewriteValidity:
    """The checks of one rewrite. ``valid`` holds when none of :data:`PROBLEMS` was found."""

    finished: bool  # the reply ended before the token limit (a stop string or end of text)
    options_preserved: bool  # the options block of the naive prompt is in the rewrite verbatim
    numbers_preserved: bool  # every number of the naive question is in the rewrite
    numbers_lost: tuple[str, ...] = ()
    numbers_added: tuple[str, ...] = ()  # listed, not a problem by itself ("2 h" -> "120 min")
    label_loop: bool = False  # a label of the template inside the rewrite
    answer_leaked: bool = False  # the gold answer or option text stated (a cheating note)
    empty: bool = False  # nothing was left after cleaning: the naive prompt stood in
    same_as_naive: bool = False
    same_as_base: bool | None = None  # None: the run has no base rewrite of the item

    @property
    def problems(self) -> tuple[str, ...]:
        """The names of the problems found, in :data:`PROBLEMS` order."""
        found = {
            "unfinished": not self.finished,
            "options_lost": not self.options_preserved,
            "numbers_lost": not self.numbers_preserved,
            "label_loop": self.label_loop,
            "answer_leaked": self.answer_leaked,
            "empty": self.empty,
        }
        return tuple(name for name in PROBLEMS if found[name])

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The JSON object stored beside the rewrite, ``valid`` and ``problems`` included."""
        values = asdict(self)
        values["numbers_lost"] = list(self.numbers_lost)
        values["numbers_added"] = list(self.numbers_added)
        return values | {"valid": self.valid, "problems": list(self.problems)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "validity") -> RewriteValidity:
        """The record :meth:`as_dict` wrote; a missing field is a ``ValueError`` naming
        ``where`` (file, line) and the field."""
        known = {f.name for f in fields(cls)}
        required = ("finished", "options_preserved", "numbers_preserved")
        missing = [name for name in required if name not in values]
        if missing:
            raise ValueError(f"{where}: validity field {missing[0]!r} is missing")
        kept = {k: v for k, v in values.items() if k in known}
        for name in ("numbers_lost", "numbers_added"):
            kept[name] = tuple(kept.get(name) or ())
        return cls(**kept)


def _without_block(text: str, block: str) -> str:
    return text.replace(block, "", 1) if block else text


def _numbers(text: str) -> list[str]:
    return list(dict.fromkeys(str(n) for n in numbers_in(text)))


def rewrite_validity(
    item: BenchmarkItem | None,
    naive_prompt: str,
    rewrite: str,
    *,
    fell_back: bool = False,
    n_tokens: int | None = None,
    max_new_tokens: int | None = None,
    base_rewrite: str | None = None,
    template: Template | None = None,
) -> RewriteValidity:
    """The validity of ``rewrite``, an optimizer's rewrite of ``naive_prompt``.

    ``item``: the benchmark item (its gold answer for ``answer_leaked``, its BBH options
    block for ``options_preserved``); ``None`` for a prompt that is no benchmark item (a
    training row), which has neither. ``fell_back``: the reply was empty after cleaning and
    the naive prompt stood in. ``n_tokens`` / ``max_new_tokens``: tokens generated and the
    limit (either ``None``: nothing was generated, so nothing was cut). ``base_rewrite``: the
    untrained base optimizer's rewrite of the same item, when the run has one. ``template``:
    whose labels count as a loop (``None``: the project's template).
    """
    _, block = split_options(item) if item is not None else (naive_prompt, "")
    question = _without_block(naive_prompt, block)
    rewritten = _without_block(rewrite, block)
    before, after = _numbers(question), _numbers(rewritten)
    lost = tuple(n for n in before if n not in after)
    lowered = rewritten.lower()
    labels = template_labels(template or load_template(None))
    return RewriteValidity(
        finished=n_tokens is None or max_new_tokens is None or n_tokens < max_new_tokens,
        options_preserved=not block or block in rewrite,
        numbers_preserved=not lost,
        numbers_lost=lost,
        numbers_added=tuple(n for n in after if n not in before),
        label_loop=any(label.lower() in lowered for label in labels),
        answer_leaked=item is not None and cheating_note(item, rewrite),
        empty=fell_back or not rewrite.strip(),
        same_as_naive=rewrite.strip() == naive_prompt.strip(),
        same_as_base=None if base_rewrite is None else rewrite == base_rewrite,
    )


# --- tables ------------------------------------------------------------------------------

# The columns of a validity table: counts of each problem, then the descriptions.
TABLE_COUNTS = ("invalid", *PROBLEMS, "numbers_added", "same_as_naive", "same_as_base")


def validity_rows(run_dir: str | Path) -> pd.DataFrame:
    """One row per current rewrite of the run: optimizer, benchmark, id and the validity
    fields flattened. ``same_as_base`` is recounted against the run's base rewrites as they
    are now (a base step run after a trained one still counts). A record without validity
    (written before validity records existed) is a :class:`MissingValidity` naming its
    folder."""
    root = Path(run_dir) / "optimized"
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    tables = {folder.name: read_rewrite_table(folder) for folder in folders}
    base = tables.get(BASE_OPTIMIZER)
    base_text = (
        {(r.benchmark, r.id): r.optimized_instruction for r in base.itertuples()}
        if base is not None
        else {}
    )
    rows = []
    for name, table in tables.items():
        for record in table.itertuples():
            if not isinstance(record.validity, Mapping):
                raise MissingValidity(
                    f"{root / name}: rewrite {record.id} ({record.benchmark}) has no validity "
                    "record (written before validity records existed): rerun 05_batch_inference"
                )
            where = f"{root / name}, rewrite {record.id}"
            validity = RewriteValidity.from_dict(record.validity, where)
            key = (record.benchmark, record.id)
            same = validity.same_as_base
            if name == BASE_OPTIMIZER:
                same = None
            elif key in base_text:
                same = record.optimized_instruction == base_text[key]
            problems = set(validity.problems)
            rows.append(
                {
                    "optimizer": record.optimizer,
                    "benchmark": record.benchmark,
                    "id": record.id,
                    "invalid": not validity.valid,
                    **{problem: problem in problems for problem in PROBLEMS},
                    "numbers_added": bool(validity.numbers_added),
                    "same_as_naive": validity.same_as_naive,
                    "same_as_base": same,
                }
            )
    return pd.DataFrame(rows, columns=["optimizer", "benchmark", "id", *TABLE_COUNTS])


def validity_table(rows: pd.DataFrame, by: str = "optimizer") -> pd.DataFrame:
    """Per optimizer (or ``by="benchmark"``, BBH tasks pooled): rewrites, and how many had
    each problem, count and percent; ``same_as_base`` counts among the items the base
    rewrote too (``-`` where there are none, as for the base itself)."""
    frame = rows.assign(benchmark=rows["benchmark"].str.split("/").str[0])
    out = []
    for key, part in frame.groupby(by, sort=False):
        row: dict[str, Any] = {by: key, "n_rewrites": len(part)}
        for column in TABLE_COUNTS:
            values = part[column].dropna()
            if values.empty:
                row[column] = "-"
                continue
            count = int(values.astype(bool).sum())
            row[column] = f"{count} ({100 * count / len(values):.0f}%)"
        row["valid"] = int((~part["invalid"].astype(bool)).sum())
        out.append(row)
    return pd.DataFrame(out, columns=[by, "n_rewrites", "valid", *TABLE_COUNTS])
