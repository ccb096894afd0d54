"""Caller numbers: normal form, region (W3), masks (W4), white / black lists (W2)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.config.model import Config
from switchboard.core.callerinfo import CallerLists, is_mask, mask_matches, normalize, region_of


def make_config(lists: dict[str, Any], country: str | None = "UA") -> Config:
    return Config.model_validate(
        {
            "country": country,
            "numbers": [{"number": "100", "scheme": "main"}],
            "schemes": {"main": {"rules": [{"name": "all", "steps": [{"hangup": True}]}]}},
            "lists": lists,
        }
    )


# --------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("number", "country", "expected"),
    [
        ("0671234567", "UA", "+380671234567"),
        ("067 123 45 67", "UA", "+380671234567"),
        ("(067) 123-45-67", "ua", "+380671234567"),
        ("+380 (67) 123-45-67", None, "+380671234567"),
        ("00380671234567", "UA", "+380671234567"),
        ("380671234567", "UA", "+380671234567"),
        ("044 234 5678", "UA", "+380442345678"),
        ("+1 (212) 555-1234", "UA", "+12125551234"),
        ("(212) 555-1234", "US", "+12125551234"),
        # not parseable as a phone number: stripped of spaces and punctuation
        ("0671234567", None, "0671234567"),
        ("067-123-45-67", None, "0671234567"),
        ("201", "UA", "201"),  # an extension is not a Ukrainian number
        ("anonymous", "UA", "anonymous"),
        ("", "UA", ""),
        ("+", None, "+"),
    ],
)
def test_normalize(number: str, country: str | None, expected: str) -> None:
    assert normalize(number, country) == expected


# --------------------------------------------------------------------------- region_of


def test_region_of_a_kyiv_landline() -> None:
    # phonenumbers' English geocoding data calls the area of +38044 "Kyiv city"
    assert region_of("+380442345678", None) == ("UA", "Kyiv city")
    assert region_of("044 234 56 78", "UA") == ("UA", "Kyiv city")
    assert region_of("+380 32 123 4567", None) == ("UA", "Lviv")


def test_region_of_a_mobile_is_the_country_only() -> None:
    # the geocoder only knows "Ukraine" for mobiles: that is no region
    assert region_of("+380671234567", None) == ("UA", None)
    assert region_of("0671234567", "UA") == ("UA", None)


def test_region_of_foreign_numbers() -> None:
    assert region_of("+12125551234", "UA") == ("US", "New York, NY")
    assert region_of("+1 650 253 0000", None) == ("US", "Mountain View, CA")
    assert region_of("+4930123456", "UA") == ("DE", "Berlin")


def test_region_of_what_is_not_a_number() -> None:
    assert region_of("anonymous", "UA") == (None, None)
    assert region_of("201", "UA") == (None, None)
    assert region_of("0671234567", None) == (None, None)  # national, no country to read it
    assert region_of("+80012345678", None) == (None, None)  # international freephone


GARBAGE = [
    "",
    " ",
    "+",
    "++--",
    "()",
    "sip:alice@example.com",
    "\x00\xff",
    "9" * 300,
    "+" + "1" * 40,
    "0671234567 ext. 99999999999999",
    "١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits
    "+380 67 123 45 67 #",
    "*#06#",
]


@pytest.mark.parametrize("number", GARBAGE)
@pytest.mark.parametrize("country", [None, "UA", "US", "ZZ", "", "not a country"])
def test_garbage_never_raises(number: str, country: str | None) -> None:
    assert isinstance(normalize(number, country), str)
    iso, place = region_of(number, country)
    assert iso is None or isinstance(iso, str)
    assert place is None or isinstance(place, str)
    assert isinstance(mask_matches("+38067*", number, country), bool)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=40), st.sampled_from([None, "UA", "US", "XX"]))
def test_any_text_never_raises(number: str, country: str | None) -> None:
    normalize(number, country)
    region_of(number, country)
    mask_matches("0671234XXX", number, country)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    ("mask", "number", "country", "expected"),
    [
        ("+38067*", "+380671234567", None, True),
        ("+38067*", "+380501234567", None, False),
        ("+38067*", "+38067", None, True),  # '*' may be empty
        ("+38067*", "0671234567", "UA", True),  # via the normal form
        ("+38067*", "0671234567", None, False),  # no country: cannot tell
        ("067*", "+380671234567", "UA", True),  # via the national form
        ("067*", "+380671234567", None, False),
        ("067*", "+12125551234", "UA", False),
        ("0671234XXX", "0671234567", None, True),
        ("0671234XXX", "067 123 4567", None, True),  # spaces ignored
        ("0671234xxx", "0671234567", None, True),
        ("0671234XXX", "067123456", None, False),  # one digit short
        ("0671234XXX", "06712345678", None, False),  # one digit long
        ("0671234XXX", "0671234a67", None, False),  # X is a digit only
        ("+380 67 123 XX XX", "+380671234567", None, True),
        ("*", "+380671234567", None, True),
        ("*", "anonymous", None, True),
        ("*", "", None, True),
        ("0671234567", "0671234567", None, True),  # exact
        ("0671234567", "06712345678", None, False),  # exact is not a prefix
        ("067 123-45-67", "+380671234567", "UA", True),
        ("+380*567", "+380671234567", None, True),  # '*' anywhere
        ("1+2", "112", None, False),  # no regex leaks through
    ],
)
def test_mask_matches(mask: str, number: str, country: str | None, expected: bool) -> None:
    assert mask_matches(mask, number, country) is expected


def test_is_mask() -> None:
    assert is_mask("+38067*")
    assert is_mask("0671234XXX")
    assert is_mask("*")
    assert not is_mask("0671234567")
    assert not is_mask("+380 67 123 45 67")
    assert not is_mask("max")  # a name with an x is not a mask


# --------------------------------------------------------------------------- lists


LISTS = {
    "vip": {"numbers": ["+38067*", "050 111 22 33", "0441234XXX"]},
    "black": {"numbers": ["+380931112233", "anonymous"]},
    "white": {"numbers": [], "auto_add_new": True},
}


def test_lists_contain_numbers_in_any_form() -> None:
    lists = CallerLists(make_config(LISTS))
    assert lists.names() == ["vip", "black", "white"]
    assert lists.contains("vip", "+380501112233")
    assert lists.contains("vip", "0501112233")
    assert lists.contains("vip", "380501112233")
    assert not lists.contains("vip", "+380501112234")
    assert lists.contains("vip", "0671234567")  # mask, national form
    assert lists.contains("vip", "+380671234567")
    assert lists.contains("vip", "+380441234999")  # 0441234XXX against the national form
    assert not lists.contains("vip", "+380442234999")
    assert lists.contains("black", "093 111 22 33")
    assert lists.contains("black", "anonymous")
    assert not lists.contains("black", "+380501112233")
    assert not lists.contains("white", "+380501112233")


def test_adding_to_a_list() -> None:
    lists = CallerLists(make_config(LISTS))
    assert lists.add("white", "0931234567")
    assert lists.contains("white", "+380931234567")
    assert lists.contains("white", "093 123 45 67")
    assert not lists.add("white", "+380931234567")  # already there, in another form
    assert not lists.add("vip", "+380679999999")  # a mask covers it already
    assert lists.add("vip", "+12125551234")
    assert lists.contains("vip", "+1 212 555 1234")
    assert not lists.contains("black", "0931234567")  # lists are separate


def test_numbers_without_digits_are_never_added() -> None:
    lists = CallerLists(make_config(LISTS))
    assert not lists.add("white", "anonymous")
    assert not lists.add("white", "")
    assert not lists.contains("white", "anonymous")


def test_lists_without_a_default_country() -> None:
    lists = CallerLists(make_config(LISTS, country=None))
    assert lists.contains("vip", "+380671234567")  # the mask is written internationally
    assert not lists.contains("vip", "0671234567")  # national: nothing to read it with
    assert lists.contains("vip", "050 111 22 33")  # the entry as written


def test_unknown_list_is_a_misuse() -> None:
    lists = CallerLists(make_config(LISTS))
    with pytest.raises(KeyError, match="nope"):
        lists.contains("nope", "+380671234567")
    with pytest.raises(KeyError, match="nope"):
        lists.add("nope", "+380671234567")
