"""Fault injection for the emulator: what can go wrong, and how a request asks for it.

A fault is configured on an endpoint (``EmulatorEndpoint(faults=[...])``), on the whole emulator
(``Emulator.add_fault``) or per request, with either

* the header ``X-Emulator-Fault: <spec>`` (any client that can add a header), or
* the CustomAttributes header (``X-Amzn-SageMaker-Custom-Attributes``, settable from boto3):
  a ``;``-separated item ``emulator-fault=<spec>``, for example
  ``CustomAttributes="emulator-fault=throttle(count=2)"``.

``<spec>`` is one or more faults joined by ``+``; each is ``kind`` or ``kind(key=value,...)``::

    model-stream-error(after=2,code=ModelInvocationTimeExceeded)+delay-events(seconds=0.01)

Kinds (``after`` counts PayloadParts sent before the fault; ``count`` limits the fault to the
first *count* matching requests, counted per endpoint and spec; default: every request):

=========================  ===================================================================
``model-stream-error``     stream: ModelStreamError exception frame (``code``, ``message``)
``internal-stream-failure`` stream: InternalStreamFailure exception frame (``message``)
``cut``                    send half of the next frame (or half the body) then close the socket
``corrupt-crc``            stream: the next frame has a wrong message CRC (``after``)
``throttle``               400 ThrottlingException (``count`` = K: the first K calls)
``model-error``            424 ModelError (``status`` = OriginalStatusCode: 100-599, or 0 for
                           a container that gave no answer; default 500; ``message``);
                           InvokeEndpointAsync: 202, the error is written to the failure location
``service-unavailable``    503 ServiceUnavailable
``internal-failure``       500 InternalFailure
``model-not-ready``        429 ModelNotReadyException (InvokeEndpoint only)
``delay-headers``          wait ``seconds`` before the response headers
``delay-events``           wait ``seconds`` before each event of a stream
``html``                   a ``text/html`` body instead of the answer (``status``, default 200)
=========================  ===================================================================

Faults follow what the service sends for each operation: it never answers
ModelNotReadyException outside InvokeEndpoint, so ``model-not-ready`` requested for another
operation is refused (400 ValidationError naming the fault and the operation) and, when configured
on an endpoint or the emulator, does not apply there (its ``count`` is not consumed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

__all__ = [
    "CUSTOM_ATTRIBUTE_KEY",
    "FAULT_HEADER",
    "FAULT_KINDS",
    "Fault",
    "FaultSpecError",
    "fault_not_served",
    "faults_from_headers",
    "parse_faults",
]

FAULT_HEADER = "X-Emulator-Fault"
CUSTOM_ATTRIBUTE_KEY = "emulator-fault"

FAULT_KINDS = frozenset(
    {
        "model-stream-error",
        "internal-stream-failure",
        "cut",
        "corrupt-crc",
        "throttle",
        "model-error",
        "service-unavailable",
        "internal-failure",
        "model-not-ready",
        "delay-headers",
        "delay-events",
        "html",
    }
)

# Faults that answer the request with an HTTP error (or HTML) instead of calling the model.
HTTP_FAULT_KINDS = frozenset(
    {
        "throttle",
        "model-error",
        "service-unavailable",
        "internal-failure",
        "model-not-ready",
        "html",
    }
)

# Fault kinds the service sends only for some operations: kind -> those operations.
_OPERATIONS_OF: dict[str, frozenset[str]] = {"model-not-ready": frozenset({"InvokeEndpoint"})}

_ITEM = re.compile(r"\s*([a-z][a-z0-9-]*)\s*(?:\(([^()]*)\))?\s*")
_PARAMS = ("after", "count", "code", "message", "seconds", "status")


class FaultSpecError(ValueError):
    """A fault spec (header, custom attribute or argument) cannot be understood."""


@dataclass(frozen=True)
class Fault:
    """One injected failure; build with the class methods or :func:`parse_faults`."""

    kind: str
    after: int = 0
    count: Optional[int] = None
    code: Optional[str] = None
    message: Optional[str] = None
    seconds: float = 0.0
    status: Optional[int] = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            kinds = ", ".join(sorted(FAULT_KINDS))
            raise FaultSpecError(f"unknown fault kind {self.kind!r}; expected one of {kinds}")
        if self.after < 0:
            raise FaultSpecError(f"fault {self.kind}: after must be >= 0, got {self.after}")
        if self.count is not None and self.count < 0:
            raise FaultSpecError(f"fault {self.kind}: count must be >= 0, got {self.count}")
        if self.seconds < 0:
            raise FaultSpecError(f"fault {self.kind}: seconds must be >= 0, got {self.seconds}")
        if self.status is not None and self.kind in ("model-error", "html"):
            # model-error: the container's status, 0 for one that gave none (timed out)
            lowest = 0 if self.kind == "model-error" else 100
            if not (self.status == lowest or 100 <= self.status <= 599):
                allowed = "0 or 100-599" if lowest == 0 else "100-599"
                raise FaultSpecError(
                    f"fault {self.kind}: status must be {allowed}, got {self.status}"
                )
        for name, value in (("code", self.code), ("message", self.message)):
            if value is not None and not re.fullmatch(r"[^(),+]*", value):
                raise FaultSpecError(
                    f"fault {self.kind}: {name} must not contain '(', ')', ',' or '+'"
                )

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def model_stream_error(
        cls,
        after: int = 0,
        code: str = "ModelInvocationTimeExceeded",
        message: Optional[str] = None,
        count: Optional[int] = None,
    ) -> Fault:
        """A ModelStreamError exception frame after *after* PayloadParts."""
        return cls("model-stream-error", after=after, code=code, message=message, count=count)

    @classmethod
    def internal_stream_failure(
        cls, after: int = 0, message: Optional[str] = None, count: Optional[int] = None
    ) -> Fault:
        """An InternalStreamFailure exception frame after *after* PayloadParts."""
        return cls("internal-stream-failure", after=after, message=message, count=count)

    @classmethod
    def cut(cls, after: int = 0, count: Optional[int] = None) -> Fault:
        """Half of frame *after* + 1 (or half the body), then the socket is closed."""
        return cls("cut", after=after, count=count)

    @classmethod
    def corrupt_crc(cls, after: int = 0, count: Optional[int] = None) -> Fault:
        """Frame *after* + 1 carries a wrong message CRC."""
        return cls("corrupt-crc", after=after, count=count)

    @classmethod
    def throttle(cls, count: Optional[int] = None) -> Fault:
        """400 ThrottlingException for the first *count* calls (every call if None)."""
        return cls("throttle", count=count)

    @classmethod
    def model_error(
        cls, status: int = 500, message: Optional[str] = None, count: Optional[int] = None
    ) -> Fault:
        """424 ModelError as if the container had answered *status*."""
        return cls("model-error", status=status, message=message, count=count)

    @classmethod
    def service_unavailable(cls, count: Optional[int] = None) -> Fault:
        """503 ServiceUnavailable."""
        return cls("service-unavailable", count=count)

    @classmethod
    def internal_failure(cls, count: Optional[int] = None) -> Fault:
        """500 InternalFailure."""
        return cls("internal-failure", count=count)

    @classmethod
    def model_not_ready(cls, count: Optional[int] = None) -> Fault:
        """429 ModelNotReadyException."""
        return cls("model-not-ready", count=count)

    @classmethod
    def delay_headers(cls, seconds: float, count: Optional[int] = None) -> Fault:
        """Wait *seconds* before sending the response headers."""
        return cls("delay-headers", seconds=seconds, count=count)

    @classmethod
    def delay_events(cls, seconds: float, count: Optional[int] = None) -> Fault:
        """Wait *seconds* before each event of a stream."""
        return cls("delay-events", seconds=seconds, count=count)

    @classmethod
    def html(cls, status: int = 200, count: Optional[int] = None) -> Fault:
        """An HTML page (as from a proxy) instead of the answer."""
        return cls("html", status=status, count=count)

    # -- spec text ----------------------------------------------------------------------------

    def spec(self) -> str:
        """This fault as spec text, for the ``X-Emulator-Fault`` header or CustomAttributes."""
        params = []
        defaults = Fault(self.kind)
        for name in _PARAMS:
            value = getattr(self, name)
            if value != getattr(defaults, name):
                params.append(f"{name}={value}")
        return f"{self.kind}({','.join(params)})" if params else self.kind

    def __str__(self) -> str:
        return self.spec()


def _convert(kind: str, name: str, raw: str) -> object:
    try:
        if name in ("after", "count", "status"):
            return int(raw)
        if name == "seconds":
            return float(raw)
    except ValueError:
        raise FaultSpecError(f"fault {kind}: {name}={raw!r} is not a number") from None
    return raw


def parse_faults(spec: str) -> list[Fault]:
    """Parse ``kind(key=value,...)+kind...`` into faults; :class:`FaultSpecError` if malformed."""
    faults: list[Fault] = []
    text = spec.strip()
    if not text:
        return faults
    for position, item in enumerate(text.split("+")):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise FaultSpecError(f"fault spec item {position} is malformed: {item.strip()!r}")
        kind, raw_params = match.group(1), match.group(2)
        kwargs: dict[str, object] = {}
        for raw in (raw_params or "").split(","):
            if not raw.strip():
                continue
            name, sep, value = raw.partition("=")
            name = name.strip()
            if not sep or name not in _PARAMS:
                raise FaultSpecError(
                    f"fault {kind}: bad parameter {raw.strip()!r}; expected name=value "
                    f"with name in {', '.join(_PARAMS)}"
                )
            kwargs[name] = _convert(kind, name, value.strip())
        faults.append(Fault(kind, **kwargs))  # type: ignore[arg-type]
    return faults


def fault_not_served(fault: Fault, operation: str) -> str | None:
    """Why the service never sends *fault* for *operation* (None when it can)."""
    operations = _OPERATIONS_OF.get(fault.kind)
    if operations is None or operation in operations:
        return None
    return (
        f"fault {fault.kind}: {operation} never answers this way "
        f"(only {', '.join(sorted(operations))} does)"
    )


def faults_from_headers(headers: Mapping[str, str]) -> list[Fault]:
    """Faults requested by one request (``X-Emulator-Fault`` header and CustomAttributes).

    *headers* must be case-insensitive (e.g. :class:`smruntime._http.HttpHeaders`). A
    :class:`FaultSpecError` names where the bad spec came from (the header or CustomAttributes);
    it quotes the fault spec only, never the other custom attributes (they may be secrets).
    """
    faults: list[Fault] = []
    header = headers.get(FAULT_HEADER)
    if header:
        try:
            faults.extend(parse_faults(header))
        except FaultSpecError as exc:
            raise FaultSpecError(f"{FAULT_HEADER}: {exc}") from None
    attributes = headers.get("X-Amzn-SageMaker-Custom-Attributes")
    if attributes:
        for item in attributes.split(";"):
            name, sep, value = item.partition("=")
            if sep and name.strip().lower() == CUSTOM_ATTRIBUTE_KEY:
                try:
                    faults.extend(parse_faults(value))
                except FaultSpecError as exc:
                    raise FaultSpecError(
                        f"CustomAttributes {CUSTOM_ATTRIBUTE_KEY}: {exc}"
                    ) from None
    return faults


def injected_model_error(fault: Fault) -> tuple[int, str]:
    """The container status and message a ``model-error`` fault stands for (500 and "injected
    model error" unless it gives them; a status of 0 is a container that gave no answer)."""
    status = 500 if fault.status is None else fault.status
    return status, fault.message or "injected model error"


def error_document(
    message: str, members: Mapping[str, object], *, modeled: bool
) -> dict[str, object]:
    """The JSON body of an error response, both emulator sides: one of the service's modeled
    errors carries its shape's ``Message`` member (then its other members), an error of the
    framework in front of the service (a signature, throttling, an unknown operation) the
    lower-case ``message`` of that framework's errors."""
    body: dict[str, object] = {"Message" if modeled else "message": message}
    body.update(members)
    return body


def model_error(
    region: str, account_id: str, endpoint_name: str, status: int, message: str
) -> tuple[str, dict[str, object]]:
    """The message and members of the service's 424 ModelError for a container that answered
    ``status`` (0: none, it timed out) with ``message``: both emulator sides give this one."""
    kind = "client" if 400 <= status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    text = (
        f'Received {kind} error ({status}) from primary with message "{message}". See '
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group={log_group} in account {account_id} for more information."
    )
    members: dict[str, object] = {
        "OriginalStatusCode": status,
        "OriginalMessage": message,
        "LogStreamArn": f"arn:aws:logs:{region}:{account_id}:log-group:{log_group}",
    }
    return text, members
