from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
# scripts/mutate.py runs the tests once per mutant: fewer examples, the same ones every run.
settings.register_profile(
    "mutate",
    derandomize=True,
    deadline=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.hookimpl(optionalhook=True)  # without xdist (-p no:xdist) pytest would refuse the name
def pytest_xdist_auto_num_workers(config: object) -> int:
    """``-n auto``: two workers a core. Half the suite's time is spent waiting on loopback peers
    and deadlines, not computing, so a second worker per core overlaps the waits (on the 2-core
    reference machine: 42 s instead of 59 s)."""
    return 2 * (os.cpu_count() or 1)
