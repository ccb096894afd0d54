"""Suite-wide settings.

Hypothesis fails an example that takes longer than its ``deadline`` (200 ms by default): a
timing assertion, which the house rules keep out of unit tests (performance is measured in
``benchmarks/``; blow-ups are caught by counting work, ``tests/complexity.py``). On a loaded
CI machine it fails correct code, so no test has a deadline.
"""

from hypothesis import settings

settings.register_profile("switchboard", deadline=None)
settings.load_profile("switchboard")
