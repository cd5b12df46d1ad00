"""Debug logging without importing :mod:`logging` at start-up.

The client logs only at DEBUG level, to ``logging.getLogger("smruntime")`` and its children. If
the application never imported :mod:`logging`, nothing is configured to receive those records
(no handler, no level), so there is nothing to log to: :func:`debug_logger` then returns ``None``
and the client never pays for importing :mod:`logging` (several milliseconds of cold start).
Once the application has imported it, the usual rules apply (levels, ``disabled``, handlers).

Callers write ``log = debug_logger(); if log: log.debug(...)``, so that the message arguments
(redaction included) are only computed when a record will be emitted.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    import logging

__all__ = ["debug_logger"]

_DEBUG = 10  # logging.DEBUG


def debug_logger(name: str = "smruntime") -> Optional[logging.Logger]:
    """``logging.getLogger(name)`` if :mod:`logging` is imported and that logger is enabled for
    DEBUG, else ``None``."""
    module = sys.modules.get("logging")
    if module is None:
        return None
    found = _loggers.get(name)
    if found is None or found[0] is not module:
        # getLogger takes logging's lock: once per name (and per logging module, for tests
        # that re-import it). A logger is never replaced once made.
        found = _loggers[name] = (module, module.getLogger(name))
    logger: logging.Logger = found[1]
    return logger if logger.isEnabledFor(_DEBUG) else None


_loggers: dict[str, tuple[object, logging.Logger]] = {}
