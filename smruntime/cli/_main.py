"""The entry point: parse, run the command, and turn whatever it raises into one line and an
exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

from smruntime.cli._errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    EXIT_USAGE,
    PROG,
    describe_error,
)
from smruntime.cli._logging import setup_debug_logging
from smruntime.cli._output import end_line, err, silence_stdout
from smruntime.cli._parser import build_parser


def _run(args: argparse.Namespace) -> int:
    func: Callable[[argparse.Namespace], int] = args.func
    code = func(args)
    sys.stdout.flush()
    return code


def main(argv: Optional[list[str]] = None) -> int:
    """Run the ``smruntime`` command line with ``argv`` (default ``sys.argv[1:]``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    if debug:
        setup_debug_logging()
    if sys.stdout is None:  # started with stdout closed (>&-): nowhere for the data to go
        err(f"{PROG}: error: stdout is closed: nothing can be written (redirect it instead)")
        return EXIT_RUNTIME
    try:
        code = _run(args)
        end_line()
        return code
    except KeyboardInterrupt:
        err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, never a traceback
        if debug:
            import traceback

            traceback.print_exc()
        code, message = describe_error(exc, debug=debug)
        err(f"{PROG}: error: {message}")
        return code
