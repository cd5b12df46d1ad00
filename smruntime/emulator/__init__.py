"""A local SageMaker Runtime endpoint emulator: a real HTTP/1.1 server on a loopback port.

>>> from smruntime.emulator import Emulator, Fault
>>> with Emulator(endpoints={"chat": "tokens"}) as emu:      # doctest: +SKIP
...     emu.url, emu.region, emu.credentials                 # point any client here

It speaks InvokeEndpoint, InvokeEndpointAsync and InvokeEndpointWithResponseStream as the
service does (status codes, headers, error shapes, event-stream frames), verifies SigV4 against
its own credentials, and injects faults on demand (see :class:`Fault` and the
``X-Emulator-Fault`` header or ``CustomAttributes="emulator-fault=..."``).
"""

from __future__ import annotations

from smruntime.emulator._container import Container
from smruntime.emulator._faults import (
    CUSTOM_ATTRIBUTE_KEY,
    FAULT_HEADER,
    Fault,
    FaultSpecError,
    parse_faults,
)
from smruntime.emulator._models import (
    Chat,
    Echo,
    EmulatorRequest,
    Handler,
    ModelFailure,
    Tokens,
    recut,
)
from smruntime.emulator._server import Emulator, EmulatorEndpoint

__all__ = [
    "CUSTOM_ATTRIBUTE_KEY",
    "Chat",
    "Container",
    "FAULT_HEADER",
    "Echo",
    "Emulator",
    "EmulatorEndpoint",
    "EmulatorRequest",
    "Fault",
    "FaultSpecError",
    "Handler",
    "ModelFailure",
    "Tokens",
    "parse_faults",
    "recut",
]
