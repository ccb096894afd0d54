"""Rule matching: which rule of a scheme applies to a call, and why the others did not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from switchboard.config.model import Config, Rule, Scheme, When
from switchboard.core.callerinfo import CallerLists, mask_matches, region_of
from switchboard.core.schedule import Calendar

_WORD = re.compile(r"\w+")


def _region_matches(names: list[str], region: str | None) -> bool:
    """Whether a configured region name is the geocoder's description or whole words of it.

    phonenumbers describes ranges as ``Kyiv city``, ``Boguslav, Kyiv`` or
    ``Dnipropetrovsk/Dnipro``; ``Kyiv`` must match the first two and ``Dnipro`` the third,
    while ``Kyi`` matches none. Case-insensitive.
    """
    if region is None:
        return False
    words = _WORD.findall(region.casefold())
    for name in names:
        wanted = _WORD.findall(name.casefold())
        n = len(wanted)
        if n and any(words[i:i + n] == wanted for i in range(len(words) - n + 1)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What rules can look at."""

    caller: str
    raw_caller: str
    dialed: str
    known: bool
    entities: dict[str, str]


class RuleMatcher:
    """Evaluates ``when`` conditions against a call at a time."""

    def __init__(self, config: Config, calendar: Calendar, lists: CallerLists) -> None:
        self.config = config
        self.calendar = calendar
        self.lists = lists

    def first_match(
        self, scheme: Scheme, facts: CallFacts, now: float
    ) -> tuple[Rule | None, list[tuple[str, str]]]:
        """The first rule whose conditions hold, and (rule, why not) for the ones before it."""
        passed: list[tuple[str, str]] = []
        for rule in scheme.rules:
            why_not = self.why_not(rule.when, facts, now)
            if why_not is None:
                return rule, passed
            passed.append((rule.name, why_not))
        return None, passed

    def why_not(self, when: When, facts: CallFacts, now: float) -> str | None:
        """None when every condition holds, else the first one that fails."""
        cal = self.calendar
        if when.open is not None and not cal.is_open(when.open, now):
            return f"schedule {when.open} is closed"
        if when.closed is not None and cal.is_open(when.closed, now):
            return f"schedule {when.closed} is open"
        if when.days is not None and not cal.day_matches(when.days, now):
            return f"not on {', '.join(when.days)}"
        if when.caller_in is not None and not any(
            self.lists.contains(n, facts.caller) for n in when.caller_in
        ):
            return f"caller not in {', '.join(when.caller_in)}"
        if when.caller_not_in is not None:
            for name in when.caller_not_in:
                if self.lists.contains(name, facts.caller):
                    return f"caller is in {name}"
        if when.caller_matches is not None and not any(
            mask_matches(m, facts.raw_caller, self.config.country)
            or mask_matches(m, facts.caller, self.config.country)
            for m in when.caller_matches
        ):
            return "caller matches no mask"
        if when.caller_country is not None or when.caller_region is not None:
            country, region = region_of(facts.caller, self.config.country)
            if when.caller_country is not None and country not in when.caller_country:
                return f"caller country {country or 'unknown'} not in list"
            if when.caller_region is not None and not _region_matches(when.caller_region, region):
                return f"caller region {region or 'unknown'} not in list"
        if when.known_caller is not None and when.known_caller != facts.known:
            return "caller is known" if facts.known else "caller is new"
        if when.entity is not None:
            for key, values in when.entity.items():
                if facts.entities.get(key) not in values:
                    return f"entity {key}={facts.entities.get(key)!r} not in {values}"
        return None
