"""Writing to stdout and stderr: data, JSON, one-line messages, and the broken-pipe exit."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

from smruntime.cli._format import dumps


def err(message: str) -> None:
    """Write one line to stderr (never raises: stderr may be closed too)."""
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def out_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def out_json(value: Any, *, indent: Optional[int] = None) -> None:
    """``value`` as JSON (see ``dumps``) and a newline."""
    out_text(dumps(value, indent=indent) + "\n")


def out_bytes(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    # A write into a pipe whose reader just left can come back short instead of failing; the
    # next write then raises BrokenPipeError, which is what we want to see.
    view = memoryview(data)
    while view:
        written = buffer.write(view)
        if not written:
            raise BrokenPipeError("short write to stdout")
        view = view[written:]
    buffer.flush()


def silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
