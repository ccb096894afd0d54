"""Config problems in words: pydantic's validation errors, read against the model's types.

Each error becomes a ``Problem`` at the line of what is wrong, saying what was expected
(text, a number, a mapping with keys such as ...), the allowed values or keys with a
did-you-mean, or what makes a step; a validator's message is placed at the value it quotes.
Steps that are not mappings (``- hangup``) are reported here before pydantic sees them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from switchboard.config.model import STEP_KINDS, Config

if TYPE_CHECKING:
    from switchboard.config.loader import PathKey, Problem, SourceMap

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


def bare_steps(data: dict[str, Any], sources: SourceMap) -> tuple[list[Problem], set[PathKey]]:
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
                hint = f"{show(step)} is not a step; {_STEP_HELP}"
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


def explain(errors: list[ErrorDetails], data: Any, sources: SourceMap,
            replaced: set[PathKey]) -> list[Problem]:
    """A ``Problem`` for each of pydantic's ``errors`` about ``data`` (one per untagged union);
    errors about the steps ``bare_steps`` ``replaced`` are already reported."""
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
            message = f"{_where(walk.path)}: expected {wanted}, got {show(_at(data, walk.path))}"
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
        return f"{where}: {show(given)} is not allowed; use one of: {', '.join(allowed)}{hint}"
    if kind in _EXPECTED_BY_ERROR:
        wanted = _EXPECTED_BY_ERROR[kind]
        if isinstance(walk.leaf, type) and issubclass(walk.leaf, BaseModel):
            wanted = f"a mapping with keys such as {', '.join(list(walk.leaf.model_fields)[:4])}"
        detail = error.get("ctx", {}).get("error")
        extra = f" ({detail})" if isinstance(detail, str) else ""
        if kind == "string_type" and isinstance(given, int | float | dt.date):
            extra += "; put it in quotes if it is meant as text"  # `name: 5`, `country: NO`
        return f"{where}: expected {wanted}, got {show(given)}{extra}"
    text = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("value_error", "assertion_error") or isinstance(given, dict | list):
        return f"{where}: {text}"
    return f"{where}: {text}, got {show(given)}"


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
        return f"{show(given)} is not a step; {_STEP_HELP}"
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
        return [show(arg).strip("'") for arg in typing.get_args(tp)]
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


def show(value: Any) -> str:
    """A value as a message quotes it: text in quotes, a mapping or a list by kind, cut."""
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
