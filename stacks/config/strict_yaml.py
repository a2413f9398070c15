"""YAML for files operators write, read so that nothing in them can fool the reader.

PyYAML's safe loader still accepts what hurts in a stack file: a repeated key silently replaces
the first, aliases can expand a few lines into gigabytes (or refer to themselves), deep nesting
overflows the stack, and unquoted values change type (`1.30` is the number 1.3, `010` is 8).
This reader refuses the first three with the key and line, and keeps the text of every number,
so the config model can refuse a number whose text YAML (and Pulumi) would change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor

from stacks.errors import InputError, Problem

MAX_BYTES = 1 << 20   # stack files are a few KiB; anything near this is not one
MAX_DEPTH = 64        # deeper than any config section; bounds the recursive composer


class YamlNumber:
    """Mixin: a number as YAML read it, with the text it was written as."""

    text: str

    def as_written(self) -> bool:
        """Whether the number prints back as written (1.31 does, 1.30 and 010 do not)."""
        return str(self) == self.text


class YamlFloat(YamlNumber, float):
    pass


class YamlInt(YamlNumber, int):
    pass


class _Refused(ComposerError):
    """Valid YAML this reader does not accept."""


class _Loader(yaml.SafeLoader):
    """The safe loader without aliases and with a nesting limit; numbers keep their text."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001 (PyYAML's signature)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(None, None, f"aliases (*{event.anchor}) are not allowed in this file; "
                                            "write the value out", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_float(self, node):  # noqa: ANN001
        number = YamlFloat(SafeConstructor.construct_yaml_float(self, node))
        number.text = node.value
        return number

    def construct_yaml_int(self, node):  # noqa: ANN001
        number = YamlInt(SafeConstructor.construct_yaml_int(self, node))
        number.text = node.value
        return number


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def _key_path(parts: list[str]) -> str:
    """`config / swan:hub / sessions / [0] / name` as the operator reads it: swan:hub.sessions[0].name."""
    parts = parts[1:] if parts[:1] == ["config"] else parts
    text = ""
    for part in parts:
        text += part if part.startswith("[") or not text else "." + part
    return text


def _duplicate_keys(node: yaml.Node, shown: str, parts: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in first_line:
                problems.append(Problem(shown, _key_path([*parts, key]),
                                        f"duplicate key (lines {first_line[key]} and {line}); "
                                        "YAML would silently keep only the last"))
            first_line.setdefault(key, line)
            problems += _duplicate_keys(value_node, shown, [*parts, key])
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, shown, [*parts, f"[{i}]"])
    return problems


def _decode(data: bytes, shown: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(Problem(shown, f"line {line} column {column}",
                                 f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")) from None


def load(path: Path, shown: str) -> Any:
    """The document in `path`; InputError naming `shown` (the path as printed) and the key or line."""
    with open(path, "rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise InputError(Problem(shown, "", f"larger than {MAX_BYTES // 1024} KiB; not a stack config file"))
    loader = _Loader(_decode(data, shown))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if problems := _duplicate_keys(node, shown, []):
            raise InputError(problems)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "yaml"
        reason = getattr(exc, "problem", None) or str(exc)
        raise InputError(Problem(shown, where, reason if isinstance(exc, _Refused) else f"YAML syntax error: {reason}")) from None
    finally:
        loader.dispose()
