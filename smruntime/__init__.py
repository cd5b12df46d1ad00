"""A small client for Amazon SageMaker Runtime, built for response streaming.

``smruntime.Client`` (or ``smruntime.client("sagemaker-runtime", ...)``, or
``smruntime.Session(...).client(...)``) is a drop-in for ``boto3.client("sagemaker-runtime")``
with boto3's arguments, method names, parameters and response shapes; its streaming ``Body``
adds record, text and timing views.
Nothing but the standard library is needed at run time (``transport="requests"`` uses
``requests`` if installed: ``pip install smruntime[requests]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from smruntime import exceptions
    from smruntime._body import StreamingBody
    from smruntime._client import Client
    from smruntime._config import Config
    from smruntime._session import Session, client
    from smruntime._stream import EventStream, StreamStats, TimedFrame
    from smruntime.exceptions import ClientError, SMRuntimeError

__all__ = [
    "Client",
    "ClientError",
    "Config",
    "EventStream",
    "SMRuntimeError",
    "Session",
    "StreamStats",
    "StreamingBody",
    "TimedFrame",
    "__version__",
    "client",
    "exceptions",
]

# Imported on first use, so that ``import smruntime.exceptions`` (or the emulator, or the CLI's
# ``--help``) does not pay for the client's imports.
_LAZY = {
    "Client": "smruntime._client",
    "Config": "smruntime._config",
    "Session": "smruntime._session",
    "client": "smruntime._session",
    "EventStream": "smruntime._stream",
    "StreamingBody": "smruntime._body",
    "StreamStats": "smruntime._stream",
    "TimedFrame": "smruntime._stream",
    "ClientError": "smruntime.exceptions",
    "SMRuntimeError": "smruntime.exceptions",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        if name == "exceptions":
            import importlib

            return importlib.import_module("smruntime.exceptions")
        raise AttributeError(f"module 'smruntime' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
