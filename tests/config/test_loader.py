"""Loading: YAML syntax and validation problems come back with file, line and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard.config.loader import (
    ConfigError,
    Problem,
    SourceMap,
    demo_config_path,
    json_schema,
    load_config,
    load_config_text,
    load_with_sources,
)
from switchboard.config.model import QueueStep, RingStrategy

from .conftest import Check, only

GOOD = """\
numbers:
  - number: 100
    scheme: main
agents:
  - {id: 201}
schemes:
  main:
    rules:
      - name: all
        steps:
          - play: greeting
          - queue: sales
queues:
  sales:
    strategy: linear
    members: [201]
"""


# --------------------------------------------------------------------------- happy path


def test_load_config_builds_the_model(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.numbers[0].number == "100"
    assert config.agents[0].id == "201"
    assert config.queues["sales"].strategy is RingStrategy.linear
    step = config.schemes["main"].rules[0].steps[1]
    assert isinstance(step, QueueStep)
    assert step.queue.name == "sales"


def test_source_map_gives_lines_and_falls_back_to_the_nearest_ancestor(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    _, sources = load_with_sources(path)
    assert sources.filename == str(path)
    assert sources.line_for(("numbers", 0, "scheme")) == 3
    assert sources.line_for(("schemes", "main", "rules", 0, "steps", 1)) == 12
    assert sources.line_for(("queues", "sales", "members", 0)) == 16
    # Not in the file (the model filled it in): the nearest ancestor that is.
    assert sources.line_for(("schemes", "main", "rules", 0, "steps", 1, "queue", "name")) == 12
    assert sources.line_for(("queues", "sales", "ring_timeout")) == 14
    assert sources.line_for(("nothing", "here")) == 1
    assert sources.line_for(()) == 1


def test_source_map_accepts_int_keys_for_text_keys() -> None:
    # YAML `1:` is an int key; the map stores keys as text, as the model does.
    text = GOOD + "ivr:\n  menu:\n    prompt: ivr_main\n    options:\n      1: [{hangup: }]\n"
    config, sources = load_config_text(text, "x.yaml")
    assert list(config.ivr["menu"].options) == ["1"]
    assert sources.line_for(("ivr", "menu", "options", 1, 0)) == 21
    assert sources.line_for(("ivr", "menu", "options", "1", 0)) == 21
    assert SourceMap("f.yaml").line_for(("a",)) == 1


def test_problem_prints_file_line_message() -> None:
    assert str(Problem("a.yaml", 7, "bad")) == "a.yaml:7: bad"


def test_config_error_sorts_problems_by_line() -> None:
    error = ConfigError([Problem("f", 9, "late"), Problem("f", 2, "early")])
    assert [p.line for p in error.problems] == [2, 9]
    assert str(error) == "f:2: early\nf:9: late"


def test_json_schema_is_json_with_numbers() -> None:
    schema = json.loads(json_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "switchboard configuration"
    assert "numbers" in schema["properties"]
    assert set(schema["required"]) == {"numbers", "schemes"}


def test_demo_config_is_packaged_and_loads() -> None:
    path = demo_config_path()
    assert path.name == "demo.yaml"
    assert path.parent.name == "examples"
    assert path.parent.parent.name == "switchboard"
    assert load_config(path).numbers


# --------------------------------------------------------------------------- YAML level


def test_yaml_syntax_error_has_the_yaml_line(check: Check) -> None:
    name, lines = check("""\
numbers:
  - number: 100
    scheme: [main
schemes: {}
""")
    line = only(lines)
    assert line.startswith(f"{name}:4: YAML syntax error: ")
    assert "expected ',' or ']'" in line


def test_duplicate_key_is_reported_at_the_second_one(check: Check) -> None:
    name, lines = check("""\
numbers: []
schemes: {}
numbers: []
""")
    line = only(lines)
    assert line.startswith(f"{name}:3: YAML syntax error: found duplicate key \"numbers\"")


def test_unbuildable_scalar_gets_its_own_line(check: Check) -> None:
    name, lines = check("""\
numbers: []
schemes: {}
schedules:
  office:
    overrides:
      - date: 2026-13-01
""")
    line = only(lines)
    assert line.startswith(f"{name}:6: cannot read the value '2026-13-01'")
    assert "put it in quotes" in line


@pytest.mark.parametrize(
    ("content", "line", "part"),
    [
        (b"", 1, "the file is empty"),
        (b"# only a comment\n", 1, "the file is empty"),
        (b"- numbers\n- schemes\n", 1, "the top level is a list; it must be a mapping"),
        (b"hello\n", 1, "the top level is a single value ('hello')"),
        (b"numbers: []\n\xff\xfe\x00garbage\n", 2, "not UTF-8 text (byte 0xff)"),
        (b"numbers: []\nschemes: {}\nx: \x01\n", 3, "character #x0001 is not allowed"),
        (bytes(range(256)) * 4, 2, "not UTF-8 text (byte 0x80)"),  # 0x0a is a newline
        (b"a: &a [*a]\n- &b [*b]\n", 2, "YAML syntax error"),
        (b"&a [*a]\n", 1, "an alias refers to a value that contains it"),
        (b"[" * 5000 + b"]" * 5000, 1, "nested too deeply"),
    ],
    ids=["empty", "comment", "list", "scalar", "latin", "control", "binary", "syntax",
         "recursive", "deep"],
)
def test_garbage_gives_one_clean_problem(tmp_path: Path, content: bytes, line: int,
                                         part: str) -> None:
    path = tmp_path / "junk.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (str(path), line)
    assert part in problem.message


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        text += f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "bomb.yaml")
    assert "expands to more than" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}:1: cannot read the file: No such file or directory"


# --------------------------------------------------------------------------- validation


def test_unknown_key_suggests_the_field(check: Check) -> None:
    name, lines = check(GOOD + "    stratgy: linear\n")
    assert only(lines) == (
        f"{name}:17: unknown key 'stratgy' in queues.sales; did you mean 'strategy'?"
    )


def test_unknown_key_without_a_close_match_lists_the_keys(check: Check) -> None:
    name, lines = check(GOOD + "    colour: blue\n")
    line = only(lines)
    assert line.startswith(f"{name}:17: unknown key 'colour' in queues.sales; allowed keys: ")
    assert "strategy, members" in line


def test_unknown_top_level_key(check: Check) -> None:
    name, lines = check(GOOD + "qeues: {}\n")
    assert only(lines) == f"{name}:17: unknown key 'qeues' at the top level; did you mean 'queues'?"


def test_missing_required_key_points_at_its_mapping(check: Check) -> None:
    name, lines = check(GOOD.replace("    scheme: main\n", "    name: Shop\n"))
    assert only(lines) == (
        f"{name}:2: numbers[0]: missing required key 'scheme'; add 'scheme: ...'"
    )


def test_missing_top_level_sections(check: Check) -> None:
    name, lines = check("timezone: UTC\n")
    assert lines == [
        f"{name}:1: the top level: missing required key 'numbers'; add 'numbers: ...'",
        f"{name}:1: the top level: missing required key 'schemes'; add 'schemes: ...'",
    ]


def test_enum_value_lists_the_allowed_values(check: Check) -> None:
    name, lines = check(GOOD.replace("strategy: linear", "strategy: round_robbin"))
    line = only(lines)
    assert line.startswith(f"{name}:15: queues.sales.strategy: 'round_robbin' is not allowed; "
                           "use one of: ring_all, round_robin, linear, ")
    assert line.endswith("did you mean 'round_robin'?")


def test_literal_value_lists_the_allowed_values(check: Check) -> None:
    name, lines = check(GOOD.replace("          - queue: sales\n",
                                     "          - ring: {agents: [201], strategy: all}\n"))
    assert only(lines) == (
        f"{name}:12: schemes.main.rules[0].steps[1].ring.strategy: 'all' is not allowed; "
        "use one of: ring_all, linear"
    )


def test_wrong_type_says_what_is_expected(check: Check) -> None:
    name, lines = check(GOOD.replace("    scheme: main\n", "    scheme: main\n    channels: two\n"))
    assert only(lines) == f"{name}:4: numbers[0].channels: expected a whole number, got 'two'"


def test_wrong_type_for_a_section(check: Check) -> None:
    name, lines = check(GOOD + "media: inprocess\n")
    line = only(lines)
    assert line.startswith(f"{name}:17: media: expected a mapping with keys such as driver")
    assert line.endswith("got 'inprocess'")


def test_bound_keeps_pydantic_text_and_shows_the_value(check: Check) -> None:
    name, lines = check(GOOD + "    ring_timeout: -5\n")
    assert only(lines) == (
        f"{name}:17: queues.sales.ring_timeout: Input should be greater than 0, got -5"
    )


def test_an_agents_own_wrapup_cannot_be_negative(check: Check) -> None:
    name, lines = check(GOOD.replace("  - {id: 201}\n", "  - id: 201\n    wrapup: -1\n"))
    assert only(lines) == (
        f"{name}:6: agents[0].wrapup: Input should be greater than or equal to 0, got -1"
    )


def test_an_agents_rest_after_an_unanswered_ring_cannot_be_negative(check: Check) -> None:
    name, lines = check(GOOD.replace("  - {id: 201}\n", "  - id: 201\n    retry: -30\n"))
    assert only(lines) == (
        f"{name}:6: agents[0].retry: Input should be greater than or equal to 0, got -30"
    )


def test_a_queues_default_handling_time_must_be_positive_and_at_most_a_day(
        check: Check) -> None:
    name, lines = check(GOOD + "    eta: {default_handling: 0}\n")
    assert only(lines) == (
        f"{name}:17: queues.sales.eta.default_handling: Input should be greater than 0, got 0"
    )
    name, lines = check(GOOD + "    eta:\n      default_handling: 180000\n")
    assert only(lines) == (
        f"{name}:18: queues.sales.eta.default_handling: Input should be less than or equal "
        "to 86400, got 180000"
    )
    assert check(GOOD + "    eta: {default_handling: 240}\n")[1] == []


def test_validator_error_is_pinpointed_to_the_bad_value(check: Check) -> None:
    name, lines = check(GOOD + """\
schedules:
  office:
    weekly:
      mon-fri: 09:00-18:00
      sat: 9-14
""")
    assert only(lines) == (
        f"{name}:21: schedules.office.weekly: time range '9-14' must look like '09:00-18:00'"
    )


def test_bad_day_name_is_pinpointed(check: Check) -> None:
    name, lines = check(GOOD + """\
schedules:
  office:
    weekly:
      mon-fry: 09:00-18:00
""")
    line = only(lines)
    assert line.startswith(f"{name}:20: schedules.office.weekly: day range 'mon-fry'")


def test_bad_ivr_digit_is_pinpointed(check: Check) -> None:
    name, lines = check(GOOD + """\
ivr:
  menu:
    prompt: ivr_main
    options:
      1: [{queue: sales}]
      12: [{hangup: }]
""")
    assert only(lines) == (
        f"{name}:22: ivr.menu.options: IVR option '12' must be one key: 0-9, * or #"
    )


def test_misspelt_step(check: Check) -> None:
    name, lines = check(GOOD.replace("- queue: sales", "- qeue: sales"))
    assert only(lines) == (
        f"{name}:12: schemes.main.rules[0].steps[1]: unknown step 'qeue'; did you mean 'queue'?"
    )


def test_step_with_two_keys(check: Check) -> None:
    name, lines = check(GOOD.replace("- queue: sales", "- queue: sales\n            priority: 5"))
    line = only(lines)
    assert line.startswith(f"{name}:12: schemes.main.rules[0].steps[1]: a step has exactly one "
                           "key, this one has 'queue', 'priority'; move priority under 'queue'")


def test_bare_step_name_is_explained(check: Check) -> None:
    name, lines = check(GOOD.replace("- queue: sales", "- hangup"))
    assert only(lines) == (
        f"{name}:12: schemes.main.rules[0].steps[1]: write '- hangup:' "
        "(a step is a mapping with one key)"
    )


def test_unknown_key_inside_a_step(check: Check) -> None:
    name, lines = check(GOOD.replace("- queue: sales", "- queue: {name: sales, prio: 1}"))
    assert only(lines) == (
        f"{name}:12: unknown key 'prio' in schemes.main.rules[0].steps[1].queue; "
        "did you mean 'priority'?"
    )


def test_union_field_gives_one_problem(check: Check) -> None:
    name, lines = check(GOOD + """\
simulation:
  traffic:
    - number: 100
      calls_per_hour: lots
""")
    assert only(lines) == (
        f"{name}:20: simulation.traffic[0].calls_per_hour: expected a list, a mapping "
        "or a number, got 'lots'"
    )


def test_error_inside_one_member_of_a_union_is_reported_there(check: Check) -> None:
    name, lines = check(GOOD + """\
simulation:
  traffic:
    - number: 100
      calls_per_hour:
        - 5
        - lots
""")
    assert only(lines) == (
        f"{name}:22: simulation.traffic[0].calls_per_hour[1]: expected a number, got 'lots'"
    )


def test_steps_given_as_a_mapping(check: Check) -> None:
    name, lines = check(GOOD + """\
ivr:
  menu:
    prompt: ivr_main
    options:
      1: {queue: sales}
""")
    assert only(lines) == f"{name}:21: ivr.menu.options.1: expected a list, got a mapping"


def test_model_validator_message(check: Check) -> None:
    name, lines = check(GOOD + "notify:\n  boss: {}\n")
    assert only(lines) == (
        f"{name}:18: notify.boss: a notification target has exactly one of telegram, email, "
        "sms, webhook"
    )


def test_many_problems_come_sorted_by_line(check: Check) -> None:
    name, lines = check(GOOD.replace("number: 100", "numbr: 100") + "    colour: x\n")
    assert [line.split(":")[1] for line in lines] == ["2", "2", "17"]
    assert all(line.startswith(f"{name}:") for line in lines)


# --------------------------------------------------------------------------- simulation section


def test_simulated_hours_and_weekdays_need_a_full_day_and_week(check: Check) -> None:
    name, lines = check(GOOD + """\
simulation:
  traffic:
    - number: "100"
      calls_per_hour: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                       21, 22, 23]
      weekday_factor: [1, 1, 1, 1, 1, 1]
    - number: "100"
      calls_per_hour: {9: 10, 24: 3}
""")
    assert lines == [
        f"{name}:20: simulation.traffic[0].calls_per_hour: 23 values; give 24 values, one per "
        "hour from 00 to 23 (or a mapping {hour: rate}, or one rate for all)",
        f"{name}:22: simulation.traffic[0].weekday_factor: 6 values; give 7 values, Monday first",
        f"{name}:24: simulation.traffic[1].calls_per_hour: hour 24 is not 0-23; hours are "
        "local, 0 (midnight) to 23",
    ]


def test_a_uniform_distribution_needs_low_up_to_high(check: Check) -> None:
    name, lines = check(GOOD + """\
simulation:
  traffic:
    - number: "100"
      calls_per_hour: 10
      handling:
        kind: uniform
        low: 300
        high: 60
  agents:
    answer_delay: {kind: uniform, mean: 2, low: 5}
""")
    assert lines == [
        f"{name}:24: simulation.traffic[0].handling: a uniform distribution draws from low to "
        "high, but 'high' 60 is below 'low' 300; make high at least low",
        f"{name}:26: simulation.agents.answer_delay: a uniform distribution draws from low to "
        "high, but 'high' (by default 2 x mean) 4 is below 'low' 5; make high at least low",
    ]
