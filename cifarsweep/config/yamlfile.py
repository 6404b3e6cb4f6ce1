"""Safe YAML reading that remembers where each key was written.

Validation errors then point at ``file:line`` as well as the key path, which is
what people need when a 60-line spec is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cifarsweep.errors import UserError

KeyPath = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` as a float (YAML 1.1 wants ``1.0e-4``) and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Checked before merge keys (<<) are flattened: a merged value may be overridden, a key
        # written twice is a mistake that last-wins would hide.
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in first_line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first_line[key]})", key_node.start_mark
                )
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


# Spec and config files are a few kilobytes; these bounds refuse hostile ones at once
# (an alias bomb of a few hundred bytes expands to billions of nodes when walked).
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000


def _refuse_deep_nesting(text: str) -> None:
    """Count nesting on the event stream (not recursive), before the recursive composer runs."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes the document has once every alias is expanded (aliases share nodes, so memoise)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(key, memo) + _expanded_size(value, memo) for key, value in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, memo) for item in node.value)
    memo[id(node)] = size
    return size


def _compose(text: str) -> yaml.Node | None:
    _refuse_deep_nesting(text)
    node = yaml.compose(text, Loader=_Loader)
    if node is not None and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
        raise yaml.YAMLError(f"aliases expand to more than {MAX_EXPANDED_NODES} values (an alias bomb?)")
    return node


def _construct(node: yaml.Node | None) -> Any:
    if node is None:
        return None
    return _Loader("").construct_document(node)


def load_yaml_text(text: str) -> Any:
    """Parse YAML text with the safe loader (no Python objects can be built), within the bounds above."""
    return _construct(_compose(text))


@dataclass
class YamlDocument:
    """A parsed YAML mapping plus the line (1-based) of every key path in it."""

    data: dict[str, Any]
    path: Path | None = None
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, key_path: KeyPath) -> str:
        """``file:line`` of the deepest known prefix of ``key_path`` ('' if unknown)."""
        if self.path is None:
            return ""
        for end in range(len(key_path), 0, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict[KeyPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines)


def read_yaml(path: str | Path) -> YamlDocument:
    """Read a YAML mapping with the safe loader; a bad file is a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    text = _read_text(path)
    try:
        node = _compose(text)
        data = _construct(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(data=data, path=path, lines=lines)


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise UserError(f"{path}: {size} bytes; a spec or config file may have at most {MAX_FILE_BYTES}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b=value`` into (['a', 'b'], value), the value read as YAML (so 1e-4, null, true work)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"--set {text!r}: expected KEY=VALUE")
    try:
        value = load_yaml_text(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value
