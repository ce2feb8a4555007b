"""Reading a profile's YAML strictly: what PyYAML accepts silently or chokes on is refused
with one line naming the file and the line.

* a key given twice in one mapping (PyYAML keeps the last and drops the first silently);
* a key that is not a string (``1: x``, ``[a]: x``): profile keys are names;
* aliases that expand past :data:`MAX_NODES` nodes (a "billion laughs" bomb, which hangs
  whatever walks the result) or refer to a mapping from inside itself (a cycle, which
  overflows every recursive walk), and nesting deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fipo_utils.runs.errors import SettingsError

MAX_NODES = 100_000  # the shipped profiles expand to about a thousand
MAX_DEPTH = 50


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate and non-string keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise SettingsError(
                    f"{key_node.start_mark.name}, line {line}: key {key!r} is not a name "
                    "(profile keys are strings)"
                )
            if key in seen:
                raise SettingsError(
                    f"{key_node.start_mark.name}, line {line}: key {key!r} is given twice "
                    f"(first on line {seen[key]}); keep one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_size(node: yaml.Node, path: Path) -> None:
    """Walk the node graph as the loaded value would be walked, aliases expanded; stop at a
    cycle, past :data:`MAX_NODES` nodes or deeper than :data:`MAX_DEPTH`."""
    count = 0
    stack: list[tuple[yaml.Node, tuple[int, ...]]] = [(node, ())]
    while stack:
        current, ancestors = stack.pop()
        count += 1
        line = current.start_mark.line + 1
        if count > MAX_NODES:
            raise SettingsError(
                f"{path}: its aliases expand past {MAX_NODES} values; write the values out"
            )
        if id(current) in ancestors:
            raise SettingsError(f"{path}, line {line}: an alias refers to a value from inside it")
        if len(ancestors) > MAX_DEPTH:
            raise SettingsError(f"{path}, line {line}: nested deeper than {MAX_DEPTH} levels")
        inner = (*ancestors, id(current))
        if isinstance(current, yaml.MappingNode):
            stack.extend((child, inner) for pair in current.value for child in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((child, inner) for child in current.value)


def read_profile_yaml(path: Path) -> Any:
    """The value of the YAML file ``path``, read strictly (see the module docstring)."""
    with path.open(encoding="utf-8") as handle:
        loader = _StrictLoader(handle)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_size(node, path)
            return loader.construct_document(node)
        except RecursionError:
            raise SettingsError(f"{path}: nested too deeply to read") from None
        finally:
            loader.dispose()
