"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import pytest

#: The media drivers the listening tests run against; each maps to the ``media:`` section
#: that selects it in a config file.
MEDIA_DRIVERS = {
    "inprocess": "",
    "rtpengine": "\nmedia:\n  driver: rtpengine\n",
}


@pytest.fixture(params=sorted(MEDIA_DRIVERS))
def media_yaml(request: pytest.FixtureRequest) -> str:
    """The ``media:`` section (YAML, possibly empty) that selects one media driver; append
    it to a test's config. Tests taking this fixture run once per driver."""
    return MEDIA_DRIVERS[request.param]
