"""Writing to stdout and stderr: data, JSON, one-line messages, and the broken-pipe exit.

Text that stdout's encoding cannot hold (``PYTHONIOENCODING=cp1252`` and CJK, say) never stops
the output: plain text gets ``?`` in its place and JSON falls back to ``\\uXXXX`` escapes.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

from smruntime.cli._format import dumps


class _Stdout:
    line_open = False  # what went to stdout so far ends inside a line


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def err(message: str) -> None:
    """Write one line to stderr (never raises: stderr may be closed too).

    On a terminal, a line that stdout left open (partial output cut by an error) is ended first,
    so that the message starts on its own line.
    """
    text = message.rstrip("\n") + "\n"
    if _Stdout.line_open and _isatty(sys.stdout) and _isatty(sys.stderr):
        text = "\n" + text
        _Stdout.line_open = False
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # (None: started with stderr closed)
        pass


def end_line() -> None:
    """On a terminal, end the line stdout left open (a body without a final newline), so that
    the shell's prompt does not follow it on the same line; a pipe or file stays byte-exact."""
    if _Stdout.line_open and _isatty(sys.stdout):
        _Stdout.line_open = False
        try:
            sys.stdout.write("\n")
            sys.stdout.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _note(ends_with_newline: bool) -> None:
    _Stdout.line_open = not ends_with_newline


def out_text(text: str) -> None:
    """Write ``text`` to stdout; characters its encoding cannot hold are written as ``?``."""
    stream = sys.stdout
    try:
        stream.write(text)
    except UnicodeEncodeError:
        # TextIOWrapper encodes the whole text before buffering any of it: nothing was written.
        encoding = getattr(stream, "encoding", None) or "utf-8"
        stream.write(text.encode(encoding, "replace").decode(encoding))
    stream.flush()
    if text:
        _note(text.endswith("\n"))


def out_json(value: Any, *, indent: Optional[int] = None) -> None:
    """``value`` as JSON (see ``dumps``) and a newline; non-ASCII characters are escaped
    (``\\uXXXX``) when stdout's encoding cannot hold them."""
    stream = sys.stdout
    try:
        stream.write(dumps(value, indent=indent) + "\n")
    except UnicodeEncodeError:
        stream.write(dumps(value, indent=indent, ensure_ascii=True) + "\n")
    stream.flush()
    _note(True)


def out_bytes(data: bytes) -> None:
    sys.stdout.flush()
    if data:
        _note(data.endswith(b"\n"))
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
