"""Lint (MISSION B5), call flow: dead rules, unreachable steps, schedules, loops."""

from __future__ import annotations

import pytest

from .conftest import BASE, Check, only, with_steps

# --------------------------------------------------------------------------- rules


def test_rule_after_a_catch_all_never_matches(check: Check) -> None:
    name, lines = check(BASE.replace("queues:\n", """\
      - name: late
        when: {days: [sat]}
        steps: [{hangup: }]
queues:
"""))
    assert only(lines) == (
        f"{name}:13: scheme 'main' rule 'late' can never match: rule 'all' (line 10) above has "
        "no conditions and takes every call; move this rule above it or give that rule a 'when:'"
    )


SCHEME_WITH = """\
numbers:
  - {number: "100", scheme: main}
agents:
  - {id: "201"}
schedules:
  office: {weekly: {mon-fri: 09:00-18:00}}
  never: {weekly: {sat: []}}
  always: {weekly: {mon-sun: 00:00-24:00}}
schemes:
  main:
    rules:
      - name: special
        when: WHEN
        steps: [{hangup: }]
      - name: all
        steps: [{hangup: }]
"""


@pytest.mark.parametrize(
    ("when", "line", "part"),
    [
        ("{open: office, closed: office}", 13,
         "schedule 'office' cannot be open and closed at once; keep 'open:' or 'closed:'"),
        ("{open: never}", 13, "schedule 'never' is never open; give it weekly hours"),
        ("{open: office, days: [sat, sun]}", 13,
         "schedule 'office' is not open on sat, sun; change 'days:' or the schedule's hours"),
        ("{closed: always}", 13, "schedule 'always' is open all day and never closes"),
        ("{caller_in: [vip], caller_not_in: vip}", 13,
         "the caller cannot be in and not in vip; keep one of caller_in / caller_not_in"),
    ],
    ids=["open-and-closed", "never-open", "days-not-open", "never-closed", "in-and-not-in"],
)
def test_rule_conditions_that_cannot_hold(check: Check, when: str, line: int,
                                          part: str) -> None:
    text = SCHEME_WITH.replace("WHEN", when) + "lists: {vip: {numbers: ['+380671234567']}}\n"
    name, lines = check(text)
    found = [x for x in lines if "can never match" in x]
    assert len(found) == 1, lines
    assert found[0].startswith(f"{name}:{line}: scheme 'main' rule 'special' can never match: ")
    assert part in found[0]


def test_rule_conditions_that_can_hold(check: Check) -> None:
    text = SCHEME_WITH.replace("  always:", "  late: {weekly: {fri: 22:00-02:00}}\n  always:")
    for when in ("{open: office, days: [fri, sat]}", "{closed: office}", "{closed: never}",
                 "{open: late, days: sat}"):
        lines = check(text.replace("WHEN", when))[1]
        assert [x for x in lines if "can never match" in x] == [], when


def test_duplicate_rule_names_and_same_conditions(check: Check) -> None:
    name, lines = check(SCHEME_WITH.replace("WHEN", "{days: sat}").replace(
        "      - name: all\n", """\
      - name: special
        when: {days: [sat]}
        steps: [{hangup: }]
      - name: all
"""))
    assert lines == [
        f"{name}:7: schedule 'never' is never open: add weekly hours such as "
        "'mon-fri: 09:00-18:00' or an override with hours",
        f"{name}:15: scheme 'main' rule 'special' can never match: rule 'special' (line 12) "
        "above has the same 'when:' and takes those calls first; merge the two rules",
        f"{name}:15: scheme 'main': rule name 'special' is used twice (first at line 12); "
        "rename one",
    ]


# --------------------------------------------------------------------------- unreachable steps


@pytest.mark.parametrize(
    "terminal",
    ["reject: 486", "hangup:", "goto: main", "voicemail: box", "ivr: menu", "callback: sales"],
)
def test_steps_after_a_terminal_step(check: Check, terminal: str) -> None:
    text = with_steps("play: greeting", terminal, "play: goodbye", "hangup:") + """\
voicemail:
  box: {}
ivr:
  menu:
    prompt: ivr_main
    options: {1: [{queue: sales}]}
"""
    if terminal.startswith("goto"):  # to another scheme, to keep the loop check out of it
        text = text.replace("goto: main", "goto: other").replace("queues:\n", """\
  other:
    rules: [{name: x, steps: [{hangup: }]}]
queues:
""")
    name, lines = check(text)
    kind = terminal.split(":")[0]
    assert only(lines) == (
        f"{name}:14: scheme 'main' rule 'all': unreachable step: the '{kind}' step above (line "
        "13) ends the call's path; remove the steps after it or move them above it"
    )


def test_steps_after_a_queue_with_no_way_out(check: Check) -> None:
    name, lines = check(with_steps("queue: sales", "voicemail: box") + "voicemail: {box: {}}\n")
    assert only(lines) == (
        f"{name}:13: scheme 'main' rule 'all': unreachable step: queue 'sales' (line 12) has no "
        "way out (no max_wait or max_length, and leave_when_empty is off); set max_wait on "
        "the queue or remove the steps"
    )


def test_an_exit_key_is_no_way_out_to_the_next_step(check: Check) -> None:
    """The key leads to a callback or voicemail, never to the steps after the queue."""
    text = with_steps("queue: sales", "voicemail: box") + "    exit_key: {digit: '1'}\n"
    name, lines = check(text + "voicemail: {box: {}}\n")
    assert only(lines) == (
        f"{name}:13: scheme 'main' rule 'all': unreachable step: queue 'sales' (line 12) has no "
        "way out (no max_wait or max_length, and leave_when_empty is off); set max_wait on "
        "the queue or remove the steps"
    )
    name, lines = check(BASE + "    exit_key: {digit: '1'}\n    fallback: [{hangup: }]\n")
    assert only(lines).startswith(f"{name}:17: queue 'sales': the fallback can never run")


@pytest.mark.parametrize(
    "way_out", ["max_wait: 60", "max_length: 5", "leave_when_empty: true", "join_empty: false"],
)
def test_steps_after_a_queue_with_a_way_out(check: Check, way_out: str) -> None:
    text = with_steps("queue: sales", "voicemail: box") + f"    {way_out}\n"
    text += "voicemail: {box: {}}\n"
    assert check(text)[1] == []


def test_queue_fallback_needs_a_way_out(check: Check) -> None:
    name, lines = check(BASE + "    fallback: [{hangup: }]\n")
    assert only(lines) == (
        f"{name}:16: queue 'sales': the fallback can never run, the queue has no way out; set "
        "max_wait on the queue or remove the fallback"
    )
    assert check(BASE + "    max_wait: 90\n    fallback: [{hangup: }]\n")[1] == []


def test_unreachable_steps_in_ivr_options(check: Check) -> None:
    name, lines = check(with_steps("ivr: menu") + """\
ivr:
  menu:
    prompt: ivr_main
    options:
      1:
        - hangup:
        - queue: sales
""")
    assert only(lines) == (
        f"{name}:22: ivr 'menu' option 1: unreachable step: the 'hangup' step above (line 21) "
        "ends the call's path; remove the steps after it or move them above it"
    )


# --------------------------------------------------------------------------- schedules


def test_empty_schedule(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  office:
    weekly: {sat: []}
    overrides: [{date: 2026-12-31, hours: []}]
""")
    assert only(lines) == (
        f"{name}:17: schedule 'office' is never open: add weekly hours such as "
        "'mon-fri: 09:00-18:00' or an override with hours"
    )
    assert check(BASE + "schedules:\n  x: {overrides: [{date: 2026-12-31, hours: 10:00-12:00}]}\n"
                 )[1] == []


def test_overlapping_ranges_through_a_day_range(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  office:
    weekly:
      mon-fri: 09:00-18:00
      wed: 17:00-20:00
      sat: [10:00-14:00, 14:00-16:00]
""")
    assert only(lines) == (
        f"{name}:20: schedule 'office': 'wed: 17:00-20:00' overlaps 'mon-fri: 09:00-18:00' on "
        "wed; remove one or make the ranges meet without overlap"
    )


def test_overlap_after_midnight_and_within_one_day(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  night:
    weekly:
      mon: 22:00-02:00
      tue: [01:00-03:00, 02:30-04:00]
""")
    assert lines == [
        f"{name}:20: schedule 'night': 'tue: 01:00-03:00' overlaps 'mon: 22:00-02:00' on tue; "
        "remove one or make the ranges meet without overlap",
        f"{name}:20: schedule 'night': 'tue: 02:30-04:00' overlaps 'tue: 01:00-03:00' on tue; "
        "remove one or make the ranges meet without overlap",
    ]


def test_override_date_given_twice(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  office:
    weekly: {mon-fri: 09:00-18:00}
    overrides:
      - {date: 2026-12-31, hours: 09:00-14:00}
      - {date: 2026-12-31, hours: []}
""")
    assert only(lines) == (
        f"{name}:21: schedule 'office': override for 2026-12-31 is given twice (first at "
        "line 20); keep one"
    )


def test_the_same_range_twice(check: Check) -> None:
    name, lines = check(BASE + "schedules:\n  office:\n    weekly:\n"
                        "      sat: [10:00-14:00, 10:00-14:00]\n")
    assert only(lines) == (
        f"{name}:19: schedule 'office': 'sat: 10:00-14:00' overlaps 'sat: 10:00-14:00' on sat; "
        "remove one or make the ranges meet without overlap"
    )


def test_unknown_timezones(check: Check) -> None:
    name, lines = check("timezone: Europe/Kiyv\n" + BASE + """\
schedules:
  office:
    timezone: Mars/Olympus
    weekly: {mon-fri: 09:00-18:00}
""")
    assert lines == [
        f"{name}:1: unknown timezone 'Europe/Kiyv'; did you mean 'Europe/Kyiv'?",
        f"{name}:19: unknown timezone 'Mars/Olympus'; use an IANA name like Europe/Kyiv",
    ]


def test_unknown_holiday_country_and_subdivision(check: Check) -> None:
    name, lines = check(BASE + """\
schedules:
  a: {holidays: ua, weekly: {mon-fri: 09:00-18:00}}
  b: {holidays: XX, weekly: {mon-fri: 09:00-18:00}}
  c: {holidays: US, holiday_subdivision: ZZ, weekly: {mon-fri: 09:00-18:00}}
  d: {holidays: UA, weekly: {mon-fri: 09:00-18:00}}
""")
    assert len(lines) == 3, lines
    assert lines[0] == f"{name}:17: schedule 'a': unknown holiday country 'ua'; write it as 'UA'"
    assert lines[1].startswith(f"{name}:18: schedule 'b': unknown holiday country 'XX'; use ")
    assert lines[2].startswith(f"{name}:19: schedule 'c': US has no subdivision 'ZZ'; use one of")


# --------------------------------------------------------------------------- loops


def test_loop_between_schemes_is_reported_once(check: Check) -> None:
    name, lines = check(with_steps("goto: night").replace("queues:\n", """\
  night:
    rules:
      - name: all
        steps: [{goto: main}]
queues:
"""))
    assert only(lines) == (
        f"{name}:12: loop between schemes: main -> night -> main; a call would go round "
        "forever; end one of them with a queue, voicemail or hangup instead of goto"
    )


def test_loop_through_a_queue_fallback_is_reported(check: Check) -> None:
    """main -> queue q2 -> its fallback goes to night -> night goes back to main."""
    name, lines = check(with_steps("queue: q2").replace("queues:\n", """\
  night:
    rules:
      - name: all
        steps: [{goto: main}]
queues:
  q2:
    members: ["201"]
    max_wait: 60
    fallback: [{goto: night}]
"""))
    assert only(lines) == (
        f"{name}:21: loop between schemes: main -> night -> main (main -> night through queue "
        "'q2' fallback); a call would go round forever; end one of them with a queue, "
        "voicemail or hangup instead of goto"
    )


def test_loop_through_an_ivr_timeout_is_reported_but_not_a_menu_option(check: Check) -> None:
    """A caller who chooses 'back to the main menu' loops on purpose; a silent one does not."""
    text = with_steps("ivr: menu") + """\
ivr:
  menu:
    prompt: ivr_main
    options: {1: [{queue: sales}], 9: [{goto: main}]}
    on_timeout: [{goto: main}]
"""
    name, lines = check(text)
    assert only(lines) == (
        f"{name}:20: loop between schemes: main -> main (main -> main through ivr 'menu' "
        "on_timeout); a call would go round forever; end one of them with a queue, voicemail "
        "or hangup instead of goto"
    )
    assert check(text.replace("    on_timeout: [{goto: main}]\n", ""))[1] == []


def test_scheme_that_goes_to_itself(check: Check) -> None:
    name, lines = check(with_steps("play: greeting", "goto: main"))
    assert only(lines) == (
        f"{name}:13: loop between schemes: main -> main; a call would go round forever; end "
        "one of them with a queue, voicemail or hangup instead of goto"
    )


QUEUE_LOOP = """\
numbers:
  - {number: "100", scheme: main}
agents:
  - {id: "201"}
schemes:
  main:
    rules:
      - name: all
        steps:
          - queue: q
queues:
  q:
    members: ["201"]
    max_length: 1
    fallback:
      - queue: q2
  q2:
    members: ["201"]
    join_empty: false
    fallback:
      - queue: q
"""


def test_a_refusing_queue_whose_fallback_joins_it_again_at_once(check: Check) -> None:
    """The simulator fuzz found such a loop spinning the server; the core now cuts the call
    off after 200 steps, and check says so before it happens."""
    name, lines = check(QUEUE_LOOP)
    assert lines == [
        f"{name}:15: queue 'q' fallback joins queue 'q2' -> queue 'q' again at once: when the "
        "queue is full or empty a caller goes round in a loop and is cut off; play a prompt "
        "before joining again, or send the call elsewhere",
        f"{name}:20: queue 'q2' fallback joins queue 'q' -> queue 'q2' again at once: when the "
        "queue is full or empty a caller goes round in a loop and is cut off; play a prompt "
        "before joining again, or send the call elsewhere",
    ]


def test_a_prompt_before_joining_again_is_no_loop(check: Check) -> None:
    prompt_first = "    fallback:\n      - play: greeting\n      - queue: q\n"
    _, lines = check(QUEUE_LOOP.replace("    fallback:\n      - queue: q\n", prompt_first))
    assert lines == []
