"""What a caller's number tells us: its normal form, its country and region, list membership.

Caller numbers come from the network, so nothing here raises on garbage. ``phonenumbers`` is
slow (tens of microseconds a parse), so the pure functions are memoised with
``functools.lru_cache``; that cache is not state we own and does not change any result.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from switchboard.config.model import Config

_CACHE = 65536
_PUNCTUATION = re.compile(r"[\s\-().\[\]/\\]")
_MASK_CHARS = re.compile(r"^\+?[0-9Xx*#]*$")


def _clean(text: str) -> str:
    """Drop spaces and the punctuation people write numbers with."""
    return _PUNCTUATION.sub("", text)


def _strip(number: str) -> str:
    """The fallback normal form: a leading ``+`` and the letters, digits, ``*`` and ``#``."""
    text = number.strip()
    body = "".join(ch for ch in text if ch.isalnum() or ch in "*#")
    return "+" + body if text.startswith("+") else body


def _parse(number: str, country: str | None) -> phonenumbers.PhoneNumber | None:
    """A possible phone number, or None (too short, garbage, no country for a national one)."""
    try:
        parsed = phonenumbers.parse(number, country.upper() if country else None)
        return parsed if phonenumbers.is_possible_number(parsed) else None
    except Exception:  # a third-party parser fed with network input must never crash routing
        return None


@lru_cache(maxsize=_CACHE)
def normalize(number: str, country: str | None) -> str:
    """E.164 (``+380671234567``) when phonenumbers reads it as a possible number (national
    formats with ``country``); otherwise the input without spaces and punctuation, keeping a
    leading ``+``. Never raises.

    Extensions and service names stay as they are: ``201`` -> ``201``,
    ``anonymous`` -> ``anonymous``.
    """
    parsed = _parse(number, country)
    if parsed is None:
        return _strip(number)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=_CACHE)
def region_of(number: str, country: str | None) -> tuple[str | None, str | None]:
    """(ISO country, English geographic description) of a number; Nones when unknown.

    The description is what phonenumbers' geocoder says for the number's range, e.g.
    ``('UA', 'Kyiv city')`` for ``+38044...``. When it knows only the country (mobiles) the
    description is None rather than the country's name. Never raises.
    """
    parsed = _parse(number, country)
    if parsed is None:
        return None, None
    try:
        region: str | None = phonenumbers.region_code_for_number(parsed)
        if region is None:  # a range the metadata does not know: trust an unshared code
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code or 0, ())
            region = regions[0] if len(regions) == 1 else None
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:  # "001": +800, +882...
            region = None
        # Imported here: its data takes ~0.6 s to load, and most runs never need it.
        from phonenumbers import geocoder

        description = geocoder.description_for_number(parsed, "en") or None
        if description is not None and description == geocoder.country_name_for_number(
            parsed, "en"
        ):
            description = None
        return region, description
    except Exception:  # see _parse
        return None, None


@lru_cache(maxsize=_CACHE)
def _variants(number: str, country: str | None) -> tuple[str, ...]:
    """Forms of a number a mask or list entry may be written in: as given, E.164, national."""
    country = country.upper() if country else None
    forms = [_clean(number), normalize(number, country)]
    parsed = _parse(number, country)
    if parsed is not None and country and phonenumbers.region_code_for_number(parsed) == country:
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms.append("".join(ch for ch in national if ch.isdigit()))
    return tuple(dict.fromkeys(forms))


@lru_cache(maxsize=4096)
def _mask_pattern(mask: str) -> re.Pattern[str]:
    parts = []
    for ch in _clean(mask):
        if ch == "*":
            parts.append(".*")
        elif ch in "Xx":
            parts.append("[0-9]")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts))


def is_mask(entry: str) -> bool:
    """Whether a list entry is a mask (``+38067*``, ``0671234XXX``) rather than a number."""
    cleaned = _clean(entry)
    return bool(_MASK_CHARS.match(cleaned)) and any(ch in "*Xx" for ch in cleaned)


def mask_matches(mask: str, number: str, country: str | None = None) -> bool:
    """Whether ``number`` fits ``mask``: ``*`` is any run of characters (``+38067*`` is a
    prefix, ``*`` is anything), ``X`` one digit, everything else itself.

    Compared with the number as given and in its normal form (and, with ``country``, in its
    national form, so ``067*`` also matches ``+38067...``); spaces and punctuation ignored.
    """
    pattern = _mask_pattern(mask)
    return any(pattern.fullmatch(form) for form in _variants(number, country))


class CallerLists:
    """The named white / black lists of the config, plus numbers added while running (W2).

    Exact numbers are kept normalised (with ``config.country``) in a set; masks are tried one
    by one. Unknown list names raise ``KeyError`` (the config check guarantees references).
    """

    def __init__(self, config: Config) -> None:
        self._country = config.country
        self._exact: dict[str, set[str]] = {}
        self._masks: dict[str, list[str]] = {}
        for name, caller_list in config.lists.items():
            exact: set[str] = set()
            masks: list[str] = []
            for entry in caller_list.numbers:
                if is_mask(entry):
                    masks.append(entry)
                else:
                    exact.add(normalize(entry, self._country))
            self._exact[name] = exact
            self._masks[name] = masks

    def contains(self, list_name: str, number: str) -> bool:
        """Whether ``number`` is on the list, as an exact entry or through a mask."""
        exact = self._list(list_name)
        forms = _variants(number, self._country)
        if any(form in exact for form in forms):
            return True
        return any(
            _mask_pattern(mask).fullmatch(form) for mask in self._masks[list_name] for form in forms
        )

    def add(self, list_name: str, number: str) -> bool:
        """Add a number (normalised); True if it was not on the list yet.

        A "number" without any digit (``anonymous``, empty) is never added: putting it on a
        white list would let every withheld caller through.
        """
        if self.contains(list_name, number):
            return False
        normal = normalize(number, self._country)
        if not any(ch.isdigit() for ch in normal):
            return False
        self._exact[list_name].add(normal)
        return True

    def names(self) -> list[str]:
        """The list names, in config order."""
        return list(self._exact)

    def _list(self, list_name: str) -> set[str]:
        try:
            return self._exact[list_name]
        except KeyError:
            raise KeyError(f"unknown caller list {list_name!r}") from None
