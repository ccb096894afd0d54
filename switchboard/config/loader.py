"""Load a YAML config: parse it keeping line numbers, validate it, explain every problem.

Any input, however broken (binary bytes, an empty file, a list at the top level, recursive
aliases), ends in a ``Config`` or in a ``ConfigError`` whose problems each name the file,
the line and what to change; never in a traceback.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import re
import types
import typing
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from switchboard.config.model import STEP_KINDS, Config

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
        kind = "a list" if isinstance(data, list) else f"a single value ({_show(data)})"
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


# Where steps live in the file (``*`` is any key of a mapping, ``#`` any item of a list).
_STEP_LISTS: tuple[PathKey, ...] = (
    ("schemes", "*", "rules", "#", "steps", "#"),
    ("queues", "*", "fallback", "#"),
    ("ivr", "*", "options", "*", "#"),
    ("ivr", "*", "on_timeout", "#"),
)


def _glob(data: Any, pattern: PathKey, prefix: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    if not pattern:
        yield prefix, data
        return
    head, rest = pattern[0], pattern[1:]
    if isinstance(data, dict) and head != "#":
        keys: list[Any] = list(data) if head == "*" else [head] if head in data else []
        for key in keys:
            yield from _glob(data[key], rest, (*prefix, key))
    elif isinstance(data, list) and head == "#":
        for index, item in enumerate(data):
            yield from _glob(item, rest, (*prefix, index))


def _validate(data: dict[str, Any], sources: SourceMap) -> Config:
    problems, replaced = _bare_steps(data, sources)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += _explain(exc.errors(), data, sources, replaced)
    except Exception as exc:  # a validator bug must still end in a clean answer
        problems.append(Problem(sources.filename, 1, f"cannot validate the config: {exc!r}"))
    else:
        if not problems:
            return config
    raise ConfigError(problems)


def _bare_steps(data: dict[str, Any], sources: SourceMap) -> tuple[list[Problem], set[PathKey]]:
    """Report steps that are not mappings (``- hangup``) before pydantic sees them.

    The model's step discriminator only understands mappings; we report these ourselves
    and hand pydantic an empty mapping in their place.
    """
    problems: list[Problem] = []
    replaced: set[PathKey] = set()
    for pattern in _STEP_LISTS:
        for path, step in list(_glob(data, pattern)):
            if isinstance(step, dict):
                continue
            if isinstance(step, str) and step in STEP_KINDS:
                colon = "" if step in ("hangup", "reject", "crm_owner") else " VALUE"
                hint = f"write '- {step}:{colon}' (a step is a mapping with one key)"
            else:
                hint = f"{_show(step)} is not a step; {_STEP_HELP}"
            problems.append(sources.problem(path, f"{_where(path)}: {hint}"))
            replaced.add(path)
            parent: Any = _at(data, path[:-1])
            parent[path[-1]] = {}
    return problems, replaced


_STEP_HELP = ("a step is a mapping with exactly one key: " + ", ".join(STEP_KINDS))


@dataclass
class _Walk:
    """A pydantic ``loc`` read against the model's types."""

    path: PathKey  # the loc without pydantic's union-tag segments: a path in the file
    model: type[BaseModel] | None = None  # the model the last key was looked up in
    leaf: Any = None  # the type expected at the path, when known
    union: tuple[Any, ...] = ()  # members, when the error is about an untagged union
    union_at: int | None = None  # the path length at an untagged union the error is inside


def _explain(errors: list[ErrorDetails], data: Any, sources: SourceMap,
             replaced: set[PathKey]) -> list[Problem]:
    problems: list[Problem] = []
    walks = [_walk(error["loc"]) for error in errors]
    # An untagged union gives one error per member. When the value had the right shape
    # for a member and failed inside it, those inner errors say it best; otherwise the
    # union is reported once, with what would do.
    unions_seen = {walk.path[: walk.union_at] for walk in walks if walk.union_at is not None}
    for error, walk in zip(errors, walks, strict=True):
        if walk.union:
            if walk.path in unions_seen:
                continue
            unions_seen.add(walk.path)
            wanted = _either([_expected(member) for member in walk.union])
            message = f"{_where(walk.path)}: expected {wanted}, got {_show(_at(data, walk.path))}"
            problems.append(sources.problem(walk.path, message))
            continue
        if error["type"] == "step_kind" and walk.path in replaced:
            continue
        message = _message(error, walk)
        path = walk.path
        if error["type"] in ("value_error", "assertion_error"):
            path = _pinpoint(data, path, error["msg"])
        problems.append(sources.problem(path, message))
    return problems


def _walk(loc: tuple[int | str, ...]) -> _Walk:
    walk = _Walk(())
    tp: Any = Config
    path: list[str | int] = []
    index = 0
    while index < len(loc):
        segment = loc[index]
        tp = _strip(tp)
        if _is_union(tp):
            members = tuple(_strip(m) for m in typing.get_args(tp) if m is not type(None))
            tags = _tags(tp)
            if segment in tags:  # a tagged union (steps): pydantic adds the tag; skip it
                tp = tags[segment]
                index += 1
                continue
            if index + 1 == len(loc):  # the value fits no member at all
                return _Walk(tuple(path), walk.model, tp, members)
            # Inside one member, named like 'list[float]': skip the name, follow the member.
            walk.union_at = len(path)
            named = [m for m in members if _type_name(m) == str(segment).split("[")[0]]
            tp = named[0] if named else None
            index += 1
            continue
        index += 1
        if segment == "[key]":  # pydantic's marker for an invalid dict key
            continue
        path.append(segment)
        walk.model = None
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            walk.model = tp
            info = tp.model_fields.get(str(segment))
            tp = info.annotation if info is not None else None
        elif typing.get_origin(tp) in (list, tuple, set, frozenset):
            args = [a for a in typing.get_args(tp) if a is not Ellipsis]
            position = segment if isinstance(segment, int) and len(args) > 1 else 0
            tp = args[position] if position < len(args) else None
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            tp = None
    walk.path = tuple(path)
    walk.leaf = _strip(tp)
    return walk


def _strip(tp: Any) -> Any:
    """Without ``Annotated[...]`` and without ``| None``."""
    while True:
        if typing.get_origin(tp) is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif _is_union(tp):
            members = [m for m in typing.get_args(tp) if m is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp: Any) -> str:
    return str(getattr(typing.get_origin(tp) or tp, "__name__", ""))


def _tags(union: Any) -> dict[str | int, Any]:
    tags: dict[str | int, Any] = {}
    for member in typing.get_args(union):
        if typing.get_origin(member) is typing.Annotated:
            for meta in typing.get_args(member)[1:]:
                tag = getattr(meta, "tag", None)
                if isinstance(tag, str):
                    tags[tag] = typing.get_args(member)[0]
    return tags


_EXPECTED_BY_ERROR = {  # pydantic error type -> what the user should have written
    kind: wanted
    for wanted, kinds in (
        ("text", "string_type"),
        ("a whole number", "int_type int_parsing int_from_float"),
        ("a number", "float_type float_parsing"),
        ("true or false", "bool_type bool_parsing"),
        ("a list", "list_type tuple_type set_type"),
        ("a mapping (key: value)", "dict_type model_type model_attributes_type"),
        ("a date like 2026-01-31", "date_type date_parsing date_from_datetime_parsing"),
        ("a date like 2026-01-31 (without a time)", "date_from_datetime_inexact"),
        ("text keys", "invalid_key"),
    )
    for kind in kinds.split()
}


def _message(error: ErrorDetails, walk: _Walk) -> str:
    kind, path, given = error["type"], walk.path, error.get("input")
    where = _where(path)
    if kind == "missing" and walk.model is not None and path:
        name = str(path[-1])
        info = walk.model.model_fields.get(name)
        about = f" ({info.description})" if info is not None and info.description else ""
        return f"{_where(path[:-1])}: missing required key '{name}'{about}; add '{name}: ...'"
    if kind == "extra_forbidden" and path:
        return _unknown_key(path, walk.model)
    if kind == "step_kind":
        return f"{where}: {_step_kind(given)}"
    if kind in ("enum", "literal_error"):
        allowed = _allowed(walk.leaf) or [error.get("ctx", {}).get("expected", "")]
        guess = difflib.get_close_matches(str(given), allowed, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        return f"{where}: {_show(given)} is not allowed; use one of: {', '.join(allowed)}{hint}"
    if kind in _EXPECTED_BY_ERROR:
        wanted = _EXPECTED_BY_ERROR[kind]
        if isinstance(walk.leaf, type) and issubclass(walk.leaf, BaseModel):
            wanted = f"a mapping with keys such as {', '.join(list(walk.leaf.model_fields)[:4])}"
        detail = error.get("ctx", {}).get("error")
        extra = f" ({detail})" if isinstance(detail, str) else ""
        if kind == "string_type" and isinstance(given, int | float | dt.date):
            extra += "; put it in quotes if it is meant as text"  # `name: 5`, `country: NO`
        return f"{where}: expected {wanted}, got {_show(given)}{extra}"
    text = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("value_error", "assertion_error") or isinstance(given, dict | list):
        return f"{where}: {text}"
    return f"{where}: {text}, got {_show(given)}"


def _unknown_key(path: PathKey, model: type[BaseModel] | None) -> str:
    key, where = str(path[-1]), _where(path[:-1])
    place = f"in {where}" if path[:-1] else "at the top level"
    if model is None:
        return f"unknown key '{key}' {place}; remove it"
    fields = list(model.model_fields)
    guess = difflib.get_close_matches(key, fields, n=1)
    if guess:
        return f"unknown key '{key}' {place}; did you mean '{guess[0]}'?"
    return f"unknown key '{key}' {place}; allowed keys: {', '.join(fields)}"


def _step_kind(given: Any) -> str:
    if not isinstance(given, dict):
        return f"{_show(given)} is not a step; {_STEP_HELP}"
    keys = [str(k) for k in given]
    if not keys:
        return f"empty step; {_STEP_HELP}"
    if len(keys) == 1:
        guess = difflib.get_close_matches(keys[0], STEP_KINDS, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else _STEP_HELP
        return f"unknown step '{keys[0]}'; {hint}"
    kinds = [k for k in keys if k in STEP_KINDS]
    found = ", ".join(f"'{k}'" for k in keys)
    if len(kinds) == 1:
        others = ", ".join(k for k in keys if k != kinds[0])
        return (f"a step has exactly one key, this one has {found}; move {others} under "
                f"'{kinds[0]}' or into a step of its own")
    return f"a step has exactly one key, this one has {found}; split it into one step per key"


def _allowed(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [str(member.value) for member in tp]
    if typing.get_origin(tp) is typing.Literal:
        return [_show(arg).strip("'") for arg in typing.get_args(tp)]
    return []


def _expected(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple, set):
        return "a list"
    if origin is dict or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return "a mapping"
    names = {float: "a number", int: "a whole number", str: "text", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _either(options: list[str]) -> str:
    return " or ".join(options) if len(options) < 3 else \
        f"{', '.join(options[:-1])} or {options[-1]}"


def _pinpoint(data: Any, path: PathKey, message: str) -> PathKey:
    """A validator's message quotes the bad value; find it below ``path`` for its line."""
    below = _at(data, path)
    for quoted in re.findall(r"'([^']+)'", message):
        found = _find(below, quoted, path)
        if found is not None:
            return found
    return path


def _find(node: Any, text: str, path: PathKey) -> PathKey | None:
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key) == text:
                return (*path, key)
            found = _find(value, text, (*path, key))
            if found is not None:
                return found
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found = _find(value, text, (*path, index))
            if found is not None:
                return found
    elif node is not None and str(node) == text:
        return path
    return None


def _at(data: Any, path: PathKey) -> Any:
    for segment in path:
        found = (isinstance(data, dict) and segment in data) or (
            isinstance(data, list) and isinstance(segment, int) and 0 <= segment < len(data))
        if not found:
            return None
        data = data[segment]
    return data


def _where(path: Sequence[str | int]) -> str:
    """``("schemes", "main", "rules", 0)`` -> ``schemes.main.rules[0]``."""
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}" if text else segment
    return text or "the top level"


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = f"'{value}'"
    elif isinstance(value, dict):
        shown = "a mapping"
    elif isinstance(value, list):
        shown = "a list"
    else:
        shown = str(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
