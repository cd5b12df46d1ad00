"""The ``smruntime`` command line: demo, invoke, decode, sign, serve.

Data goes to stdout, progress, metadata and summaries to stderr. Failures are one line
(``smruntime: error: ...``) with exit code 2 for usage errors, 1 for runtime errors and 130 for
Ctrl-C; a broken pipe (``| head``) ends quietly. Heavy modules are imported inside the commands so
that ``--help`` stays fast.

Layout: ``_main`` (entry point), ``_parser`` (arguments), one module per command (``_demo``,
``_invoke``, ``_decode``, ``_sign``, ``_serve``) and the helpers they share.
"""

from __future__ import annotations

from smruntime.cli._logging import redact
from smruntime.cli._main import main
from smruntime.cli._parser import build_parser

__all__ = ["build_parser", "main", "redact"]
