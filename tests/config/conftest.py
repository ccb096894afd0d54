"""Shared by the config tests: write a YAML text to a temporary file and check it.

Write YAML texts flush left, starting right after the opening quotes, so that the first
line of the literal is line 1 of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from switchboard.config.check import check_file

Check = Callable[[str], tuple[str, list[str]]]


@pytest.fixture
def check(tmp_path: Path) -> Check:
    """``check(text)`` -> (file name as printed, problem lines) for ``text`` as config.yaml."""

    def run(text: str) -> tuple[str, list[str]]:
        path = tmp_path / "config.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path), check_file(path)

    return run


# Lines: 2 the number, 5 the agent, 10 the rule, 12 its step, 14 the queue, 15 its members.
BASE = """\
numbers:
  - number: "100"
    scheme: main
agents:
  - id: "201"
    groups: [sales]
schemes:
  main:
    rules:
      - name: all
        steps:
          - queue: sales
queues:
  sales:
    members: ["201"]
"""


def only(lines: list[str]) -> str:
    """The single problem line; fails when there are none or several."""
    assert len(lines) == 1, lines
    return lines[0]


def with_steps(*steps: str) -> str:
    """BASE with the rule's steps replaced (the first step is on line 12)."""
    body = "".join(f"          - {step}\n" for step in steps)
    return BASE.replace("          - queue: sales\n", body)


