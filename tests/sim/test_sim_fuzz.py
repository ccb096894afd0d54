"""Property-based fuzz of the simulator: random valid configs, run, check the KPIs add up.

``configs()`` builds config dicts over the whole catalogue (numbers with channel limits and
overflow, agents with shifts incl. overnight ones, mobiles, skills and groups; queues with
every strategy, announcements, adverts, exit keys, penalties, max wait / length; schemes
whose rules look at weekdays, schedules, holidays, lists and VIP masks and whose steps are
of every kind; IVR menus, voicemail, missed-call callbacks; and a small simulated day or
two). Each one must pass ``switchboard check``'s errors (lint), then run twice with one
seed and give the same KPIs, which must be consistent with each other, with the
``CallFinished`` records and with the definitions in ``switchboard/sim/kpi.py``; the JSON
must serialise and the HTML report render without a 'nan' or 'None' where a figure goes.

CI runs ``SB_FUZZ_EXAMPLES`` (default 40, about 40 s) derandomized examples; hunt with,
say, ``SB_FUZZ_EXAMPLES=2000 SB_FUZZ_RANDOM=1 pytest tests/sim/test_sim_fuzz.py`` (a run
is about a second; shrinking a failure can take minutes). What it found is in
test_fuzz_findings.py and tests/core/test_core_fuzz.py.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from switchboard.config.lint import lint
from switchboard.config.loader import load_config_text
from switchboard.config.model import STEP_KINDS, Config
from switchboard.sim.command import _finite
from switchboard.sim.report import render_report
from switchboard.sim.simulator import SimResult, run_simulation
from switchboard.sim.traffic import hour_grid

EXAMPLES = int(os.environ.get("SB_FUZZ_EXAMPLES", "40"))
VOLATILE = {"wall_seconds", "events_per_second", "calls_per_second"}
EPS = 1e-9

AGENT_IDS = [str(201 + i) for i in range(8)]
GROUPS = ["sales", "service", "night"]
SKILLS = ["en", "uk", "tech"]
NUMBERS = ["+380443900100", "+380443900200", "+380443900300"]
MOBILES = [f"+3806711122{i:02d}" for i in range(8)]
# Numbers a ring step dials over the trunk; two are agents' mobiles (when they have one).
EXTERNAL = ["+380501234567", "+380672223344", MOBILES[1], MOBILES[4]]
PROMPTS = ["greeting", "after_hours", "all_busy", "advert", "goodbye", "ivr_main",
           "thanks_for_waiting", "closed_holiday"]
STRATEGIES = ["ring_all", "round_robin", "linear", "random", "weighted_random",
              "longest_idle", "fewest_calls", "least_talk_time"]
# Dates around the catalogue's corners: a Monday, a weekend, Christmas and New Year (UA
# holidays/overrides), and the DST changes in Europe (Mar 29 / Oct 25 2026) and the US.
DATES = ["2026-11-23", "2026-11-28", "2026-12-24", "2026-12-31", "2026-03-28",
         "2026-10-24", "2026-03-07"]
TIMEZONES = ["UTC", "Europe/Kyiv", "America/New_York"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "mon-fri", "sat-sun", "fri-mon"]
RANGES = ["09:00-18:00", "08:00-14:00", "14:00-22:00", "22:00-06:00", "00:00-24:00",
          "20:00-02:00", "10:00-10:30", "07:30-19:45"]


# --------------------------------------------------------------------------- strategies


@st.composite
def schedule(draw: st.DrawFn) -> dict[str, Any]:
    weekly = draw(st.dictionaries(st.sampled_from(DAYS),
                                  st.lists(st.sampled_from(RANGES), min_size=1, max_size=2,
                                           unique=True),
                                  min_size=1, max_size=3))
    out: dict[str, Any] = {"weekly": weekly}
    if draw(st.booleans()):
        out["holidays"] = draw(st.sampled_from(["UA", "PL", "US"]))
    if draw(st.booleans()):
        out["timezone"] = draw(st.sampled_from(TIMEZONES))
    if draw(st.booleans()):
        out["overrides"] = [{
            "date": draw(st.sampled_from(["2026-12-25", "2027-01-01", "2026-11-24",
                                          "2026-03-29"])),
            "hours": draw(st.lists(st.sampled_from(RANGES), max_size=1)),
        }]
    return out


def dist(mean_low: float, mean_high: float) -> st.SearchStrategy[dict[str, Any]]:
    mean = st.floats(mean_low, mean_high, allow_nan=False).map(lambda x: round(x, 1))
    return st.one_of(
        st.builds(lambda m: {"kind": "exponential", "mean": m}, mean),
        st.builds(lambda m: {"kind": "fixed", "mean": m}, mean),
        st.builds(lambda m, s: {"kind": "lognormal", "mean": max(m, 1.0), "sd": s}, mean,
                  st.floats(1, 200).map(lambda x: round(x, 1))),
        st.builds(lambda lo, w: {"kind": "uniform", "low": lo, "high": lo + w},
                  st.floats(0, mean_high).map(lambda x: round(x, 1)),
                  st.floats(0, mean_high).map(lambda x: round(x, 1))),
    )


@dataclasses.dataclass(frozen=True)
class Names:
    """What the config being drawn defines, for steps to refer to."""

    agents: list[str]
    mobiles: list[str]  # agents with a mobile
    groups: list[str]
    queues: list[str]
    joinable: list[str]  # the queues a queue step may join
    schemes: list[str]
    ivrs: list[str]
    voicemails: list[str]
    lists: list[str]
    crm: bool


@st.composite
def step(draw: st.DrawFn, names: Names) -> dict[str, Any]:
    # Weighted to the steps that reach agents, so that most calls get somewhere.
    # (The first kind is what hypothesis tries first and shrinks towards.)
    kinds = ["queue", "queue", "queue"] if names.joinable else []
    kinds += ["ring", "ring", "play", "reject", "hangup", "webhook"]
    kinds += ["callback"] if names.queues else []
    kinds += ["voicemail"] if names.voicemails else []
    kinds += ["ivr", "ivr"] if names.ivrs else []
    kinds += ["goto"] if names.schemes else []
    kinds += ["add_to_list"] if names.lists else []
    kinds += ["crm_owner"] if names.crm else []
    kind = draw(st.sampled_from(kinds))
    assert kind in STEP_KINDS
    if kind == "play":
        return {"play": draw(st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=2))}
    if kind == "reject":
        return {"reject": draw(st.one_of(st.none(), st.sampled_from([403, 486, 603]),
                                         st.just({"code": 480, "reason": "Closed"})))}
    if kind == "hangup":
        return {"hangup": True}
    if kind == "webhook":
        return {"webhook": {"endpoint": "router",
                            "timeout": draw(st.sampled_from([0.5, 2, 5])),
                            "ring_timeout": draw(st.sampled_from([5, 20]))}}
    if kind == "ring":
        ring: dict[str, Any] = {}
        if names.agents and draw(st.booleans()):
            ring["agents"] = draw(st.lists(st.sampled_from(names.agents), min_size=1,
                                           max_size=3, unique=True))
        if names.groups and draw(st.booleans()):
            ring["groups"] = draw(st.lists(st.sampled_from(names.groups), min_size=1,
                                           max_size=2, unique=True))
        if names.mobiles and draw(st.booleans()):
            ring["mobiles"] = draw(st.lists(st.sampled_from(names.mobiles), min_size=1,
                                            max_size=2, unique=True))
        if draw(st.booleans()) or not ring:
            ring["numbers"] = draw(st.lists(st.sampled_from(EXTERNAL), min_size=1,
                                            max_size=2, unique=True))
        ring["timeout"] = draw(st.sampled_from([5, 15, 30]))
        ring["strategy"] = draw(st.sampled_from(["ring_all", "linear"]))
        ring["whisper"] = draw(st.booleans())
        return {"ring": ring}
    if kind == "queue":
        name = draw(st.sampled_from(names.joinable))
        priority = draw(st.sampled_from([0, 0, 5, 10, -1]))
        return {"queue": name if priority == 0 else {"name": name, "priority": priority}}
    if kind == "callback":
        return {"callback": draw(st.sampled_from(names.queues))}
    if kind == "voicemail":
        return {"voicemail": draw(st.sampled_from(names.voicemails))}
    if kind == "ivr":
        return {"ivr": draw(st.sampled_from(names.ivrs))}
    if kind == "goto":
        return {"goto": draw(st.sampled_from(names.schemes))}
    if kind == "add_to_list":
        return {"add_to_list": draw(st.sampled_from(names.lists))}
    return {"crm_owner": draw(st.one_of(st.none(), st.just({"timeout": 1, "ring_timeout": 10})))}


def steps(names: Names, min_size: int = 1, max_size: int = 4
          ) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(step(names), min_size=min_size, max_size=max_size)


@st.composite
def when(draw: st.DrawFn, schedules: list[str], lists: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    options = ["days", "caller_matches", "known_caller", "caller_country", "entity"]
    options += ["open", "closed"] if schedules else []
    options += ["caller_in", "caller_not_in"] if lists else []
    for key in draw(st.lists(st.sampled_from(options), max_size=2, unique=True)):
        if key in ("open", "closed"):
            out[key] = draw(st.sampled_from(schedules))
        elif key == "days":
            out[key] = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=2))
        elif key == "caller_matches":  # VIP masks
            out[key] = draw(st.lists(st.sampled_from(["+38067*", "+3805077777XX", "+38050*",
                                                      "0442000XXX"]), min_size=1, max_size=2))
        elif key == "known_caller":
            out[key] = draw(st.booleans())
        elif key == "caller_country":
            out[key] = [draw(st.sampled_from(["UA", "PL"]))]
        elif key == "entity":
            out[key] = {"page": draw(st.lists(st.sampled_from(["home", "cart"]), min_size=1))}
        else:
            out[key] = [draw(st.sampled_from(lists))]
    return out


@st.composite
def queue(draw: st.DrawFn, names: Names, name: str) -> dict[str, Any]:
    q: dict[str, Any] = {"strategy": draw(st.sampled_from(STRATEGIES))}
    if names.agents and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names.agents), min_size=1, max_size=4,
                                unique=True))
        q["members"] = [a if draw(st.booleans()) else
                        {"agent": a, "penalty": draw(st.integers(0, 2))} for a in members]
    if names.groups and (draw(st.booleans()) or "members" not in q):
        q["groups"] = draw(st.lists(st.sampled_from(names.groups), min_size=1, max_size=2,
                                    unique=True))
    if draw(st.booleans()):
        q["skills"] = draw(st.lists(st.sampled_from(SKILLS), max_size=1))
    q["ring_timeout"] = draw(st.sampled_from([5, 15, 30]))
    q["retry"] = draw(st.sampled_from([0, 2, 10]))
    q["wrapup"] = draw(st.sampled_from([0, 5, 30]))
    if draw(st.booleans()):
        q["max_wait"] = draw(st.sampled_from([30, 90, 300]))
    if draw(st.booleans()):
        q["max_length"] = draw(st.integers(1, 3))
    q["join_empty"] = draw(st.sampled_from([True, False]))
    q["leave_when_empty"] = draw(st.booleans())
    if draw(st.booleans()):
        q["announce"] = {"position": draw(st.booleans()), "eta": draw(st.booleans()),
                         "first_after": draw(st.sampled_from([0, 15])),
                         "every": draw(st.sampled_from([20, 60]))}
    if draw(st.booleans()):
        q["adverts"] = {"prompts": ["advert"], "every": draw(st.sampled_from([30, 90])),
                        "first_after": draw(st.sampled_from([0, 20]))}
    q["music"] = draw(st.sampled_from(["music_on_hold", None]))
    q["whisper"] = {"wait_time": draw(st.booleans()), "number_name": draw(st.booleans())}
    if draw(st.booleans()):
        action = draw(st.sampled_from(["callback", "voicemail"]))
        key: dict[str, Any] = {"digit": draw(st.sampled_from(["1", "2", "*"])),
                               "action": action}
        if action == "voicemail" and names.voicemails:
            key["voicemail"] = draw(st.sampled_from(names.voicemails))
        q["exit_key"] = key
    # A fallback may join any queue, this one too: a queue that refuses a caller (full, or
    # empty with join_empty false) and joins itself again looped in zero time until the
    # memory ran out (found here); the core now ends such a call (MAX_STEPS_AT_ONCE).
    q["fallback"] = draw(steps(dataclasses.replace(names, joinable=names.queues), 0, 2))
    q["service_level"] = draw(st.sampled_from([10, 20, 60]))
    q["record"] = draw(st.booleans())
    return q


@st.composite
def traffic(draw: st.DrawFn, number: str) -> dict[str, Any]:
    shape = draw(st.sampled_from(["dict", "list", "flat"]))
    # The simplest examples (what hypothesis tries first) have calls.
    rate = st.sampled_from([4, 1, 8, 0.5, 0]) | st.floats(0, 8).map(lambda x: round(x, 2))
    if shape == "dict":
        hours = st.one_of(st.integers(10, 19), st.integers(0, 23))  # mostly office hours
        cph: Any = draw(st.dictionaries(hours, rate, min_size=1, max_size=8))
    elif shape == "list":
        cph = draw(st.lists(st.sampled_from([1, 0, 2, 0, 4]), min_size=24, max_size=24))
    else:
        cph = draw(st.sampled_from([1, 0.3, 1.5]) | st.floats(0, 1.5).map(lambda x: round(x, 2)))
    out: dict[str, Any] = {
        "number": number,
        "calls_per_hour": cph,
        "handling": draw(dist(0, 400)),
        "patience": draw(st.one_of(st.none(), dist(0, 300))),
        "known_callers": draw(st.sampled_from([0, 0.3, 1])),
        "repeat_callers": draw(st.sampled_from([0, 0.2, 1])),
        "ivr_digits": draw(st.dictionaries(st.sampled_from(["1", "2", "3", "*", "9"]),
                                           st.sampled_from([0.1, 0.3, 0.6]), max_size=3)),
    }
    if draw(st.booleans()):
        out["weekday_factor"] = draw(st.lists(st.sampled_from([1, 0.5, 2, 0]), min_size=7,
                                              max_size=7))
    if draw(st.booleans()):
        out["entities"] = {"page": {"home": 0.5, "cart": 0.3}}
    return out


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    schedules = {f"sched{i}": draw(schedule()) for i in range(draw(st.integers(0, 2)))}
    sched_names = list(schedules)
    agents: list[dict[str, Any]] = []
    for agent_id in AGENT_IDS[: draw(st.integers(1, 8))]:
        agent: dict[str, Any] = {"id": agent_id}
        if sched_names and draw(st.integers(0, 2)) == 0:
            agent["schedule"] = draw(st.sampled_from(sched_names))
        if draw(st.booleans()):
            agent["mobile"] = MOBILES[int(agent_id) - 201]
        agent["skills"] = draw(st.lists(st.sampled_from(SKILLS), max_size=2, unique=True))
        agent["groups"] = draw(st.lists(st.sampled_from(GROUPS), max_size=2, unique=True))
        if draw(st.integers(0, 3)) == 0:
            agent["weight"] = draw(st.sampled_from([0.5, 3]))
        if draw(st.integers(0, 3)) == 0:
            agent["ring_timeout"] = draw(st.sampled_from([4, 25]))
        if draw(st.integers(0, 3)) == 0:
            agent["wrapup"] = draw(st.sampled_from([0, 12]))
        if draw(st.integers(0, 3)) == 0:
            agent["retry"] = draw(st.sampled_from([0, 30]))
        agent["status"] = draw(st.sampled_from(["available"] * 4 + ["break", "offline"]))
        agents.append(agent)
    lists: dict[str, Any] = {}
    if draw(st.booleans()):
        lists["white"] = {"kind": "white", "numbers": ["+380671112233", "+38067*"],
                          "auto_add_new": draw(st.booleans())}
    if draw(st.booleans()):
        lists["black"] = {"kind": "black", "numbers": ["+380501110001", "+38050*"]}
    if draw(st.booleans()):
        lists["seen"] = {"auto_add_new": draw(st.booleans())}
    queue_names = [f"q{i}" for i in range(draw(st.integers(0, 3)))]
    scheme_names = [f"s{i}" for i in range(draw(st.integers(1, 3)))]
    ivr_names = [f"menu{i}" for i in range(draw(st.integers(0, 2)))]
    vm_names = [f"vm{i}" for i in range(draw(st.integers(0, 2)))]
    crm = draw(st.booleans())
    names = Names(
        agents=[a["id"] for a in agents], mobiles=[a["id"] for a in agents if "mobile" in a],
        groups=sorted({g for a in agents for g in a["groups"]}), queues=queue_names,
        joinable=queue_names, schemes=scheme_names, ivrs=ivr_names, voicemails=vm_names,
        lists=list(lists), crm=crm,
    )

    numbers = []
    for number in NUMBERS[: draw(st.integers(1, 3))]:
        n: dict[str, Any] = {"number": number, "scheme": draw(st.sampled_from(scheme_names)),
                             "record": draw(st.booleans())}
        if draw(st.booleans()):
            n["channels"] = draw(st.integers(1, 4))
            if draw(st.booleans()):
                n["overflow"] = {"action": "scheme",
                                 "scheme": draw(st.sampled_from(scheme_names))}
            else:
                n["overflow"] = {"action": "reject", "code": draw(st.sampled_from([486, 503]))}
        numbers.append(n)

    schemes = {}
    for name in scheme_names:
        rules = []
        count = draw(st.integers(1, 3))
        for i in range(count):
            rule: dict[str, Any] = {"name": f"r{i}", "steps": draw(steps(names))}
            # The last rule mostly catches every call; a call no rule takes is refused.
            if draw(st.booleans()) if i < count - 1 else draw(st.integers(0, 3)) == 0:
                rule["when"] = draw(when(sched_names, list(lists)))
            rules.append(rule)
        schemes[name] = {"rules": rules}
    queues = {name: draw(queue(names, name)) for name in queue_names}
    ivr = {
        name: {
            "prompt": draw(st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=2)),
            "options": draw(st.dictionaries(st.sampled_from(["1", "2", "3", "*"]),
                                            steps(names, 1, 3), min_size=1, max_size=3)),
            "timeout": draw(st.sampled_from([2, 5])),
            "retries": draw(st.integers(0, 2)),
            "on_timeout": draw(steps(names, 0, 2)),
        }
        for name in ivr_names
    }
    voicemail = {name: {"max_length": draw(st.sampled_from([10, 120])), "notify": ["chat"],
                        "crm_task": draw(st.booleans())} for name in vm_names}
    missed: dict[str, Any] = {"notify": draw(st.lists(st.just("chat"), max_size=1)),
                              "crm_task": draw(st.booleans())}
    if queue_names and draw(st.booleans()):
        missed.update({
            "auto_callback": True,
            "callback_queue": draw(st.sampled_from(queue_names)),
            "give_up_after": draw(st.sampled_from([60, 300])),
            "agent_timeout": draw(st.sampled_from([5, 20])),
            "customer_timeout": draw(st.sampled_from([10, 30])),
            "priority": draw(st.integers(-2, 2)),
        })
    if draw(st.booleans()):
        missed["head_agent"] = draw(st.sampled_from(names.agents))

    config: dict[str, Any] = {
        "timezone": draw(st.sampled_from(TIMEZONES)),
        "country": "UA",
        "language": draw(st.sampled_from(["en", "uk", "ru"])),
        "numbers": numbers,
        "agents": agents,
        "schedules": schedules,
        "lists": lists,
        "schemes": schemes,
        "queues": queues,
        "ivr": ivr,
        "voicemail": voicemail,
        "webhooks": {"router": {"url": "https://example.com/route"}},
        "notify": {"chat": {"telegram": {"chat_id": "1", "bot_token": "0:x"}}},
        "missed": missed,
        "simulation": {
            "start": draw(st.sampled_from(DATES)),
            "days": draw(st.integers(1, 2)),
            "traffic": [draw(traffic(n["number"])) for n in numbers if draw(st.booleans())]
            or [draw(traffic(numbers[0]["number"]))],
            "agents": {
                "answer_delay": draw(dist(0, 10)),
                "no_answer": draw(st.sampled_from([0, 0.1, 0.5, 1])),
                "breaks_per_day": draw(st.integers(0, 3)),
                "break_minutes": draw(st.sampled_from([5, 30])),
            },
            "webhook": {"latency": draw(st.sampled_from([0, 0.3, 3])),
                        "failure_rate": draw(st.sampled_from([0, 0.2, 1]))},
            "crm": {"latency": draw(st.sampled_from([0, 0.4, 5])),
                    "failure_rate": draw(st.sampled_from([0, 0.2, 1])),
                    "owner_known": draw(st.sampled_from([0, 0.5, 1]))},
            "customer_answers": draw(st.sampled_from([0, 0.7, 1])),
            "voicemail_share": draw(st.sampled_from([0, 0.5, 1])),
            "prompt_seconds": draw(st.sampled_from([1, 4])),
        },
    }
    if draw(st.integers(0, 3)) == 0:
        config["simulation"]["max_calls"] = draw(st.integers(1, 30))
    if crm:
        config["crm"] = {"url": "https://crm.example.com", "timeout": 2}
    if sched_names and draw(st.booleans()):
        config["callback_slots"] = {"schedule": draw(st.sampled_from(sched_names)),
                                    "queue": draw(st.sampled_from(queue_names or [None]))}
    return config


def checked(data: dict[str, Any]) -> Config:
    """The config as ``simulate`` would accept it (lint errors refuse it, like load_checked)."""
    config, sources = load_config_text(json.dumps(data), "fuzz.yaml")
    errors = [p for p in lint(config, sources, Path(".")) if p.severity == "error"]
    assume(not errors)
    return config


# --------------------------------------------------------------------------- properties


def stable(kpis: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kpis.items() if k not in VOLATILE}


def in_unit(value: Any, what: str) -> None:
    assert value is None or (isinstance(value, float | int) and -EPS <= value <= 1 + EPS), \
        f"{what} = {value!r} is not a ratio"


def no_nan(value: Any, where: str = "kpis") -> None:
    if isinstance(value, float):
        assert not math.isnan(value), f"NaN at {where}"
    elif isinstance(value, dict):
        for k, v in value.items():
            no_nan(v, f"{where}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            no_nan(v, f"{where}[{i}]")


def check_records(result: SimResult) -> None:
    """Each CallFinished is one inbound call, once, with sane times."""
    ids = Counter(r.call_id for r in result.calls)
    assert not [i for i, n in ids.items() if n > 1], "a call finished twice"
    for r in result.calls:
        assert r.ended >= r.arrived - EPS, r
        assert r.wait >= -EPS and r.talk >= -EPS and r.hold >= -EPS, r
        if r.outcome == "answered":
            assert r.answered_at is not None and r.answered_at >= r.arrived - EPS, r
        if r.reason == "abandoned":
            assert r.outcome == "missed", r


def check_kpis(config: Config, result: SimResult) -> None:
    k = result.kpis
    records = result.calls
    outcomes = Counter(r.outcome for r in records)
    reasons = Counter(r.reason for r in records)
    # Counts (kpi.py: CallFinished outcomes; unfinished = arrivals without one).
    assert k["unfinished"] >= 0
    assert k["calls"] == k["answered"] + k["missed"] + k["rejected"] + k["completed"] \
        + k["unfinished"]
    for key in ("answered", "missed", "rejected", "completed"):
        assert k[key] == outcomes[key], key
    assert k["abandoned"] == reasons["abandoned"] <= k["missed"]
    assert k["reasons"] == dict(sorted(reasons.items()))
    assert sum(k["reasons"].values()) == k["calls"] - k["unfinished"]
    # Waits: ASA over answered, mean / p90 over answered and abandoned.
    answered_waits = [r.wait for r in records if r.outcome == "answered"]
    waits = [r.wait for r in records if r.outcome == "answered" or r.reason == "abandoned"]
    if waits:
        assert k["mean_wait"] is not None and k["p90_wait"] is not None
        assert min(waits) - EPS <= k["mean_wait"] <= max(waits) + EPS
        assert min(waits) - EPS <= k["p90_wait"] <= max(waits) + EPS
        assert k["p90_wait"] >= sorted(waits)[(len(waits) - 1) // 2] - EPS  # >= the median
        assert math.isclose(k["mean_wait"], sum(waits) / len(waits), rel_tol=1e-9,
                            abs_tol=1e-9)
    else:
        assert k["mean_wait"] is None and k["p90_wait"] is None
    if answered_waits:
        assert math.isclose(k["asa"], sum(answered_waits) / len(answered_waits),
                            rel_tol=1e-9, abs_tol=1e-9)
    else:
        assert k["asa"] is None
    # Ratios.
    for key in ("service_level", "occupancy"):
        in_unit(k[key], key)
    if k["answered"] == 0 and k["abandoned"] == 0:
        assert k["service_level"] is None
    # Per hour and heatmaps add up to the totals.
    hours = k["per_hour"]
    for key in ("calls", "answered", "abandoned"):
        assert sum(row[key] for row in hours) == k[key], f"per_hour {key}"
    staff = len(config.agents)
    for row in hours:
        in_unit(row["service_level"], "per_hour service_level")
        in_unit(row["occupancy"], "per_hour occupancy")
        assert -EPS <= row["agents_on"] <= staff + EPS, row
        assert -EPS <= row["agents_by_mobile"] <= staff + EPS, row
        assert row["mean_wait"] is None or row["mean_wait"] >= -EPS
    heat = k["heatmap"]
    assert sum(map(sum, heat["calls"])) == k["calls"]
    assert sum(map(sum, heat["missed"])) == k["missed"]
    assert sum(heat["days_observed"]) == config.simulation.days
    # Queues: inbound callers only, each answered once at most.
    per_queue = k["per_queue"]
    assert sum(q["answered"] for q in per_queue.values()) <= k["answered"]
    assert sum(q["abandoned"] for q in per_queue.values()) <= k["abandoned"]
    for name, q in per_queue.items():
        assert q["calls"] == sum(q["exits"].values()), name
        assert q["answered"] == q["exits"].get("answered", 0), name
        assert q["abandoned"] == q["exits"].get("abandoned", 0), name
        assert q["timeout"] == q["exits"].get("timeout", 0), name
        in_unit(q["service_level"], f"{name} service_level")
        for key in ("asa", "mean_wait", "p90_wait"):
            assert q[key] is None or q[key] >= -EPS, (name, key)
    # Agents.
    per_agent = k["per_agent"]
    assert set(per_agent) == {a.id for a in config.agents}
    assert sum(a["answered"] for a in per_agent.values()) <= k["answered"]
    assert sum(a["callbacks"] for a in per_agent.values()) <= k["callbacks"]
    for agent, a in per_agent.items():
        in_unit(a["occupancy"], f"agent {agent} occupancy")
        assert a["talk_time"] >= -EPS and a["not_answered"] >= 0
        assert a["avg_answer"] is None or a["avg_answer"] >= -EPS
    # Callbacks, lost, numbers.
    assert k["callbacks"] == k["callback_outcomes"].get("connected", 0)
    missed_numbers = {r.caller for r in records if r.outcome != "answered"}
    assert 0 <= k["lost"] <= len(missed_numbers)
    assert sum(n["calls"] for n in k["per_number"].values()) == k["calls"]
    assert sum(n["exhausted"] for n in k["per_number"].values()) == k["channel_exhausted"]
    assert 0 <= k["voicemails"] <= k["calls"] - k["unfinished"]
    for number, n in k["per_number"].items():
        assert 0 <= n["exhausted"] <= n["calls"], number
    for name, acc in k["eta_accuracy"].items():
        in_unit(acc["under_announced"], f"eta {name} under_announced")
        assert acc["mae"] is None or acc["mae"] >= -EPS
        # Each answered caller given an estimate has one error at least.
        assert acc["callers"] <= min(acc["n"], k["answered"]), (name, acc)
    grid = hour_grid(config, config.simulation.days)
    slots = Counter((grid.weekday[i], grid.hour[i]) for i in range(grid.hours))
    # Rates per real hour (a DST change repeats or skips a local hour): all calls again.
    assert math.isclose(sum(row["calls_per_hour"] * slots[row["weekday"], row["hour"]]
                            for row in k["staffing"]), k["calls"], abs_tol=1e-6)
    for row in k["staffing"]:
        assert row["agents_needed"] >= 0 and row["channels_needed"] >= 0
        if row["agent_calls_per_hour"] == 0:
            assert row["agents_needed"] == 0, row
        if row["calls_per_hour"] == 0:
            assert row["channels_needed"] == 0, row
        assert row["agent_calls_per_hour"] <= row["calls_per_hour"] + EPS
        assert -EPS <= row["agents_on"] <= staff + EPS, row
        assert -EPS <= row["agents_by_mobile"] <= staff + EPS, row
        assert math.isclose(row["agents_reachable"], row["agents_on"] + row["agents_by_mobile"])
    # Every caller with a patience hangs up at last, or talks, or leaves a message: none is
    # still on the line a day after the last arrival.
    if all(t.patience is not None for t in config.simulation.traffic):
        assert k["unfinished"] == 0, "callers left on the line for ever"
    # The world saw the core break the protocol (ring a busy agent, reuse a channel...).
    assert k["warnings"] == {}, k["warnings"]
    no_nan(k)


# Words in the report's text where a figure should be: Python's None / nan / inf leaking.
LEAK = re.compile(r"\b(nan|NaN|None|inf|-inf|Infinity)\b")


def check_outputs(kpis: dict[str, Any]) -> None:
    json.dumps(_finite(kpis), allow_nan=False)  # what `simulate --json` writes
    json.dumps(kpis, allow_nan=False)  # kpi.py: finish() returns a JSON-serialisable dict
    page = render_report(kpis, "fuzz")
    text = html.unescape(re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S))
    leaks = LEAK.findall(text)
    assert not leaks, f"{leaks[:5]} in the report text"
    attrs = " ".join(html.unescape(a) for a in re.findall(r'="([^"]*)"', page))
    leaks = LEAK.findall(attrs)
    assert not leaks, f"{leaks[:5]} in the report's attributes (coordinates, tooltips)"


def simulate_and_check(data: dict[str, Any], seed: int) -> None:
    config = checked(data)
    first = run_simulation(config, seed, lambda _: None)
    second = run_simulation(config, seed)
    assert stable(first.kpis) == stable(second.kpis), "same seed, different KPIs"
    check_records(first)
    check_kpis(config, first)
    check_outputs(first.kpis)


@settings(
    max_examples=EXAMPLES,
    derandomize=not os.environ.get("SB_FUZZ_RANDOM"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    database=None,
)
@given(data=configs(), seed=st.integers(0, 2**16))
def test_random_configs_simulate_consistently(data: dict[str, Any], seed: int) -> None:
    simulate_and_check(data, seed)
