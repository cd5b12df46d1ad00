"""argparse types for the numeric options: finite seconds in a usable range.

``nan`` and ``inf`` parse as floats but make no sense as a delay or a timeout (``nan`` compares
false with everything, ``inf`` overflows the socket and sleep calls): they are usage errors.
"""

from __future__ import annotations

import argparse
import math

MAX_SECONDS = 1e6
"""The largest delay or timeout accepted (about 11.5 days): far beyond any useful value, and far
below what overflows ``time.sleep`` or a socket timeout."""


def _seconds(text: str, *, zero_ok: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds, got {text!r}")
    if value < 0 or (value == 0 and not zero_ok):
        least = "0 or more" if zero_ok else "more than 0"
        raise argparse.ArgumentTypeError(f"expected {least} seconds, got {text!r}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SECONDS:g} seconds, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A timeout: a finite number of seconds, more than 0."""
    return _seconds(text, zero_ok=False)


def non_negative_seconds(text: str) -> float:
    """A delay: a finite number of seconds, 0 or more."""
    return _seconds(text, zero_ok=True)
