"""No input, however broken, makes loading or lint raise anything but ConfigError."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from switchboard.config.lint import lint
from switchboard.config.loader import ConfigError, load_config_text

VALID: dict[str, Any] = {
    "timezone": "Europe/Kyiv",
    "country": "UA",
    "numbers": [{"number": "100", "scheme": "main", "channels": 2,
                 "overflow": {"action": "scheme", "scheme": "main"}}],
    "agents": [{"id": "201", "groups": ["sales"], "mobile": "+380501234567",
                "schedule": "office"}],
    "schedules": {"office": {"weekly": {"mon-fri": "09:00-18:00"}, "holidays": "UA",
                             "overrides": [{"date": "2026-12-31", "hours": []}]}},
    "lists": {"vip": {"numbers": ["+38067*"]}},
    "schemes": {"main": {"rules": [
        {"name": "vip", "when": {"caller_in": ["vip"], "open": "office"},
         "steps": [{"queue": {"name": "sales", "priority": 5}}]},
        {"name": "all", "steps": [{"play": ["greeting"]}, {"ivr": "menu"}]},
    ]}},
    "queues": {"sales": {"members": ["201"], "max_wait": 60,
                         "fallback": [{"voicemail": "box"}], "adverts": {"prompts": ["advert"]}}},
    "ivr": {"menu": {"prompt": "ivr_main", "options": {"1": [{"queue": "sales"}]}}},
    "voicemail": {"box": {"notify": ["tg"]}},
    "notify": {"tg": {"telegram": {"chat_id": "1", "bot_token": "0:x"}}},
    "missed": {"notify": ["tg"], "head_agent": "201"},
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["main", "sales", "201", "09:00-18:00", "mon-fri", "", "-", "x: y"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


ALL_PATHS = paths(VALID)


def to_yaml(data: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def check_text(text: str) -> list[str]:
    """What `switchboard check` would print; raises on anything but a clean answer."""
    try:
        config, sources = load_config_text(text, "fuzz.yaml")
    except ConfigError as error:
        problems = error.problems
        assert problems, "a ConfigError must carry at least one problem"
    else:
        problems = lint(config, sources, Path("."))
    lines = [str(p) for p in problems]
    for line in lines:
        assert re.match(r"^fuzz\.yaml:[1-9]\d*: \S", line), line
    return lines


def test_the_fuzz_base_is_clean() -> None:
    assert check_text(to_yaml(VALID)) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ALL_PATHS), values)
def test_any_value_anywhere_gives_clean_problems(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(VALID)
    parent = data
    for segment in path[:-1]:
        parent = parent[segment]
    parent[path[-1]] = value
    check_text(to_yaml(data))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@`,? \n\t0129")), max_size=80))
def test_any_yamlish_text_gives_clean_problems(text: str) -> None:
    check_text(text)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_clean_problems(raw: bytes) -> None:
    check_text(raw.decode("utf-8", errors="replace"))
