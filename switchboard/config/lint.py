"""Config lint (MISSION B5): mistakes that validate but would misroute calls.

``lint`` reads a loaded ``Config`` and reports, each at its line with a way to fix it:
references to things that do not exist, rules that can never match, steps that can
never run, empty or overlapping schedules, queues nobody serves, unknown prompts,
loops between schemes, duplicates, and phone numbers that cannot be dialed.

This module runs the checks and holds the references, rules, steps, queues and the rest;
the schedule checks are in ``lint_schedules.py`` and the call-flow ones (unreachable
steps, loops between schemes) in ``lint_flow.py``, functions that take the ``Linter``.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import phonenumbers

from switchboard.config.lint_flow import (
    check_loops,
    check_queue_loops,
    check_unreachable,
    has_exit,
)
from switchboard.config.lint_schedules import DAY_NAMES, check_schedules, closed_days, open_days
from switchboard.config.loader import PathKey, Problem, SourceMap
from switchboard.config.model import (
    NOTIFY_NEEDS,
    AddToListStep,
    CallbackStep,
    Config,
    CrmOwnerStep,
    GotoStep,
    IvrStep,
    PlayStep,
    QueueStep,
    RingStep,
    Step,
    VoicemailStep,
    WebhookStep,
    When,
    expand_days,
    step_kind,
)
from switchboard.config.prompts import DEFAULT_PROMPTS

# A number or mask once spaces and the punctuation people write numbers with are gone.
_PUNCTUATION = re.compile(r"[\s\-().\[\]/\\]")
_NUMBER_OR_MASK = re.compile(r"\+?[0-9Xx*#]+")
_REGEX = re.compile(r"[?^$|{}\[\]\\]|.\+")
# Conditions that hold for no caller when given as an empty list.
_NEVER_WHEN_EMPTY = ("days", "caller_in", "caller_matches", "caller_country", "caller_region")


def lint(config: Config, sources: SourceMap, base_dir: Path) -> list[Problem]:
    """Every lint problem of ``config``, sorted by line; ``base_dir`` resolves prompt files."""
    linter = Linter(config, sources, base_dir)
    linter.run()
    return sorted(linter.problems, key=lambda p: (p.line, p.message))


@dataclass(frozen=True)
class StepList:
    """One list of steps, where it is, and how to name it in a message."""

    path: PathKey
    steps: list[Step]
    label: str
    scheme: str | None = None


class Linter:
    """Runs the checks and collects their problems; the helpers report at a path's line."""

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
        check_schedules(self)
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
        check_loops(self)
        check_queue_loops(self)

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
            fix = f"define it under '{section}:' or use one of: {self.listing(names)}"
        else:
            fix = f"define it under '{section}:'"
        self.error(path, f"{context}: unknown {kind} '{name}'; {fix}")
        return False

    @staticmethod
    def listing(names: Iterable[str], limit: int = 8) -> str:
        """Names for a message, the first ``limit`` of them: ``a, b, c (and 4 more)``."""
        names = list(names)
        shown = ", ".join(names[:limit])
        return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")

    def step_lists(self) -> Iterator[StepList]:
        for name, scheme in self.config.schemes.items():
            for i, rule in enumerate(scheme.rules):
                path = ("schemes", name, "rules", i, "steps")
                yield StepList(path, rule.steps, f"scheme '{name}' rule '{rule.name}'", name)
        for name, queue in self.config.queues.items():
            yield StepList(("queues", name, "fallback"), queue.fallback,
                            f"queue '{name}' fallback")
        for name, ivr in self.config.ivr.items():
            for digit, steps in ivr.options.items():
                yield StepList(("ivr", name, "options", digit), steps,
                                f"ivr '{name}' option {digit}")
            yield StepList(("ivr", name, "on_timeout"), ivr.on_timeout,
                            f"ivr '{name}' on_timeout")

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
                     f"{self.listing(sorted(both))}; keep one of caller_in / caller_not_in")
        days = {d for key in when.days or [] for d in expand_days(key)} if when.days else None
        shown = ", ".join(DAY_NAMES[d] for d in sorted(days)) if days else ""
        opened = schedules.get(when.open) if when.open is not None else None
        if opened is not None and opened.timezone not in (None, self.config.timezone):
            days = None  # its weekdays are in another timezone: too loose to judge
        if opened is not None:
            opened_on = open_days(opened)
            if not opened_on:
                self.warn((*at, "open"), f"{label} {never}: schedule '{when.open}' is never "
                         "open; give it weekly hours or use another schedule")
            elif days is not None and not opened_on & days:
                self.warn((*at, "days"), f"{label} {never}: schedule '{when.open}' is not open "
                         f"on {shown}; change 'days:' or the schedule's hours")
        closed = schedules.get(when.closed) if when.closed is not None else None
        if closed is not None and not closed_days(closed) & (days or set(range(7))):
            on = f" on {shown}" if days else ""
            self.warn((*at, "closed"), f"{label} {never}: schedule '{when.closed}' is open all "
                     f"day{on} and never closes; use another schedule or drop 'closed:'")

    # ----------------------------------------------------------------------- steps

    def check_steps(self, steps: StepList) -> None:
        for j, step in enumerate(steps.steps):
            self.check_step((*steps.path, j), steps.label, step)
        check_unreachable(self, steps)

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
            if queue.fallback and not has_exit(queue):
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
