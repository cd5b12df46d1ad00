"""The ``smruntime`` command line: demo, invoke, decode, sign, serve.

Data goes to stdout, progress, metadata and summaries to stderr. Failures are one line
(``smruntime: error: ...``); the exit code tells them apart (``_errors.EXIT_*``, listed in
``--help``): 1 other failures, 2 usage errors, 3 an HTTP error from the service, 4 an error inside
the stream, 5 a cut, corrupt or non-event stream (or capture), 6 a timeout, 130 Ctrl-C, and 141
when stdout closes early (``| head``), which ends quietly. Heavy modules are imported inside the
commands so that ``--help`` stays fast.

Layout: ``_main`` (entry point), ``_parser`` (arguments), one module per command (``_demo``,
``_invoke``, ``_decode``, ``_sign``, ``_serve``) and the helpers they share.
"""

from __future__ import annotations

from smruntime.cli._logging import redact
from smruntime.cli._main import main
from smruntime.cli._parser import build_parser

__all__ = ["build_parser", "main", "redact"]
