"""Adversarial configs: each was accepted wrongly, lost what the user wrote, or gave a poor
message before; each now loads as meant or is refused at its line with the fix."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.config.lint import lint
from switchboard.config.loader import ConfigError, load_config_text
from tests.config.conftest import BASE, Check, only, with_steps

SCHEDULE = BASE + """\
schedules:
  office:
    weekly:
      mon-fri: "{hours}"
"""  # the hours are on line 19


def loaded(text: str) -> Any:
    return load_config_text(text, "c.yaml")[0]


# --------------------------------------------------------------------------- numbers as text


@pytest.mark.parametrize(("written", "meant"), [
    ("0671234567", "0671234567"),  # was 671234567: YAML 1.2 drops the leading zero
    ("+380443900100", "+380443900100"),  # was 380443900100: the + was dropped
    ("100", "100"),
])
def test_a_bare_number_keeps_its_plus_and_leading_zero(written: str, meant: str) -> None:
    config = loaded(BASE.replace('number: "100"', f"number: {written}"))
    assert config.numbers[0].number == meant


def test_a_bare_agent_id_and_member_keep_their_leading_zero_and_ints_still_read() -> None:
    text = BASE.replace('id: "201"', "id: 0201").replace(
        'members: ["201"]', "members: [0201, &a +5, *a]\n    max_length: +7  # note\n"
        "    ring_timeout: 010")
    config = loaded(text)
    assert config.agents[0].id == "0201"
    assert [m.agent for m in config.queues["sales"].members] == ["0201", "+5", "+5"]
    assert (config.queues["sales"].max_length, config.queues["sales"].ring_timeout) == (7, 10)


@pytest.mark.parametrize(("old", "new", "line", "where"), [
    ('id: "201"', "id: true", 5, "agents[0].id"),  # was the agent 'True'
    ('number: "100"', "number: true", 2, "numbers[0].number"),  # was the number 'True'
    ('members: ["201"]', "members: [{agent: true}]", 15, "queues.sales.members[0].agent"),
])
def test_true_is_not_an_id_or_a_number(check: Check, old: str, new: str, line: int,
                                       where: str) -> None:
    name, lines = check(BASE.replace(old, new))
    assert lines[0] == (f"{name}:{line}: {where}: expected text, got true; put it in quotes "
                        "if it is meant as text")


@pytest.mark.parametrize("entry", ["null", "{a: 1}", "[1, 2]", "true", "1.5"])
def test_a_list_entry_that_is_not_text_is_refused(check: Check, entry: str) -> None:
    # Before, every entry went through str(): null was the number 'None'.
    name, lines = check(BASE + f"lists:\n  vip:\n    numbers: [{entry}]\n")
    assert only(lines).startswith(f"{name}:18: lists.vip.numbers[0]: expected text, got ")


def test_ring_targets_that_are_not_text_are_refused(check: Check) -> None:
    # Before: agents 'None', 'True' and "{'a': 1}", reported as unknown agents.
    name, lines = check(with_steps("ring: {agents: [null, true, {a: 1}]}"))
    assert lines == [f"{name}:12: schemes.main.rules[0].steps[0].ring.agents[{i}]: expected "
                     f"text, got {shown}" + hint
                     for i, (shown, hint) in enumerate([
                         ("nothing", ""),
                         ("true", "; put it in quotes if it is meant as text"),
                         ("a mapping", "")])]


def test_a_number_as_text_says_to_quote_it(check: Check) -> None:
    name, lines = check(BASE.replace("- name: all", "- name: 5"))
    assert only(lines) == (f"{name}:10: schemes.main.rules[0].name: expected text, got 5; put "
                           "it in quotes if it is meant as text")


def test_an_exit_key_digit_may_be_a_bare_number() -> None:
    config = loaded(BASE.replace('members: ["201"]', 'members: ["201"]\n    exit_key: {digit: 1}'))
    exit_key = config.queues["sales"].exit_key
    assert exit_key is not None and exit_key.digit == "1"


def test_keys_that_yaml_reads_alike_are_a_duplicate(check: Check) -> None:
    # `1:` and `'1':` were both the option '1': the first was silently dropped.
    name, lines = check(with_steps("ivr: menu") + """\
ivr:
  menu:
    prompt: ivr_main
    options:
      1: [{hangup: true}]
      '1': [{queue: sales}]
""")
    assert only(lines) == (f"{name}:21: the key '1' is given twice (first at line 20; YAML keys "
                           "1 and '1' are the same here); keep one")


# --------------------------------------------------------------------------- dates and times


@pytest.mark.parametrize("value", ["0", "86400", "1.5"])
def test_a_number_is_not_an_override_date(check: Check, value: str) -> None:
    # Before, 0 and 86400 were read as 1970-01-01 and 1970-01-02.
    name, lines = check(BASE + f"""\
schedules:
  office:
    weekly: {{mon: "09:00-10:00"}}
    overrides:
      - date: {value}
        hours: []
""")
    assert only(lines) == (f"{name}:20: schedules.office.overrides[0].date: {value} is not a "
                           "date; write it like 2026-12-31")


@pytest.mark.parametrize("hours", ["24:30-01:00", "23:00-24:59", "07:60-09:00"])
def test_times_past_24_00_are_refused(check: Check, hours: str) -> None:
    # Before, 24:30 was accepted and opened the next day at 00:30.
    name, lines = check(SCHEDULE.format(hours=hours))
    wrong = next(p for p in hours.split("-") if p not in ("01:00", "23:00", "09:00"))
    assert only(lines) == (f"{name}:19: schedules.office.weekly: time range '{hours}': {wrong} is "
                           "not a time of day; hours are 00-23 (and 24:00 for the end of the "
                           "day), minutes 00-59")


def test_a_range_cannot_start_at_24_00(check: Check) -> None:
    # Before, '24:00-24:00' on Monday opened the whole of Tuesday.
    name, lines = check(SCHEDULE.format(hours="24:00-24:00"))
    assert only(lines) == (f"{name}:19: schedules.office.weekly: time range '24:00-24:00' starts "
                           "at 24:00; start it at 00:00 instead")


def test_the_whole_day_and_overnight_ranges_still_pass(check: Check) -> None:
    for hours in ("00:00-24:00", "22:00-06:00", "09:00-18:00"):
        assert check(SCHEDULE.format(hours=hours))[1] == []


# --------------------------------------------------------------------------- absurd values


@pytest.mark.parametrize(("key", "value"), [
    ("ring_timeout", ".inf"), ("max_wait", "1e400"), ("wrapup", ".inf"), ("retry", "-.inf"),
])
def test_infinite_durations_are_refused(check: Check, key: str, value: str) -> None:
    # Before, .inf and 1e400 passed and reached the timers of `run`.
    name, lines = check(BASE.replace('members: ["201"]', f'members: ["201"]\n    {key}: {value}'))
    assert only(lines).startswith(f"{name}:16: queues.sales.{key}: Input should be a finite "
                                  "number, got ")


@pytest.mark.parametrize(("trunk", "message"), [
    ("{name: t, host: h, port: 99999}", "trunks[0].port: Input should be less than or equal "
     "to 65535, got 99999"),
    ("{name: t, host: h, port: 0}", "trunks[0].port: Input should be greater than or equal to "
     "1, got 0"),
    ("{name: t, host: ''}", "trunks[0].host: String should have at least 1 character, got ''"),
])
def test_a_trunk_needs_a_host_and_a_real_port(check: Check, trunk: str, message: str) -> None:
    name, lines = check(BASE + f"trunks:\n  - {trunk}\n")
    assert only(lines) == f"{name}:17: {message}"


@pytest.mark.parametrize(("simulation", "message"), [
    ("start: 0", "simulation.start: 0 is not a date; write it like 2026-12-31"),
    # Before: OverflowError (date value out of range) from `simulate`.
    ("start: 9999-12-31\n  days: 2", "simulation.start: Input should be less than or equal to "
     "9000-12-31, got 9999-12-31"),
    ("traffic: [{number: '100', calls_per_hour: -5}]", "simulation.traffic[0].calls_per_hour: "
     "rate -5 is below 0; give calls per hour, 0 or more"),
    ("traffic: [{number: '100', calls_per_hour: 1, weekday_factor: [1, 1, -1, 1, 1, 1, 1]}]",
     "simulation.traffic[0].weekday_factor: factor -1 is below 0; give multipliers of 0 or more"),
    # Before: `simulate` ran for ever.
    ("traffic: [{number: '100', calls_per_hour: 1e12}]", "simulation.traffic[0]: "
     "'calls_per_hour' 1e+12 at the peak (times weekday_factor) is more than 100000 calls per "
     "hour; give a real rate"),
    ("traffic: [{number: '100', calls_per_hour: 5, weekday_factor: [1e300, 1, 1, 1, 1, 1, 1]}]",
     "simulation.traffic[0]: 'calls_per_hour' 5e+300 at the peak (times "
     "weekday_factor) is more than 100000 calls per hour; give a real rate"),
])
def test_absurd_simulations_are_refused_at_load(check: Check, simulation: str,
                                                message: str) -> None:
    name, lines = check(BASE + f"simulation:\n  {simulation}\n")
    assert only(lines) == f"{name}:17: {message}"


def test_simulate_refuses_an_absurd_rate_before_running(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE + "simulation:\n  traffic: [{number: '100', calls_per_hour: .inf}]\n")
    result = CliRunner().invoke(app, ["simulate", "--config", str(path), "--json",
                                      str(tmp_path / "x.json")])
    assert result.exit_code == 1
    assert f"{path}:17: simulation.traffic[0].calls_per_hour" in result.output
    assert not (tmp_path / "x.json").exists()


# --------------------------------------------------------------------------- YAML messages


def test_a_duplicate_key_names_the_key_not_whole_sections(check: Check) -> None:
    name, lines = check(BASE + "queues:\n  x: {}\n")
    assert only(lines) == (f'{name}:16: YAML syntax error: found duplicate key "queues" in the '
                           "mapping that starts at line 1; keep one of them (merge what is "
                           "under them)")


def test_a_tab_says_to_indent_with_spaces(check: Check) -> None:
    name, lines = check(BASE.replace("    scheme: main", "\tscheme: main"))
    assert only(lines).startswith(f"{name}:3: YAML syntax error: ")
    assert only(lines).endswith("; indent with spaces, not tabs")


def test_a_second_document_says_a_config_is_one(check: Check) -> None:
    name, lines = check(BASE + "---\n" + BASE)
    assert only(lines).startswith(f"{name}:16: YAML syntax error: but found another document")
    assert only(lines).endswith("a config is one YAML document: remove the '---' line or split "
                                "the file")


# --------------------------------------------------------------------------- lint


def with_when(when: str) -> str:
    return BASE.replace("      - name: all\n", f"      - name: all\n        when: {when}\n")


@pytest.mark.parametrize(("country", "fix"), [
    ("ua", "write it as 'UA'"),
    ("XX", "use two-letter ISO 3166-1 codes in capitals, e.g. UA, PL, US"),
])
def test_an_unknown_caller_country_is_an_error(check: Check, country: str, fix: str) -> None:
    # Before: accepted, and the rule never matched (the core compares 'UA').
    name, lines = check(with_when(f"{{caller_country: [{country}]}}"))
    assert only(lines) == (f"{name}:11: scheme 'main' rule 'all': unknown country '{country}' "
                           f"in caller_country; {fix}")


@pytest.mark.parametrize("key", ["caller_in", "caller_matches", "caller_country", "days"])
def test_an_empty_condition_list_never_matches(check: Check, key: str) -> None:
    name, lines = check(with_when(f"{{{key}: []}}"))
    assert only(lines) == (f"{name}:11: scheme 'main' rule 'all' can never match: '{key}' is an "
                           "empty list, which no call is in; name at least one value or remove "
                           "the condition")


@pytest.mark.parametrize(("mask", "what"), [
    ("[a-z]*", "looks like a regular expression, which masks are not"),
    ("+38067*X?", "looks like a regular expression, which masks are not"),
    ("", "is neither a number nor a mask"),
    ("067 12a4", "is neither a number nor a mask"),
])
def test_masks_that_no_number_fits_are_reported(check: Check, mask: str, what: str) -> None:
    name, lines = check(with_when(f"{{caller_matches: ['{mask}']}}"))
    assert only(lines).startswith(f"{name}:11: scheme 'main' rule 'all' caller_matches: '{mask}' "
                                  f"{what}, so no caller matches it; ")
    name, lines = check(BASE + f"lists:\n  vip:\n    numbers: ['{mask}']\n")
    assert only(lines).startswith(f"{name}:18: list 'vip': '{mask}' {what}")


def test_numbers_masks_and_words_pass(check: Check) -> None:
    entries = "['+380 (67) 123-45-67', '+38067*', '0442000XXX', anonymous, '*']"
    assert check(BASE + f"lists:\n  vip:\n    numbers: {entries}\n")[1] == []


def test_a_subdivision_without_a_country_is_reported(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  office:
    weekly: {mon: "09:00-10:00"}
    holiday_subdivision: CA
""")
    assert only(lines) == (f"{name}:19: schedule 'office': holiday_subdivision has no effect "
                           "without 'holidays:' (the country); add it or remove the subdivision")


# --------------------------------------------------------------------------- mutator

VALID: dict[str, Any] = {
    "timezone": "Europe/Kyiv",
    "country": "UA",
    "numbers": [{"number": "+380443900100", "scheme": "main", "channels": 2}],
    "agents": [{"id": "201", "groups": ["sales"], "schedule": "office", "retry": 5}],
    "schedules": {"office": {"weekly": {"mon-fri": "09:00-18:00", "sat": ["10:00-12:00"]},
                             "overrides": [{"date": "2026-12-31", "hours": ["09:00-15:00"]}]}},
    "lists": {"vip": {"kind": "white", "numbers": ["+38067*", "0442000XXX"]}},
    "schemes": {"main": {"rules": [
        {"name": "vip", "when": {"caller_in": ["vip"], "days": ["mon-fri"],
                                 "caller_country": ["UA"]},
         "steps": [{"ring": {"agents": ["201"], "timeout": 10}}, {"queue": "sales"}]},
        {"name": "all", "steps": [{"queue": {"name": "sales", "priority": 1}}]},
    ]}},
    "queues": {"sales": {"members": ["201"], "max_wait": 60, "exit_key": {"digit": "1"},
                         "fallback": [{"voicemail": "box"}]}},
    "voicemail": {"box": {}},
    "trunks": [{"name": "t", "host": "sip.example.ua", "port": 5060}],
    "simulation": {"start": "2026-11-23", "traffic": [
        {"number": "+380443900100", "calls_per_hour": {9: 10}, "weekday_factor": [1] * 7}]},
}

WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.sampled_from([float("inf"), -1.0, 0.0, 1e300, "", "xyz", "24:30-25:00", "0671234567",
                     "1970-01-01", [], {}, [None], {"a": None}, ["mon", 1], {"1": [], 1: []}]),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else []
    for key, value in items:
        found += _paths(value, (*prefix, key))
    return found


def _yaml(node: Any, indent: int = 0) -> str:
    """Block YAML with numbers and texts written as a person would (texts quoted)."""
    pad = "  " * indent
    if isinstance(node, dict) and node:
        return "".join(f"{pad}{_flow(k)}:\n{_yaml(v, indent + 1)}" if isinstance(v, dict | list)
                       and v else f"{pad}{_flow(k)}: {_flow(v)}\n" for k, v in node.items())
    if isinstance(node, list) and node:
        return "".join(f"{pad}-\n{_yaml(v, indent + 1)}" if isinstance(v, dict | list) and v
                       else f"{pad}- {_flow(v)}\n" for v in node)
    return f"{pad}{_flow(node)}\n"


def _flow(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ".inf" if value == float("inf") else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return "{" + ", ".join(f"{_flow(k)}: {_flow(v)}" for k, v in value.items()) + "}"


def _problems(text: str) -> list[str]:
    try:
        config, sources = load_config_text(text, "m.yaml")
    except ConfigError as error:
        assert error.problems
        problems = error.problems
    else:
        problems = lint(config, sources, Path("."))
    lines = text.count("\n") + 1
    for problem in problems:
        assert 1 <= problem.line <= lines, problem
        assert re.fullmatch(r"m\.yaml:\d+: \S.*", str(problem), re.DOTALL), problem
    return [str(p) for p in problems]


def test_the_mutator_base_is_clean() -> None:
    assert _problems(_yaml(VALID)) == []


@settings(max_examples=80, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_paths(VALID)), WRONG)
def test_a_wrong_value_anywhere_is_a_clean_problem(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(VALID)
    parent = data
    for segment in path[:-1]:
        parent = parent[segment]
    parent[path[-1]] = value
    _problems(_yaml(data))
