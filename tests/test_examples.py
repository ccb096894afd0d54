"""The shipped example configs: each loads, passes ``check`` and simulates a sensible day.

DESIGN.md promises one example per scenario of MISSION.md, each passing ``switchboard
check`` and ``switchboard simulate``; the demo also carries the contract that ``switchboard
run`` and SIPp tests rely on. The simulations run with a fixed seed, so the figures are
reproducible; the assertions are about what every sane day must show (calls answered,
outcomes adding up) and about each scenario's features really being exercised.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from switchboard.cli import app
from switchboard.config.check import check_file
from switchboard.config.loader import demo_config_path, load_config
from switchboard.config.model import Config, QueueStep, VoicemailStep
from switchboard.core.commands import Decision
from switchboard.core.events import CallArrived
from switchboard.core.switchboard import Switchboard
from switchboard.sim.simulator import SimResult, run_simulation

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "switchboard" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))
SEED = 1

# MISSION seed -> example; plus the demo of DESIGN.md.
SCENARIOS = {
    "demo.yaml": "DESIGN: the demo `switchboard run` starts with",
    "queue_announcements.yaml": "seed 000: call queue",
    "crm_webhook_escalation.yaml": "seed 001: CRM owner, webhook routing, escalation",
    "three_shops.yaml": "seed 002: one operator, three shops",
    "missed_callbacks.yaml": "seed 003: missed calls",
    "after_hours.yaml": "seed 004: after hours",
}

# What the traffic of each example must exercise: (scheme, rule) pairs that must match at
# least once and Decision steps that must occur. Rules that only fire when one particular
# listed number happens to call (black list, VIP masks, regions) depend on which callers the
# simulator draws, so they are not required here; test_three_shops_rule_for_caller checks
# them call by call instead.
MUST_MATCH: dict[str, set[tuple[str, str]]] = {
    "demo.yaml": {("shop", "everyone")},
    "queue_announcements.yaml": {
        ("sales", "open"), ("sales", "after_hours"), ("service", "open"),
    },
    "crm_webhook_escalation.yaml": {
        ("website", "after_hours"), ("website", "service_pages"),
        ("website", "english_speaking"), ("website", "shoppers"), ("catalogue", "callers"),
        ("escalation", "chain"), ("english", "english"), ("after_hours", "closed"),
    },
    "three_shops.yaml": {
        ("shops", "after_hours"), ("shops", "new_caller"), ("shops", "customers"),
        ("wholesale", "known_customers"), ("wholesale", "everybody_else"),
    },
    "missed_callbacks.yaml": {
        ("reception", "open"), ("reception", "closed"), ("lab", "open"), ("lab_busy", "busy"),
    },
    "after_hours.yaml": {
        ("main", "office_hours"), ("main", "saturday_duty"), ("main", "after_hours"),
        ("claims", "desk_hours"), ("claims", "night"), ("critical", "duty_adjusters"),
    },
}
MUST_STEP: dict[str, set[str]] = {
    "demo.yaml": {"queue", "voicemail"},
    "queue_announcements.yaml": {"queue", "callback", "voicemail"},
    "crm_webhook_escalation.yaml": {"crm_owner", "webhook", "ring", "goto", "queue", "voicemail"},
    "three_shops.yaml": {"add_to_list", "ring", "queue", "ivr", "reject", "voicemail"},
    "missed_callbacks.yaml": {"queue", "callback", "overflow", "voicemail"},
    "after_hours.yaml": {"queue", "ring", "ivr", "goto", "voicemail", "callback"},
}


def _id(path: Path) -> str:
    return path.name


@pytest.fixture(scope="module")
def simulated() -> dict[str, SimResult]:
    """One seeded run per example, shared by the tests below (a run takes a second or so)."""
    return {
        path.name: run_simulation(load_config(path), SEED, label=path.name, keep_decisions=True)
        for path in EXAMPLES
    }


# --------------------------------------------------------------------------- the folder


def test_every_scenario_has_an_example() -> None:
    names = {p.name for p in EXAMPLES}
    missing = {name: why for name, why in SCENARIOS.items() if name not in names}
    assert not missing, f"examples missing from {EXAMPLES_DIR}: {missing}"
    assert set(MUST_MATCH) == set(SCENARIOS) == set(MUST_STEP)


def test_root_examples_is_the_packaged_folder() -> None:
    root_examples = ROOT / "examples"
    assert root_examples.resolve() == EXAMPLES_DIR.resolve()
    assert demo_config_path().resolve() == (EXAMPLES_DIR / "demo.yaml").resolve()


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_passes_check(path: Path) -> None:
    problems = check_file(path)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_passes_check_command(path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(": ok")


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_is_realistic(path: Path) -> None:
    config = load_config(path)
    assert config.timezone == "Europe/Kyiv"
    assert config.country == "UA"
    assert config.simulation.traffic, "an example must bring its own simulated traffic"
    if config.schedules:
        assert any(s.holidays == "UA" for s in config.schedules.values()), \
            "opening hours follow the Ukrainian public holidays"
    for agent in config.agents:
        assert agent.password and len(agent.password) >= 8, f"agent {agent.id}: weak password"


# --------------------------------------------------------------------------- simulate


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_simulates_a_sensible_day(path: Path, simulated: dict[str, SimResult]) -> None:
    result = simulated[path.name]
    kpis = result.kpis
    assert kpis["calls"] > 0
    assert kpis["answered"] > 0
    assert (kpis["answered"] + kpis["missed"] + kpis["rejected"] + kpis["completed"]
            == kpis["calls"])
    assert kpis["answered"] / kpis["calls"] > 0.5, "most calls of a realistic day are answered"
    assert kpis["unfinished"] == 0
    assert len(result.calls) == kpis["calls"]
    sl = kpis["service_level"]
    assert sl is not None and 0.0 <= sl <= 1.0
    assert not result.warnings, f"the core broke the protocol: {dict(result.warnings)}"
    assert kpis["wall_seconds"] < 10, "an example must simulate in a few seconds"


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_traffic_exercises_its_features(path: Path,
                                                simulated: dict[str, SimResult]) -> None:
    result = simulated[path.name]
    matched = Counter(
        (str(d.details.get("scheme")), d.rule) for d in result.decisions
        if d.step == "rule" and d.rule is not None
    )
    steps = Counter(d.step for d in result.decisions)
    never_matched = sorted(MUST_MATCH[path.name] - set(matched))
    assert not never_matched, f"rules never matched in the simulated day: {never_matched}"
    never_ran = sorted(MUST_STEP[path.name] - set(steps))
    assert not never_ran, f"steps never taken in the simulated day: {never_ran}"


@pytest.mark.parametrize("path", EXAMPLES, ids=_id)
def test_example_calls_never_run_out_of_steps(path: Path,
                                              simulated: dict[str, SimResult]) -> None:
    # Every step list of the examples ends in a step that ends the call (voicemail, ivr,
    # goto, callback, reject, hangup) or in a queue whose fallback does: a call whose steps
    # "ran out" was dropped by mistake.
    decisions = simulated[path.name].decisions
    ran_out = [d for d in decisions if d.step == "end"]
    if ran_out:
        first = ran_out[0].channel_id
        trail = "\n".join(
            f"  {d.at:.1f} {d.step}: {d.summary}" for d in decisions if d.channel_id == first
        )
        pytest.fail(f"{len(ran_out)} calls ran out of steps; the first, {first}:\n{trail}")


def test_missed_callbacks_day_shows_callbacks_and_exhaustion(
    simulated: dict[str, SimResult],
) -> None:
    kpis = simulated["missed_callbacks.yaml"].kpis
    assert kpis["callback_outcomes"].get("connected", 0) > 0  # M1
    assert kpis["channel_exhausted"] > 0  # Q9 / P4
    assert kpis["integrations"].get("notifications", 0) > 0  # M3
    assert kpis["integrations"].get("crm_tasks", 0) > 0  # M5


def test_three_shops_day_grows_the_white_list(simulated: dict[str, SimResult]) -> None:
    kpis = simulated["three_shops.yaml"].kpis
    assert kpis["integrations"].get("list_additions", 0) > 0  # W2
    assert kpis["rejected"] > 0  # W2: wholesale line for known customers only


@pytest.mark.parametrize(("caller", "rule"), [
    ("+380322970101", "western_regions"),  # Lviv: 'Bryukhovichi/Lviv, Lviv'
    ("+380332720505", "western_regions"),  # Volyn: 'Lutsk, Volyn'
    ("+380342550202", "western_regions"),  # 'Ivano-Frankivsk'
    ("+380442770303", "new_caller"),  # Kyiv landline: not the west
    ("+380675000777", "vip"),  # matches the VIP mask +38067500*
    ("+380501110001", "blacklisted"),
])
def test_three_shops_rule_for_caller(caller: str, rule: str) -> None:
    # W3 / W4 / W2 on one example, through the real core, on Monday 30 November 2026 10:00.
    config = load_config(EXAMPLES_DIR / "three_shops.yaml")
    monday_10 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Europe/Kyiv")).timestamp()
    core = Switchboard(config, random.Random(1))
    out = core.handle(CallArrived("c1", "+380443901001", caller), monday_10)
    matched = [cmd.rule for cmd in out if isinstance(cmd, Decision) and cmd.step == "rule"]
    assert matched == [rule], [cmd for cmd in out if isinstance(cmd, Decision)]


def test_after_hours_day_leaves_voicemail(simulated: dict[str, SimResult]) -> None:
    kpis = simulated["after_hours.yaml"].kpis
    assert kpis["voicemails"] > 0  # M4
    assert kpis["integrations"].get("crm_tasks", 0) > 0  # M5


# --------------------------------------------------------------------------- the demo contract


def _demo() -> Config:
    return load_config(EXAMPLES_DIR / "demo.yaml")


def test_demo_number_100_goes_to_a_queue_of_201_202_203() -> None:
    config = _demo()
    number = config.number("100")
    assert number is not None and number.name == "Demo shop"
    assert number.channels is None, "SIPp load tests must not hit a channel limit"
    rules = config.schemes[number.scheme].rules
    assert len(rules) == 1 and rules[0].when.model_dump(exclude_none=True) == {}, \
        "the demo must route at any hour (tests run at any time of day)"
    queue_steps = [s for s in rules[0].steps if isinstance(s, QueueStep)]
    assert len(queue_steps) == 1
    queue = config.queues[queue_steps[0].queue.name]
    members = {m.agent for m in queue.members}
    assert members == {"201", "202", "203"}
    assert queue.announce is not None and queue.announce.position and queue.announce.eta
    assert queue.adverts is not None and queue.adverts.prompts
    assert queue.whisper.wait_time and queue.whisper.number_name
    assert queue.max_wait is not None
    assert any(isinstance(s, VoicemailStep) for s in queue.fallback)


def test_demo_agents_have_passwords_and_local_trunk_needs_none() -> None:
    config = _demo()
    assert {a.id for a in config.agents} == {"201", "202", "203"}
    assert all(a.password for a in config.agents)
    local = [t for t in config.trunks if "127.0.0.1" in t.inbound_from]
    assert local, "calls from 127.0.0.1 must be accepted as coming from a trunk"
    assert local[0].host == "127.0.0.1" and local[0].password is None


def test_simulate_command_runs_the_demo_by_default(tmp_path: Path) -> None:
    out = tmp_path / "kpis.json"
    result = CliRunner().invoke(app, ["simulate", "--json", str(out)])
    assert result.exit_code == 0, result.output
    kpis = json.loads(out.read_text())
    for key in ("calls", "answered", "abandoned", "missed", "lost", "callbacks",
                "service_level", "asa", "mean_wait", "p90_wait", "per_queue",
                "events_per_second"):
        assert key in kpis, key
    assert kpis["calls"] > 0
