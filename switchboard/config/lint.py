"""Config lint (MISSION B5): mistakes that validate but would misroute calls.

``lint`` reads a loaded ``Config`` and reports, each at its line with a way to fix it:
references to things that do not exist, rules that can never match, steps that can
never run, empty or overlapping schedules, queues nobody serves, unknown prompts,
loops between schemes, duplicates, and phone numbers that cannot be dialed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import holidays
import phonenumbers

from switchboard.config.loader import PathKey, Problem, SourceMap
from switchboard.config.model import (
    NOTIFY_NEEDS,
    AddToListStep,
    CallbackStep,
    Config,
    CrmOwnerStep,
    GotoStep,
    HangupStep,
    IvrStep,
    PlayStep,
    Queue,
    QueueStep,
    RejectStep,
    RingStep,
    Schedule,
    Step,
    VoicemailStep,
    WebhookStep,
    When,
    expand_days,
    step_kind,
)
from switchboard.config.prompts import DEFAULT_PROMPTS

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A number or mask once spaces and the punctuation people write numbers with are gone.
_PUNCTUATION = re.compile(r"[\s\-().\[\]/\\]")
_NUMBER_OR_MASK = re.compile(r"\+?[0-9Xx*#]+")
_REGEX = re.compile(r"[?^$|{}\[\]\\]|.\+")
# Conditions that hold for no caller when given as an empty list.
_NEVER_WHEN_EMPTY = ("days", "caller_in", "caller_matches", "caller_country", "caller_region")
_DAY = 24 * 60
# Steps after which nothing in the same list runs: the call is over or went elsewhere.
_TERMINAL = (RejectStep, HangupStep, GotoStep, VoicemailStep, IvrStep, CallbackStep)


def lint(config: Config, sources: SourceMap, base_dir: Path) -> list[Problem]:
    """Every lint problem of ``config``, sorted by line; ``base_dir`` resolves prompt files."""
    linter = _Linter(config, sources, base_dir)
    linter.run()
    return sorted(linter.problems, key=lambda p: (p.line, p.message))


@dataclass(frozen=True)
class _StepList:
    """One list of steps, where it is, and how to name it in a message."""

    path: PathKey
    steps: list[Step]
    label: str
    scheme: str | None = None


class _Linter:
    def __init__(self, config: Config, sources: SourceMap, base_dir: Path) -> None:
        self.config = config
        self.sources = sources
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.agent_ids = {a.id for a in config.agents}
        self.groups = {g for a in config.agents for g in a.groups}

    def run(self) -> None:
        self.check_numbers()
        self.check_agents()
        self.check_schedules()
        self.check_rules()
        self.check_lists()
        for steps in self.step_lists():
            self.check_steps(steps)
        self.check_queues()
        self.check_ivr_and_voicemail()
        self.check_prompt_files()
        self.check_missed_and_slots()
        self.check_notify()
        self.check_trunks()
        self.check_loops()

    # ----------------------------------------------------------------------- helpers

    def error(self, path: PathKey, message: str) -> None:
        """A name that does not exist (or cannot work): ``run`` and ``simulate`` refuse."""
        self.problems.append(self.sources.problem(path, message, "error"))

    def warn(self, path: PathKey, message: str) -> None:
        """A likely mistake the core copes with: reported, but the config still runs."""
        self.problems.append(self.sources.problem(path, message, "warning"))

    def once(self, first: dict[str, int], name: str, path: PathKey, said: str, fix: str,
             error: bool = False) -> None:
        """Remember the line where ``name`` first stands; a warning (or an error) where it
        stands again."""
        if name in first:
            report = self.error if error else self.warn
            report(path, f"{said} (first at line {first[name]}); {fix}")
        else:
            first[name] = self.line(path)

    def line(self, path: PathKey) -> int:
        return self.sources.line_for(path)

    def ref(self, path: PathKey, context: str, kind: str, name: str,
            known: Iterable[str], section: str) -> bool:
        """Report ``name`` unless it is in ``known``; True when it is known."""
        names = sorted(set(known))
        if name in names:
            return True
        # Ids and numbers that look alike are not typos of each other ('290' vs '201').
        guess = [] if name.lstrip("+").isdigit() else difflib.get_close_matches(name, names, n=1)
        if guess:
            fix = f"did you mean '{guess[0]}'?"
        elif names:
            fix = f"define it under '{section}:' or use one of: {_listing(names)}"
        else:
            fix = f"define it under '{section}:'"
        self.error(path, f"{context}: unknown {kind} '{name}'; {fix}")
        return False

    def step_lists(self) -> Iterator[_StepList]:
        for name, scheme in self.config.schemes.items():
            for i, rule in enumerate(scheme.rules):
                path = ("schemes", name, "rules", i, "steps")
                yield _StepList(path, rule.steps, f"scheme '{name}' rule '{rule.name}'", name)
        for name, queue in self.config.queues.items():
            yield _StepList(("queues", name, "fallback"), queue.fallback,
                            f"queue '{name}' fallback")
        for name, ivr in self.config.ivr.items():
            for digit, steps in ivr.options.items():
                yield _StepList(("ivr", name, "options", digit), steps,
                                f"ivr '{name}' option {digit}")
            yield _StepList(("ivr", name, "on_timeout"), ivr.on_timeout,
                            f"ivr '{name}' on_timeout")

    def reachable(self, steps: list[Step]) -> int:
        """How many steps of a list can run: up to the first that never hands back."""
        for i, step in enumerate(steps):
            if isinstance(step, _TERMINAL):
                return i + 1
            if isinstance(step, QueueStep):
                queue = self.config.queues.get(step.queue.name)
                if queue is not None and not _has_exit(queue):
                    return i + 1
        return len(steps)

    # ----------------------------------------------------------------------- numbers, agents

    def check_numbers(self) -> None:
        first: dict[str, int] = {}
        schemes = self.config.schemes
        for i, number in enumerate(self.config.numbers):
            path = ("numbers", i)
            self.once(first, number.number, (*path, "number"),
                      f"number '{number.number}' is listed twice", "remove one of them")
            context = f"number '{number.number}'"
            self.ref((*path, "scheme"), context, "scheme", number.scheme, schemes, "schemes")
            if number.overflow.scheme is not None:
                self.ref((*path, "overflow", "scheme"), f"{context} overflow", "scheme",
                         number.overflow.scheme, schemes, "schemes")
        numbers = {n.number for n in self.config.numbers}
        for i, traffic in enumerate(self.config.simulation.traffic):
            self.ref(("simulation", "traffic", i, "number"), "simulated traffic", "number",
                     traffic.number, numbers, "numbers")

    def check_agents(self) -> None:
        first: dict[str, int] = {}
        for i, agent in enumerate(self.config.agents):
            path = ("agents", i)
            self.once(first, agent.id, (*path, "id"), f"agent id '{agent.id}' is used twice",
                      "give each agent its own id")
            if agent.schedule is not None:
                self.ref((*path, "schedule"), f"agent '{agent.id}'", "schedule", agent.schedule,
                         self.config.schedules, "schedules")
            if agent.mobile is not None:
                self.phone((*path, "mobile"), f"agent '{agent.id}' mobile", agent.mobile)
        if self.config.country is not None and \
                self.config.country not in phonenumbers.SUPPORTED_REGIONS:
            self.error(("country",), f"unknown country '{self.config.country}'; use a two-letter "
                     "ISO 3166-1 code in capitals, e.g. UA, PL, US")

    def phone(self, path: PathKey, context: str, text: str) -> None:
        region = self.config.country
        try:
            parsed = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            fix = ("write it in international form (+380...) or set 'country:' at the top"
                   if region is None else "write it in international form (+380...)")
            reason = re.sub(r"^\(\d+\) ", "", str(exc)).rstrip(".")
            self.warn(path, f"{context} '{text}' is not a phone number ({reason}); {fix}")
            return
        if not phonenumbers.is_possible_number(parsed):
            self.warn(path, f"{context} '{text}' cannot be a phone number (wrong length); "
                     "check the digits and write it in international form (+380...)")

    # ----------------------------------------------------------------------- schedules

    def check_schedules(self) -> None:
        self.timezone(("timezone",), self.config.timezone)
        supported = holidays.list_supported_countries()
        for name, schedule in self.config.schedules.items():
            path = ("schedules", name)
            if schedule.timezone is not None:
                self.timezone((*path, "timezone"), schedule.timezone)
            if not _open_days(schedule):
                self.warn(path, f"schedule '{name}' is never open: add weekly hours such as "
                         "'mon-fri: 09:00-18:00' or an override with hours")
            self.overlaps(name, schedule)
            country = schedule.holidays
            if country is not None and country not in supported:
                fix = (f"write it as '{country.upper()}'" if country.upper() in supported
                       else "use an ISO 3166-1 code such as UA, PL, DE, US")
                self.error((*path, "holidays"), f"schedule '{name}': unknown holiday country "
                         f"'{country}'; {fix}")
            elif country is None and schedule.holiday_subdivision is not None:
                self.warn((*path, "holiday_subdivision"), f"schedule '{name}': "
                          "holiday_subdivision has no effect without 'holidays:' (the country); "
                          "add it or remove the subdivision")
            elif country is not None and schedule.holiday_subdivision is not None:
                subdivisions = supported[country]
                if schedule.holiday_subdivision not in subdivisions:
                    self.error((*path, "holiday_subdivision"), f"schedule '{name}': {country} has "
                             f"no subdivision '{schedule.holiday_subdivision}'; use one of: "
                             f"{_listing(subdivisions) or '(none: remove the key)'}")
            dates: dict[object, int] = {}
            for i, override in enumerate(schedule.overrides):
                where = (*path, "overrides", i)
                if override.date in dates:
                    self.warn(where, f"schedule '{name}': override for {override.date} is given "
                             f"twice (first at line {dates[override.date]}); keep one")
                dates.setdefault(override.date, self.line(where))

    def timezone(self, path: PathKey, name: str) -> None:
        try:
            zoneinfo.ZoneInfo(name)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            guess = difflib.get_close_matches(name, _timezones(), n=1)
            fix = f"did you mean '{guess[0]}'?" if guess else "use an IANA name like Europe/Kyiv"
            self.error(path, f"unknown timezone '{name}'; {fix}")

    def overlaps(self, name: str, schedule: Schedule) -> None:
        """Two ranges open on the same day at the same time: one of them is a mistake."""
        # day, start, end, "key: range", order of the key, which range
        spans: list[tuple[int, int, int, str, int, int]] = []
        for order, (key, ranges) in enumerate(schedule.weekly.items()):
            for r in ranges:
                text = f"{key}: {r.start}-{r.end}"
                for day, start, end in _day_spans(key, *r.minutes()):
                    spans.append((day, start, end, text, order, id(r)))
        clashes: dict[tuple[str, str, int], list[str]] = {}
        for i, a in enumerate(spans):
            for b in spans[i + 1 :]:
                if a[0] == b[0] and a[1] < b[2] and b[1] < a[2] and a[5] != b[5]:
                    first, second = sorted((a, b), key=lambda s: s[4])
                    days = clashes.setdefault((first[3], second[3], second[4]), [])
                    if _DAY_NAMES[a[0]] not in days:
                        days.append(_DAY_NAMES[a[0]])
        keys = list(schedule.weekly)
        for (first_text, second_text, order), days in clashes.items():
            self.warn(("schedules", name, "weekly", keys[order]),
                     f"schedule '{name}': '{second_text}' overlaps '{first_text}' on "
                     f"{', '.join(days)}; remove one or make the ranges meet without overlap")

    # ----------------------------------------------------------------------- rules

    def check_rules(self) -> None:
        for scheme_name, scheme in self.config.schemes.items():
            names: dict[str, int] = {}
            conditions: dict[str, str] = {}
            catch_all: str | None = None
            for i, rule in enumerate(scheme.rules):
                path = ("schemes", scheme_name, "rules", i)
                label = f"scheme '{scheme_name}' rule '{rule.name}'"
                self.once(names, rule.name, (*path, "name"),
                          f"scheme '{scheme_name}': rule name '{rule.name}' is used twice",
                          "rename one")
                given = rule.when.model_dump(mode="json", exclude_none=True)
                if catch_all is not None:
                    self.warn(path, f"{label} can never match: rule {catch_all} above has no "
                             "conditions and takes every call; move this rule above it or "
                             "give that rule a 'when:'")
                elif given and json.dumps(given, sort_keys=True) in conditions:
                    other = conditions[json.dumps(given, sort_keys=True)]
                    self.warn(path, f"{label} can never match: rule {other} above has the same "
                             "'when:' and takes those calls first; merge the two rules")
                if not given and catch_all is None:
                    catch_all = f"'{rule.name}' (line {self.line(path)})"
                conditions.setdefault(json.dumps(given, sort_keys=True),
                                      f"'{rule.name}' (line {self.line(path)})")
                self.check_when(path, label, rule.when)

    def check_lists(self) -> None:
        for name, caller_list in self.config.lists.items():
            for j, entry in enumerate(caller_list.numbers):
                self.mask(("lists", name, "numbers", j), f"list '{name}'", entry)

    def mask(self, path: PathKey, context: str, entry: str) -> None:
        """A list entry or ``caller_matches`` mask that no caller's number can ever fit.

        A word (``anonymous``) is kept: it is what a caller who hides the number sends.
        """
        cleaned = _PUNCTUATION.sub("", entry)
        how = "use X for one digit and * for any digits (+38067*, 0442000XXX)"
        if _REGEX.search(entry):
            self.warn(path, f"{context}: '{entry}' looks like a regular expression, which masks "
                      f"are not, so no caller matches it; {how}")
        elif not (_NUMBER_OR_MASK.fullmatch(cleaned) or cleaned.isalpha()):
            self.warn(path, f"{context}: '{entry}' is neither a number nor a mask, so no caller "
                      f"matches it; write digits with an optional leading +, {how}")

    def check_when(self, path: PathKey, label: str, when: When) -> None:
        at = (*path, "when")
        schedules, lists = self.config.schedules, self.config.lists
        for key in ("open", "closed"):
            name = getattr(when, key)
            if name is not None:
                self.ref((*at, key), label, "schedule", name, schedules, "schedules")
        for key in ("caller_in", "caller_not_in"):
            for j, name in enumerate(getattr(when, key) or []):
                self.ref((*at, key, j), label, "list", name, lists, "lists")
        for j, mask in enumerate(when.caller_matches or []):
            self.mask((*at, "caller_matches", j), f"{label} caller_matches", mask)
        for j, country in enumerate(when.caller_country or []):
            if country not in phonenumbers.SUPPORTED_REGIONS:
                fix = (f"write it as '{country.upper()}'"
                       if country.upper() in phonenumbers.SUPPORTED_REGIONS
                       else "use two-letter ISO 3166-1 codes in capitals, e.g. UA, PL, US")
                self.error((*at, "caller_country", j), f"{label}: unknown country '{country}' in "
                           f"caller_country; {fix}")
        never = "can never match"
        empty = [key for key in _NEVER_WHEN_EMPTY if getattr(when, key) == []] + \
            [f"entity.{key}" for key, values in (when.entity or {}).items() if not values]
        if empty:
            self.warn(at, f"{label} {never}: '{empty[0]}' is an empty list, which no call is in; "
                      "name at least one value or remove the condition")
        if when.open is not None and when.open == when.closed:
            self.warn(at, f"{label} {never}: schedule '{when.open}' cannot be open and closed at "
                     "once; keep 'open:' or 'closed:'")
            return
        both = set(when.caller_in or []) & set(when.caller_not_in or [])
        if both:
            self.warn(at, f"{label} {never}: the caller cannot be in and not in "
                     f"{_listing(sorted(both))}; keep one of caller_in / caller_not_in")
        days = {d for key in when.days or [] for d in expand_days(key)} if when.days else None
        shown = ", ".join(_DAY_NAMES[d] for d in sorted(days)) if days else ""
        opened = schedules.get(when.open) if when.open is not None else None
        if opened is not None and opened.timezone not in (None, self.config.timezone):
            days = None  # its weekdays are in another timezone: too loose to judge
        if opened is not None:
            open_days = _open_days(opened)
            if not open_days:
                self.warn((*at, "open"), f"{label} {never}: schedule '{when.open}' is never "
                         "open; give it weekly hours or use another schedule")
            elif days is not None and not open_days & days:
                self.warn((*at, "days"), f"{label} {never}: schedule '{when.open}' is not open "
                         f"on {shown}; change 'days:' or the schedule's hours")
        closed = schedules.get(when.closed) if when.closed is not None else None
        if closed is not None and not _closed_days(closed) & (days or set(range(7))):
            on = f" on {shown}" if days else ""
            self.warn((*at, "closed"), f"{label} {never}: schedule '{when.closed}' is open all "
                     f"day{on} and never closes; use another schedule or drop 'closed:'")

    # ----------------------------------------------------------------------- steps

    def check_steps(self, steps: _StepList) -> None:
        for j, step in enumerate(steps.steps):
            self.check_step((*steps.path, j), steps.label, step)
        cut = self.reachable(steps.steps)
        if cut < len(steps.steps):
            blocker, after = steps.steps[cut - 1], (*steps.path, cut)
            blocker_line = self.line((*steps.path, cut - 1))
            if isinstance(blocker, QueueStep):
                self.warn(after, f"{steps.label}: unreachable step: queue "
                         f"'{blocker.queue.name}' (line {blocker_line}) has no way out (no "
                         "max_wait or max_length, and leave_when_empty is off); set max_wait on "
                         "the queue or remove the steps")
            else:
                self.warn(after, f"{steps.label}: unreachable step: the '{step_kind(blocker)}' "
                         f"step above (line {blocker_line}) ends the call's path; remove the "
                         "steps after it or move them above it")

    def check_step(self, path: PathKey, label: str, step: Step) -> None:
        config, kind = self.config, step_kind(step)
        at = (*path, kind)
        if isinstance(step, PlayStep):
            for j, name in enumerate(step.play):
                self.prompt((*at, j), label, name)
        elif isinstance(step, QueueStep):
            self.ref(at, label, "queue", step.queue.name, config.queues, "queues")
        elif isinstance(step, CallbackStep):
            self.ref(at, f"{label} callback", "queue", step.callback, config.queues, "queues")
        elif isinstance(step, GotoStep):
            self.ref(at, f"{label} goto", "scheme", step.goto, config.schemes, "schemes")
        elif isinstance(step, IvrStep):
            self.ref(at, label, "ivr", step.ivr, config.ivr, "ivr")
        elif isinstance(step, VoicemailStep):
            self.ref(at, label, "voicemail box", step.voicemail, config.voicemail, "voicemail")
        elif isinstance(step, AddToListStep):
            self.ref(at, label, "list", step.add_to_list, config.lists, "lists")
        elif isinstance(step, WebhookStep):
            endpoint = step.webhook.endpoint
            if not endpoint.startswith(("http://", "https://")) and \
                    endpoint not in config.webhooks:
                guess = difflib.get_close_matches(endpoint, sorted(config.webhooks), n=1)
                fix = f"did you mean '{guess[0]}'?" if guess else \
                    "define it under 'webhooks:' or give an http:// or https:// URL"
                self.error(at, f"{label} webhook: unknown endpoint '{endpoint}'; {fix}")
        elif isinstance(step, CrmOwnerStep) and config.crm is None:
            self.error(at, f"{label}: the crm_owner step needs a 'crm:' section (url of your "
                     "CRM); add one or remove the step")
        elif isinstance(step, RingStep):
            self.check_ring(at, label, step)

    def check_ring(self, at: PathKey, label: str, step: RingStep) -> None:
        ring = step.ring
        for j, agent_id in enumerate(ring.agents):
            self.ref((*at, "agents", j), f"{label} ring", "agent", agent_id, self.agent_ids,
                     "agents")
        for j, agent_id in enumerate(ring.mobiles):
            where = (*at, "mobiles", j)
            if self.ref(where, f"{label} ring", "agent", agent_id, self.agent_ids, "agents"):
                agent = self.config.agent(agent_id)
                if agent is not None and agent.mobile is None:
                    self.warn(where, f"{label}: agent '{agent_id}' has no mobile to ring; add "
                             "'mobile: +380...' to the agent")
        for j, group in enumerate(ring.groups):
            self.group((*at, "groups", j), f"{label} ring", group)
        for j, number in enumerate(ring.numbers):
            self.phone((*at, "numbers", j), f"{label} ring number", number)

    def group(self, path: PathKey, context: str, group: str) -> None:
        if group not in self.groups:
            self.error(path, f"{context}: no agent is in group '{group}'; add "
                     f"'groups: [{group}]' to an agent or remove the group")

    def prompt(self, path: PathKey, context: str, name: str) -> None:
        known = DEFAULT_PROMPTS | set(self.config.prompts)
        if name in known:
            return
        guess = difflib.get_close_matches(name, sorted(known), n=1)
        fix = (f"did you mean '{guess[0]}'?" if guess else
               f"add it under 'prompts:' ({name}: file.wav) or use a built-in prompt")
        self.error(path, f"{context}: unknown prompt '{name}'; {fix}")

    # ----------------------------------------------------------------------- queues

    def check_queues(self) -> None:
        agents = self.config.agents
        for name, queue in self.config.queues.items():
            path, label = ("queues", name), f"queue '{name}'"
            members = set()
            for j, member in enumerate(queue.members):
                if self.ref((*path, "members", j), label, "agent", member.agent, self.agent_ids,
                            "agents"):
                    members.add(member.agent)
            for j, group in enumerate(queue.groups):
                self.group((*path, "groups", j), label, group)
            in_groups = {a.id for a in agents if set(a.groups) & set(queue.groups)}
            skilled = {a.id for a in agents if set(queue.skills) <= set(a.skills)} \
                if queue.skills else set()
            if not members | in_groups | skilled:
                self.warn(path, f"{label} has no agents: add members, or groups or skills that "
                         "some agent has")
            if queue.fallback and not _has_exit(queue):
                self.warn((*path, "fallback"), f"{label}: the fallback can never run, the queue "
                         "has no way out; set max_wait on the queue or remove the fallback")
            if queue.exit_key is not None and queue.exit_key.voicemail is not None:
                self.ref((*path, "exit_key", "voicemail"), f"{label} exit_key", "voicemail box",
                         queue.exit_key.voicemail, self.config.voicemail, "voicemail")
            if queue.adverts is not None:
                for j, prompt in enumerate(queue.adverts.prompts):
                    self.prompt((*path, "adverts", "prompts", j), f"{label} adverts", prompt)
                if not queue.adverts.prompts:
                    self.warn((*path, "adverts"), f"{label}: adverts with no prompts play "
                              "nothing; name the recordings, or remove adverts")
            if queue.music is not None:  # null: silence while waiting
                self.prompt((*path, "music"), f"{label} music", queue.music)

    def check_ivr_and_voicemail(self) -> None:
        for name, ivr in self.config.ivr.items():
            for j, prompt in enumerate(ivr.prompt):
                self.prompt(("ivr", name, "prompt", j), f"ivr '{name}'", prompt)
            if not ivr.prompt:
                self.warn(("ivr", name, "prompt"), f"ivr '{name}' has no prompt: callers hear "
                          "silence and do not know what to press; name its recordings")
            if not ivr.options:
                self.warn(("ivr", name, "options"), f"ivr '{name}' has no options: callers can "
                          "only wait for its timeout; add options, or use a play step instead")
            self.prompt(("ivr", name, "invalid_prompt"), f"ivr '{name}'", ivr.invalid_prompt)
        for name, box in self.config.voicemail.items():
            path = ("voicemail", name)
            for j, prompt in enumerate(box.greeting):
                self.prompt((*path, "greeting", j), f"voicemail '{name}' greeting", prompt)
            for j, target in enumerate(box.notify):
                self.ref((*path, "notify", j), f"voicemail '{name}'", "notification target",
                         target, self.config.notify, "notify")

    def check_prompt_files(self) -> None:
        for name, file in self.config.prompts.items():
            path = Path(file).expanduser()
            full = path if path.is_absolute() else self.base_dir / path
            if not full.is_file():
                self.error(("prompts", name), f"prompt '{name}': file '{file}' not found (looked "
                         f"for {full}); put the file there or fix the path")

    def check_missed_and_slots(self) -> None:
        missed, slots, config = self.config.missed, self.config.callback_slots, self.config
        for j, target in enumerate(missed.notify):
            self.ref(("missed", "notify", j), "missed", "notification target", target,
                     config.notify, "notify")
        if missed.head_agent is not None:
            self.ref(("missed", "head_agent"), "missed head_agent", "agent", missed.head_agent,
                     self.agent_ids, "agents")
        if missed.callback_queue is not None:
            self.ref(("missed", "callback_queue"), "missed callback_queue", "queue",
                     missed.callback_queue, config.queues, "queues")
        if slots.schedule is not None:
            self.ref(("callback_slots", "schedule"), "callback_slots", "schedule",
                     slots.schedule, config.schedules, "schedules")
        if slots.queue is not None:
            self.ref(("callback_slots", "queue"), "callback_slots", "queue", slots.queue,
                     config.queues, "queues")

    def check_notify(self) -> None:
        for name, target in self.config.notify.items():
            for channel, needs in NOTIFY_NEEDS.items():
                spec: dict[str, str] | None = getattr(target, channel)
                missing = [key for key in needs if not (spec or {}).get(key)] if spec else []
                if missing:
                    self.warn(("notify", name, channel), f"notification target '{name}': "
                              f"{channel} has no {' or '.join(missing)}, so nothing is sent "
                              f"to it; add {', '.join(missing)}")

    def check_trunks(self) -> None:
        first: dict[str, int] = {}
        for i, trunk in enumerate(self.config.trunks):
            path = ("trunks", i)
            # An error: the trunks' resolved addresses are kept by name.
            self.once(first, trunk.name, (*path, "name"), f"trunk name '{trunk.name}' is used "
                      "twice", "give each trunk its own name", error=True)
            for j, source in enumerate(trunk.inbound_from):
                try:
                    ipaddress.ip_address(source.strip("[]"))
                except ValueError:
                    self.error((*path, "inbound_from", j), f"trunk '{trunk.name}' inbound_from: "
                               f"'{source}' is not an IP address, so no call would come from it; "
                               "list the addresses the provider calls from (a name goes in host)")
            if trunk.caller_id is not None:
                self.phone((*path, "caller_id"), f"trunk '{trunk.name}' caller_id",
                           trunk.caller_id)

    # ----------------------------------------------------------------------- loops

    def check_loops(self) -> None:
        """A cycle of gotos between schemes sends a call round forever.

        A scheme goes to another by a goto in its steps, or in the steps it leads to without
        the caller choosing: a queue's fallback, an IVR's on_timeout (a menu option is the
        caller's choice, and "back to the main menu" is a loop on purpose).
        """
        # scheme -> scheme it goes to -> (where the goto is, what it goes through)
        edges: dict[str, dict[str, tuple[PathKey, str]]] = {
            name: {} for name in self.config.schemes}
        for steps in self.step_lists():
            if steps.scheme is not None:
                self.gotos(steps.path, steps.steps, "", edges[steps.scheme], set())
        for cycle in _cycles({k: sorted(v) for k, v in edges.items()}):
            hops = [(a, b, *edges[a][b]) for a, b in pairwise(cycle)]
            through = "; ".join(f"{a} -> {b} through {via}" for a, b, _, via in hops if via)
            self.warn(hops[0][2], f"loop between schemes: {' -> '.join(cycle)}"
                      f"{f' ({through})' if through else ''}; a call would go round forever; "
                      "end one of them with a queue, voicemail or hangup instead of goto")

    def gotos(self, path: PathKey, steps: list[Step], via: str,
              found: dict[str, tuple[PathKey, str]], seen: set[PathKey]) -> None:
        """Collect the schemes ``steps`` go to by themselves (see ``check_loops``)."""
        config = self.config
        for j, step in enumerate(steps[: self.reachable(steps)]):
            nested: tuple[PathKey, list[Step], str] | None = None
            if isinstance(step, GotoStep) and step.goto in config.schemes:
                found.setdefault(step.goto, ((*path, j, "goto"), via))
            elif isinstance(step, QueueStep):
                queue = config.queues.get(step.queue.name)
                if queue is not None and _has_exit(queue):
                    nested = (("queues", step.queue.name, "fallback"), queue.fallback,
                              f"queue '{step.queue.name}' fallback")
            elif isinstance(step, IvrStep) and step.ivr in config.ivr:
                nested = (("ivr", step.ivr, "on_timeout"), config.ivr[step.ivr].on_timeout,
                          f"ivr '{step.ivr}' on_timeout")
            if nested is not None and nested[0] not in seen:
                seen.add(nested[0])
                self.gotos(nested[0], nested[1], via or nested[2], found, seen)


# --------------------------------------------------------------------------- pure helpers


def _has_exit(queue: Queue) -> bool:
    """Whether a caller can leave the queue to its fallback and the next step.

    Not by an answer or hanging up, and not by the exit key either: that leads to a
    callback or voicemail, never back to the steps.
    """
    return (queue.max_wait is not None or queue.max_length is not None
            or queue.leave_when_empty or not queue.join_empty)


def _day_spans(key: str, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(day, start, end) minutes for a weekly range; one that passes midnight is split."""
    start, end = min(start, _DAY), min(end, _DAY)
    for day in expand_days(key):
        if start < end:
            yield day, start, end
        else:
            yield day, start, _DAY
            if end > 0:
                yield (day + 1) % 7, 0, end


def _open_days(schedule: Schedule) -> set[int]:
    """Weekdays on which the schedule is open at some moment (a range past midnight counts)."""
    days = {day for key, ranges in schedule.weekly.items() for r in ranges
            for day, start, end in _day_spans(key, *r.minutes()) if start < end}
    return days | {o.date.weekday() for o in schedule.overrides if o.hours}


def _closed_days(schedule: Schedule) -> set[int]:
    """Weekdays on which the schedule can be closed at some moment."""
    if schedule.holidays or schedule.overrides:
        return set(range(7))  # a holiday or a one-off day can close any weekday
    covered: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    for key, ranges in schedule.weekly.items():
        for r in ranges:
            for day, start, end in _day_spans(key, *r.minutes()):
                covered[day].append((start, end))
    closed = set()
    for day, spans in covered.items():
        reach = 0
        for start, end in sorted(spans):
            if start > reach:
                break
            reach = max(reach, end)
        if reach < _DAY:
            closed.add(day)
    return closed


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each elementary cycle once, starting at its smallest node, closed: [a, b, a]."""
    found: list[list[str]] = []

    def visit(start: str, node: str, trail: list[str]) -> None:
        for target in graph.get(node, []):
            if target == start:
                found.append([*trail, start])
            elif target > start and target not in trail and len(found) < 50:
                visit(start, target, [*trail, target])

    for start in sorted(graph):
        visit(start, start, [start])
    return found


@cache
def _timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _listing(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")
