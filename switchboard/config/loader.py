"""Load a YAML config: parse it keeping line numbers, validate it, explain every problem.

Any input, however broken (binary bytes, an empty file, a list at the top level, recursive
aliases), ends in a ``Config`` or in a ``ConfigError`` whose problems each name the file,
the line and what to change; never in a traceback.

This module owns reading: the file into text, the YAML into plain data with the line of
every key and item (``SourceMap``), and the problems of a file that is not YAML. What
pydantic finds wrong with the data is put into words by ``explain.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from switchboard.config.explain import bare_steps, explain, show
from switchboard.config.model import Config

PathKey = tuple[str | int, ...]
"""A place in the file: mapping keys (str) and list indices (int), from the top."""

# A real config has a few thousand values; far more means an alias bomb.
_MAX_VALUES = 200_000
_MAX_DEPTH = 100
_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A plain decimal integer as written (after an optional anchor), up to what ends a scalar.
_WRITTEN_INT = re.compile(r"(?:&\S+\s+)?([-+]?[0-9][0-9_]*)(?=\s*(?:$|#|,|]|}))")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file, at a 1-based line.

    An *error* stops ``run`` and ``simulate`` (the file does not validate, or names
    something that does not exist); a *warning* is a likely mistake that the core copes
    with (an unreachable step, a rule that never matches). ``check`` reports both.
    """

    file: str
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ConfigError(Exception):
    """The file could not be turned into a ``Config``; ``problems`` says why, by line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class SourceMap:
    """Where each key and list item of the file is: path -> 1-based line."""

    filename: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_for(self, path: Sequence[str | int]) -> int:
        """The line of ``path``, or of its nearest ancestor that has one (at least 1)."""
        prefix: PathKey = ()
        line = self.lines.get((), 1)
        for segment in path:
            # Mapping keys are stored as text; a caller may pass an int key (IVR digit).
            for candidate in (segment, str(segment)):
                if (*prefix, candidate) in self.lines:
                    prefix = (*prefix, candidate)
                    line = self.lines[prefix]
                    break
            else:
                break
        return line

    def problem(self, path: Sequence[str | int], message: str,
                severity: Literal["error", "warning"] = "error") -> Problem:
        """A ``Problem`` at the line of ``path``."""
        return Problem(self.filename, self.line_for(path), message, severity)


# --------------------------------------------------------------------------- public API


def load_config(path: Path) -> Config:
    """Load and validate a config file; raises ``ConfigError``."""
    return load_with_sources(path)[0]


def load_with_sources(path: Path) -> tuple[Config, SourceMap]:
    """Load and validate a config file, with the line of everything in it."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        _fail(str(path), 1, f"cannot read the file: {reason}")
    return load_config_text(_decode(raw, str(path)), str(path))


def load_config_text(text: str, filename: str) -> tuple[Config, SourceMap]:
    """Parse and validate YAML ``text``; ``filename`` is used in problems only."""
    sources = SourceMap(filename, {(): 1})
    data = _parse(text, sources)
    if data is None:
        _fail(filename, 1, "the file is empty; a config needs at least 'numbers:' and "
              "'schemes:' (see `switchboard schema`)")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({show(data)})"
        _fail(filename, 1, f"the top level is {kind}; it must be a mapping with keys such as "
              "'numbers:' and 'schemes:'")
    return _validate(data, sources), sources


def json_schema() -> str:
    """The config's JSON Schema (draft 2020-12), indented, for editors."""
    schema = Config.model_json_schema()
    schema.pop("title", None)
    described = {"$schema": _SCHEMA_DIALECT, "title": "switchboard configuration", **schema}
    return json.dumps(described, indent=2, ensure_ascii=False)


def demo_config_path() -> Path:
    """The demo config that ships inside the package (``switchboard/examples/demo.yaml``)."""
    return Path(str(resources.files("switchboard").joinpath("examples", "demo.yaml")))


# --------------------------------------------------------------------------- YAML -> data


def _fail(filename: str, line: int, message: str) -> NoReturn:
    raise ConfigError([Problem(filename, line, message)])


def _decode(raw: bytes, filename: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
        _fail(filename, line, f"the file is not UTF-8 text (byte 0x{byte}); save it as UTF-8")


def _parse(text: str, sources: SourceMap) -> Any:
    file, deep = sources.filename, _too_deep(text)
    if deep:
        _fail(file, deep, f"the YAML is nested too deeply (over {_MAX_DEPTH} brackets)")
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        _fail(file, line, _syntax_error(exc))
    except ReaderError as exc:
        line = text[: max(exc.position, 0)].count("\n") + 1
        _fail(file, line, f"the file is not YAML text: character #x{exc.character:04x} is "
              "not allowed")
    except RecursionError:
        _fail(file, 1, "the YAML is nested too deeply")
    except Exception as exc:  # a scalar that cannot be built (2026-13-01, !!int x)
        raise ConfigError([_bad_scalar(text, file, exc)]) from None
    try:
        return _Plain(sources, text).convert(document, ())
    except RecursionError:
        _fail(file, 1, "the YAML is nested too deeply")


def _syntax_error(exc: MarkedYAMLError) -> str:
    """ruamel's description of a syntax error, with what to do about the common ones."""
    what = exc.problem or "invalid YAML"
    start = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if isinstance(exc, DuplicateKeyError):
        # ruamel quotes both values, whole sections included; the key and the fix will do.
        found = re.match(r'found duplicate key "(.*?)" with value', what, re.DOTALL)
        key = found.group(1) if found else "?"
        return (f'YAML syntax error: found duplicate key "{key}" in the mapping that starts at '
                f"line {start}; keep one of them (merge what is under them)")
    if exc.context and start is not None:
        what += f" ({exc.context} at line {start})"
    if "'\\t'" in what:
        what += "; indent with spaces, not tabs"
    elif exc.problem == "but found another document":
        what += "; a config is one YAML document: remove the '---' line or split the file"
    return f"YAML syntax error: {what}"


def _too_deep(text: str) -> int:
    """The line where ``[``/``{`` nesting passes the limit, or 0.

    ruamel's scanner is slow (quadratic) on deep flow nesting and its parser recurses, so
    such a file is refused before parsing. Quotes are skipped; this is a cheap guard, not
    a parser.
    """
    depth, line, quote = 0, 1, ""
    for char in text:
        if char == "\n":
            line, quote = line + 1, ""  # quoted flow scalars spanning lines are rare
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
    return 0


def _bad_scalar(text: str, filename: str, error: Exception) -> Problem:
    """ruamel gives no line when building a scalar fails; find the scalar that fails."""
    yaml = YAML(typ="rt")
    try:
        for node in _scalar_nodes(yaml.compose(text)):
            try:
                yaml.constructor.construct_object(node, deep=True)
            except Exception as exc:
                return Problem(filename, node.start_mark.line + 1, f"cannot read the value "
                               f"'{node.value}' ({exc}); put it in quotes if it is text")
    except Exception:  # composing failed too: the original error is the best we have
        pass
    return Problem(filename, 1, f"cannot read the YAML: {error}")


def _scalar_nodes(root: Node | None) -> Iterator[ScalarNode]:
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, ScalarNode):
            yield node


class _Plain:
    """Turns ruamel's round-trip nodes into plain dicts, lists and scalars, noting lines."""

    def __init__(self, sources: SourceMap, text: str) -> None:
        self.sources = sources
        self.text_lines = text.splitlines()
        self.count = 0
        self.open: set[int] = set()  # containers being converted: an alias loop is one

    def convert(self, node: Any, path: PathKey, line: int = 1) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            _fail(self.sources.filename, line, f"the file expands to more than {_MAX_VALUES} "
                  "values (aliases inside aliases?); write the values out")
        if not isinstance(node, dict | list):
            return _scalar(node)
        if id(node) in self.open:
            _fail(self.sources.filename, line, "an alias refers to a value that contains it; "
                  "break the loop")
        self.open.add(id(node))
        positions = getattr(getattr(node, "lc", None), "data", None) or {}
        items: Iterable[tuple[Any, Any]] = node.items() if isinstance(node, dict) \
            else enumerate(node)
        converted: list[tuple[str | int, Any]] = []
        for key, value in items:
            name = _key(key) if isinstance(node, dict) else key
            # Keys merged in with '<<: *alias' have no position here; use the mapping's.
            at = positions.get(key)
            at_line = at[0] + 1 if at else line
            if (*path, name) in self.sources.lines and isinstance(node, dict):
                first = self.sources.lines[(*path, name)]
                _fail(self.sources.filename, at_line, f"the key '{name}' is given twice (first "
                      f"at line {first}; YAML keys 1 and '1' are the same here); keep one")
            self.sources.lines[(*path, name)] = at_line
            if isinstance(value, int) and not isinstance(value, bool) and at:
                value = self._as_written(value, *at[-2:])
            converted.append((name, self.convert(value, (*path, name), at_line)))
        self.open.discard(id(node))
        return dict(converted) if isinstance(node, dict) else [v for _, v in converted]

    def _as_written(self, value: int, line: int, column: int) -> int | str:
        """An integer as written when YAML changed it: ``+380...`` and ``0671...`` keep their
        ``+`` and leading zero (a bare number is text for ids and numbers; int fields read
        the text back)."""
        text = self.text_lines[line] if 0 <= line < len(self.text_lines) else ""
        written = _WRITTEN_INT.match(text, column)
        if written is None or written.group(1) == str(value):
            return value
        return written.group(1)


def _key(key: Any) -> str:
    # Keys become text: YAML `1:` (an IVR digit) and `"1":` mean the same to a user.
    if isinstance(key, bool):
        return str(key).lower()
    return str(list(key)) if isinstance(key, tuple) else str(key)


def _scalar(node: Any) -> Any:
    if node is None or isinstance(node, bool | dt.date | bytes):
        return node
    for plain in (int, float, str):  # ruamel's ScalarInt, ScalarFloat, ScalarString...
        if isinstance(node, plain):
            return plain(node)
    if isinstance(node, TaggedScalar):  # an unknown tag: keep the text
        return None if node.value is None else str(node.value)
    return str(node)


# --------------------------------------------------------------------------- validation


def _validate(data: dict[str, Any], sources: SourceMap) -> Config:
    problems, replaced = bare_steps(data, sources)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += explain(exc.errors(), data, sources, replaced)
    except Exception as exc:  # a validator bug must still end in a clean answer
        problems.append(Problem(sources.filename, 1, f"cannot validate the config: {exc!r}"))
    else:
        if not problems:
            return config
    raise ConfigError(problems)
