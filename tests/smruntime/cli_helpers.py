"""Running the ``smruntime`` command line in tests: in this process (``main(argv)``, the
default) or as a child process (``python -m smruntime``, ``process=True``).

In-process runs see what a child would: the given environment and no other, an empty stdin
unless ``input`` is given, stdout and stderr as UTF-8 pipes (not terminals), and the exit code
``main`` returns. A child process costs a Python start-up and the CLI's imports (about 0.1 s of
CPU each); the tests that need a real process (signals, the interpreter's own stdout encoding,
a server that runs until stopped, the ``python -m`` entry point) ask for one.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Optional

TIMEOUT = 60

_in_process = threading.Lock()  # sys.std* and os.environ are the process's: one run at a time


def clean_env(home: Path, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """This process's environment without AWS settings, ``home`` as HOME (no ~/.aws files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", None)
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """``--debug`` points the root logger at (this run's) stderr: undo that afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _main_in_process(
    args: list[str], env: Mapping[str, str], input: bytes
) -> tuple[int, bytes, bytes]:
    from smruntime.cli import main

    stdin = io.TextIOWrapper(io.BytesIO(input), encoding="utf-8")
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    with (
        _in_process,
        _environment(env),
        _logging_restored(),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        saved_stdin, sys.stdin = sys.stdin, stdin
        try:
            code = main(args)
        finally:
            sys.stdin = saved_stdin
            stdout.flush()
            stderr.flush()
    return code, out.getvalue(), err.getvalue()


def run_cli(
    *args: str,
    env: Mapping[str, str],
    input: Optional[bytes] = None,
    process: Optional[bool] = None,
) -> subprocess.CompletedProcess[bytes]:
    """``smruntime ARGS`` with ``env`` as its whole environment; its exit code and output.

    ``process`` defaults to a child process for ``serve`` (which, unless it refuses its
    options, runs until stopped: in a child, the timeout ends it) and to this process otherwise.
    """
    if process is None:
        process = bool(args) and args[0] == "serve" and "--help" not in args
    if process:
        return subprocess.run(
            [sys.executable, "-m", "smruntime", *args],
            input=input if input is not None else b"",
            capture_output=True,
            env=dict(env),
            timeout=TIMEOUT,
            check=False,
        )
    # argparse wraps help to the terminal's width: a child writing into a pipe gets 80 columns.
    env = {"COLUMNS": "80", **env}
    code, out, err = _main_in_process(list(args), env, input or b"")
    return subprocess.CompletedProcess(["smruntime", *args], code, out, err)


def stderr_text(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode("utf-8", "replace")


def default_sigint() -> None:
    """``preexec_fn`` for a child the test stops with SIGINT: a shell's background job starts with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so Ctrl-C would do
    nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def serving(env: Mapping[str, str], *args: str) -> Iterator[dict[str, str]]:
    """``smruntime serve --port 0 ARGS`` in a child process; yields what it printed (``stderr``)
    and its ``url`` once it printed a try: line; stopped with Ctrl-C (SIGINT) at the end."""
    found: dict[str, str] = {"stderr": ""}
    with subprocess.Popen(
        [sys.executable, "-m", "smruntime", "serve", "--port", "0", *args],
        env=dict(env),
        preexec_fn=default_sigint,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:

        def read() -> None:
            assert proc.stderr is not None
            for raw in iter(proc.stderr.readline, b""):
                found["stderr"] += raw.decode("utf-8", "replace")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + TIMEOUT
            while "try: " not in found["stderr"] and time.monotonic() < deadline:
                assert proc.poll() is None, found["stderr"]
                time.sleep(0.02)
            match = re.search(r"https?://127\.0\.0\.1:\d+", found["stderr"])
            assert match, found["stderr"]
            found["url"] = match.group(0)
            yield found
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
            reader.join(TIMEOUT)
    assert "Traceback" not in found["stderr"], found["stderr"]


def invoke_at(env: Mapping[str, str], url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``smruntime invoke ARGS`` against the emulator at ``url`` (region us-east-1)."""
    return run_cli("invoke", *args, "--endpoint-url", url, "--region", "us-east-1", env=env)
