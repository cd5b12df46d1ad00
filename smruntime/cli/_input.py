"""Reading input: request bodies (``--body``) and files given on the command line."""

from __future__ import annotations

import sys
from typing import Optional

from smruntime.cli._errors import CLIError


def read_file(path: str, *, what: str = "") -> bytes:
    """The bytes of ``path``; a ``CLIError`` (``cannot read {what}'path': reason``) if not."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise CLIError(f"cannot read {what}{path!r}: {exc.strerror or exc}") from None


def read_stdin() -> bytes:
    if sys.stdin is None:  # started with stdin closed (<&-)
        raise CLIError("cannot read the body from stdin: it is closed")
    stdin = getattr(sys.stdin, "buffer", None)
    data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8")
    return bytes(data)


def read_body(spec: Optional[str]) -> tuple[bytes, Optional[str]]:
    """Resolve ``--body``: ``TEXT``, ``@FILE`` or ``-`` / ``@-`` (stdin).

    Returns the bytes and the file name they came from (``None`` for literal text or stdin).
    """
    if spec is None:
        return b"", None
    if spec in ("-", "@-"):
        return read_stdin(), None
    if spec.startswith("@"):
        path = spec[1:]
        return read_file(path, what="body file "), path
    return spec.encode("utf-8"), None
