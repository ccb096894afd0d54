"""``music: null`` / ``false`` on a queue: valid, linted clean, and in the JSON Schema."""

from __future__ import annotations

from switchboard.config.model import Config

from .conftest import BASE, Check


def test_a_silent_queue_passes_check(check: Check) -> None:
    for value in ("null", "false"):
        assert check(BASE + f"    music: {value}\n")[1] == [], value


def test_an_unknown_music_prompt_is_still_reported(check: Check) -> None:
    lines = check(BASE + "    music: jazz\n")[1]
    assert len(lines) == 1 and "queue 'sales' music: unknown prompt 'jazz'" in lines[0]


def test_the_schema_allows_null_music() -> None:
    queue = Config.model_json_schema()["$defs"]["Queue"]["properties"]["music"]
    assert {"type": "null"} in queue["anyOf"] and queue["default"] == "music_on_hold"
