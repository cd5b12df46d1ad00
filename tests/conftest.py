from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from pathlib import Path

import pytest

# Where the environment sets PYTHONDONTWRITEBYTECODE (this machine's does), nothing is cached:
# every xdist worker rewrites the asserts of every test module afresh (about 3 s of CPU a worker,
# each run) and every child process a test starts compiles the packages again. The test run keeps
# its bytecode (in the git-ignored __pycache__ folders) unless SMRUNTIME_TESTS_NO_BYTECODE is set:
# scripts/mutate.py sets it, since a mutant of the same size written in the same second could
# otherwise run from the last mutant's .pyc. Set before Hypothesis is imported: pytest rewrites the
# asserts of every module of a package that has a pytest plugin, Hypothesis's too (0.7 s of CPU a
# process), and keeps the result beside the package's own bytecode only if it may write it.
if not os.environ.get("SMRUNTIME_TESTS_NO_BYTECODE"):
    sys.dont_write_bytecode = False

from hypothesis import HealthCheck, settings

# At exit the interpreter's last garbage collections walk every object still alive (each xdist
# worker holds botocore's models, Hypothesis, LangChain...): about a second of CPU a worker, all
# workers at once at the end of the run. Frozen objects are skipped; nothing is left to report then.
atexit.register(gc.freeze)


def pytest_configure(config: pytest.Config) -> None:
    """The first run of a fresh checkout (or of another Python) under xdist: every worker would
    rewrite the asserts of every test module at the same time (3 s of CPU each). The controller
    imports them once instead, before the workers start, and they read the bytecode it kept."""
    if sys.dont_write_bytecode or hasattr(config, "workerinput"):
        return
    if not config.getoption("numprocesses", None):
        return
    here = Path(__file__).resolve().parent
    modules = sorted(here.rglob("test_*.py"))
    tag = sys.implementation.cache_tag
    cold = [p for p in modules if not any((p.parent / "__pycache__").glob(f"{p.stem}.{tag}*"))]
    if len(cold) * 4 < len(modules):
        return  # not a fresh checkout (for this Python): the workers rewrite only what changed
    root = str(here.parent)
    added = root not in sys.path
    if added:
        sys.path.insert(0, root)
    try:
        for path in cold:
            try:
                importlib.import_module(
                    ".".join(path.relative_to(here.parent).with_suffix("").parts)
                )
            except (Exception, pytest.skip.Exception):  # noqa: BLE001 - reported by a worker
                pass
    finally:
        if added:
            sys.path.remove(root)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported and collected so far (pytest's items, Hypothesis, botocore...) lives to
    the end of the run: frozen, it is skipped by every later garbage collection, which otherwise
    walks it all again each time (a sixth of a worker's CPU)."""
    gc.collect()
    gc.freeze()


settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
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
