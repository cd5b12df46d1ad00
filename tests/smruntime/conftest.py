from __future__ import annotations

import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from smruntime.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator (endpoints ``echo``, ``tokens``, ``tokens-jsonl``; generated keys)."""
    with Emulator() as emu:
        yield emu


# random.Random(14963)'s first four draws are all below 0.08.
_SMALL_DRAWS_SEED = 14963


@pytest.fixture
def small_jitter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retry back-off jitter near zero, for boto3 (the oracle) and smruntime alike: the tests
    check which attempts are made, not how long the jittered waits are (up to 1 s, then 2 s, for
    throttling). Legacy mode and smruntime call ``random.random()``: patched to a small value.
    botocore's standard mode holds the shared generator's method from its import: the generator
    is seeded with a seed whose first draws are small. Its state is restored afterwards."""
    state = random.getstate()
    random.seed(_SMALL_DRAWS_SEED)
    monkeypatch.setattr(random, "random", lambda: 0.01)
    try:
        yield
    finally:
        random.setstate(state)


@pytest.fixture(scope="session")
def proxy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real HTTP proxy (proxy.py in a child process), one a test session."""
    pytest.importorskip("proxy")
    port_file = tmp_path_factory.mktemp("proxy") / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy",
            "--hostname",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--num-acceptors",
            "1",
            "--num-workers",
            "1",
            "--log-level",
            "ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        port = 0
        while time.monotonic() < deadline and not port:
            if port_file.exists() and port_file.read_text().strip():
                port = int(port_file.read_text().strip())
                break
            assert proc.poll() is None, "proxy.py exited"
            time.sleep(0.1)
        assert port, "proxy.py did not start"
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # listening?
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
