"""One call's rules, shared by the blocking :class:`~smruntime.Client` and the native asyncio
client: everything but I/O and sleeping.

A driver loop (sync or async) does only this::

    plan = CallPlan(client, op, params)          # validates and builds the request
    while True:
        request, deadlines = plan.prepare(credentials)   # headers, clock, SigV4
        try:
            response = <send request, return after the headers>
        except TransportError as exc:
            <sleep> plan.after_transport_error(exc)     # re-raises exc when not retried
            continue
        if plan.succeeded(response.status):
            return plan.success(response.status, response.headers)  # + the body it builds
        body = <read at most plan.ERROR_BODY_CAP bytes, then drop the connection>
        <sleep> plan.after_error(response.status, response.headers, body)  # raises when final

Retries (:mod:`._retries`: quota, backoff, ``x-amz-retry-after``), the clock-skew correction,
error parsing and response shaping live here once.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional, Protocol

from sigv4 import Credentials, sign
from smruntime import _operations, _redact, _retries
from smruntime._http import HttpRequest
from smruntime._log import debug_logger
from smruntime._model import per_spec
from smruntime._requests import fast_request
from smruntime._responses import shape_output
from smruntime.exceptions import ClientError, TransportError
from smruntime.http._config import Deadlines

if TYPE_CHECKING:
    from smruntime._config import Config
    from smruntime._meta import ClientMeta

__all__ = ["ERROR_BODY_CAP", "CallHost", "CallPlan", "invocation_id"]

SERVICE_SIGNING_NAME = "sagemaker"
_UTC = _dt.timezone.utc
ERROR_BODY_CAP = 64 * 1024
"""Bytes of an error body read before the connection is dropped (service errors are < 4 KiB)."""


class CallHost(Protocol):
    """What a plan needs from its client (``Client`` and the native ``AsyncClient`` both)."""

    region_name: str
    endpoint_url: str
    meta: ClientMeta  # meta.events: botocore's hooks (smruntime._hooks)
    _config: Config
    _retry_quota: _retries.RetryQuota
    _clock_offset: _dt.timedelta
    _user_agent: str


def invocation_id() -> str:
    """A random (version 4) UUID in its string form, without importing :mod:`uuid`.

    The random bytes are ``os.urandom``'s, drawn and formatted 64 ids at a time (one system
    call per 64 calls, not one per call); a forked child starts with none of its parent's. No
    lock: ``list.pop`` hands each id to one caller only."""
    while True:
        try:
            return _ids.pop()
        except IndexError:
            _ids.extend(_draw_ids())


def _draw_ids() -> list[str]:
    hexed = os.urandom(16 * _IDS_PER_DRAW).hex()
    variant = _VARIANT
    # the version nibble is 4; the variant's two high bits are 10 (8, 9, a or b)
    return [
        f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:]}"
        for h in [hexed[i : i + 32] for i in range(0, len(hexed), 32)]
    ]


_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}
_IDS_PER_DRAW = 64
_ids: list[str] = []  # drawn, not handed out yet


def _forget_ids_after_fork() -> None:
    # A child must not hand out the ids its parent still holds.
    _ids.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_ids_after_fork)


def deadlines_for(cfg: Config, streaming: bool) -> Deadlines:
    """The per-attempt limits from the resolved config: the header block waits
    ``first_event_timeout`` (streaming) or ``read_timeout``; body reads wait ``event_timeout``
    (the stream moves it per event) or ``read_timeout``; ``total_timeout`` caps everything."""
    if streaming:
        return Deadlines(
            connect=cfg.connect_timeout,
            headers=cfg.first_event_timeout,
            between=cfg.event_timeout,
            total=cfg.total_timeout,
        )
    return Deadlines(
        connect=cfg.connect_timeout,
        headers=cfg.read_timeout,
        between=cfg.read_timeout,
        total=cfg.total_timeout,
    )


_last_config: tuple[Any, ...] = (None,)


def _has_lazy_body(spec: _operations.OperationSpec) -> bool:
    return not spec.streaming and any(m.location == "payload" for m in spec.output.values())


_LAZY_BODY: dict[int, tuple[_operations.OperationSpec, bool]] = {}


def _per_config(cfg: Config) -> tuple[_retries.RetryConfig, Deadlines, Deadlines]:
    """The retry settings and the limits of a config, built once per config object (they are
    immutable): the last one is remembered, which is the one a client uses on every call."""
    global _last_config
    last = _last_config
    if last[0] is cfg:
        return last[1], last[2], last[3]
    retry_config = _retries.RetryConfig(
        mode=cfg.retry_mode or "standard",
        total_max_attempts=int(cfg.max_attempts or 1),
        retry_after_send=cfg.retry_after_send,
        retry_model_not_ready=cfg.retry_model_not_ready,
    )
    found = (retry_config, deadlines_for(cfg, True), deadlines_for(cfg, False))
    _last_config = (cfg, *found)
    return found


class CallPlan:
    """The state and decisions of one call (all its attempts). Not thread-safe: one per call."""

    def __init__(self, host: CallHost, op: str, params: Mapping[str, Any]) -> None:
        self.host = host
        self.op = op
        self.spec = _operations.OPERATIONS[op]
        cfg = host._config
        self.context: dict[str, Any] = {}
        if host.meta.events.active:
            params = self._param_hooks(params)
        validation = cfg.parameter_validation
        # The common call in one pass (None: anything unusual, which build_request decides).
        request = fast_request(self.spec, params, host.endpoint_url) if validation is True else None
        if request is None:
            request = _operations.build_request(
                op,
                params,
                host.endpoint_url,
                validate_params=bool(validation),
                strict=validation == "strict",
            )
        self.request = request
        retry_config, streaming_deadlines, plain_deadlines = _per_config(cfg)
        self.max_attempts = retry_config.total_max_attempts
        self.policy = _retries.RetryPolicy(retry_config, quota=host._retry_quota)
        spec = self.spec
        self.streaming: bool = spec.streaming
        self.lazy_body: bool = per_spec(_LAZY_BODY, spec, _has_lazy_body)
        """True when the success body is handed to the caller unread (InvokeEndpoint's
        payload); False when the plan needs the (small) body to shape the answer."""
        self.deadlines = streaming_deadlines if spec.streaming else plain_deadlines
        self.invocation_id = invocation_id()
        self.attempt = 1
        self.started = 0.0
        self._skew_retried = False
        self._signed: Any = None

    def _param_hooks(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """botocore's ``provide-client-params`` (a handler may return new parameters) and
        ``before-parameter-build`` (handlers may change them in place) events."""
        from smruntime._meta import EVENT_PREFIX, OperationModel

        meta = self.host.meta
        events = meta.events
        api_name = self.spec.name
        model = OperationModel(api_name, meta.service_model)
        params = dict(params)
        suffix = f"{EVENT_PREFIX}.{api_name}"
        context = self.context
        _, replaced = events.emit_until_response(
            f"provide-client-params.{suffix}", params=params, model=model, context=context
        )
        if replaced is not None:
            params = replaced
        events.emit(f"before-parameter-build.{suffix}", params=params, model=model, context=context)
        return params

    def prepare(self, credentials: Credentials) -> tuple[HttpRequest, Deadlines]:
        """The signed request of the current attempt and its time limits (``before-sign`` and
        ``before-send`` hooks applied)."""
        host = self.host
        request = self.request
        headers = [
            *request.headers,
            ("User-Agent", host._user_agent),
            ("amz-sdk-invocation-id", self.invocation_id),
            ("amz-sdk-request", f"attempt={self.attempt}; max={self.max_attempts}"),
        ]
        hooked = host.meta.events.active
        method, url, body = request.method, request.url, request.body
        if hooked:
            method, url, headers, body = self._before_sign(method, url, headers, body)
        now = _dt.datetime.now(_UTC)
        offset = host._clock_offset
        if offset:  # (a zero timedelta is false: most clocks need no correction)
            now += offset
        signed = sign(
            method,
            url,
            headers,
            body,
            credentials=credentials,
            region=host.region_name,
            service=SERVICE_SIGNING_NAME,
            now=now,
        )
        self._signed = signed
        self.started = time.monotonic()
        log = debug_logger()
        if log:
            log.debug(
                "%s %s attempt %d headers=%s",
                request.method,
                _redact.redact_url(request.url),
                self.attempt,
                _redact.redact_headers(signed.headers),
            )
        sent = HttpRequest(signed.method, signed.url, signed.headers, signed.body)
        if hooked:
            sent = self._before_send(sent)
        return sent, self.deadlines

    def _before_sign(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[str, str, list[tuple[str, str]], bytes]:
        from smruntime._hooks import HookRequest
        from smruntime._meta import EVENT_PREFIX

        api_name = self.spec.name
        hooked = HookRequest(
            method, url, headers, body, context=self.context, stream_output=self.streaming
        )
        self.host.meta.events.emit(
            f"before-sign.{EVENT_PREFIX}.{api_name}",
            request=hooked,
            operation_name=api_name,
            region_name=self.host.region_name,
            signing_name=SERVICE_SIGNING_NAME,
            signature_version="v4",
            request_signer=None,
        )
        return hooked.method, hooked.url, hooked.headers.pairs(), hooked.body

    def _before_send(self, outgoing: HttpRequest) -> HttpRequest:
        from smruntime._hooks import HookRequest
        from smruntime._meta import EVENT_PREFIX

        hooked = HookRequest(
            outgoing.method,
            outgoing.url,
            outgoing.headers,
            outgoing.body,
            context=self.context,
            stream_output=self.streaming,
        )
        _, answer = self.host.meta.events.emit_until_response(
            f"before-send.{EVENT_PREFIX}.{self.spec.name}", request=hooked
        )
        if answer is not None:
            raise TypeError(
                "a before-send handler returned a response; smruntime does not take "
                "responses from hooks (use the emulator to fake the service)"
            )
        return HttpRequest(hooked.method, hooked.url, hooked.headers.pairs(), hooked.body)

    # -- failures ----------------------------------------------------------------------------

    def after_transport_error(self, exc: TransportError) -> float:
        """The back-off before the next attempt; re-raises ``exc`` when it is not retried."""
        decision = self.policy.decide(self.attempt, error=exc)
        if not decision.retry:
            raise exc
        log = debug_logger()
        if log:
            log.debug(
                "%s attempt %d failed (%s); retrying in %.3f s: %s",
                self.spec.name,
                self.attempt,
                type(exc).__name__,
                decision.delay,
                decision.reason,
            )
        self.attempt += 1
        return decision.delay

    @staticmethod
    def succeeded(status: int) -> bool:
        return status < 300

    def error(self, status: int, headers: Mapping[str, str], body: bytes) -> ClientError:
        """The error of an error response (metadata filled in)."""
        metadata = self.metadata(status, headers)
        error = _operations.parse_error(
            self.op, status, headers, body, retry_attempts=self.attempt - 1
        )
        error._set_response_metadata(metadata)
        return error

    def after_error(self, status: int, headers: Mapping[str, str], body: bytes) -> Optional[float]:
        """The back-off before the next attempt after an error response (None: retry at once,
        the clock-skew correction); raises the :class:`ClientError` when it is final."""
        error = self.error(status, headers, body)
        name = self.spec.name
        if error.error_code == "InvalidSignatureException" and self._signed is not None:
            log = debug_logger()
            if log:
                log.debug(
                    "signature rejected; the canonical request was:\n%s\nstring to sign:\n%s",
                    _redact.redact_canonical_request(self._signed.canonical_request),
                    self._signed.string_to_sign,
                )
        if (
            self.host._config.correct_clock_skew
            and not self._skew_retried
            and _retries.is_clock_skew_error(error.error_code)
            and self._adjust_clock(headers)
        ):
            self._skew_retried = True
            log = debug_logger()
            if log:
                log.debug("%s: clock skew corrected; retrying once", name)
            return None
        decision = self.policy.decide(
            self.attempt,
            status=status,
            error_code=error.error_code,
            headers=headers,
            modeled_error=error.error_code in self.spec.errors,
        )
        if not decision.retry:
            if decision.exhausted:
                metadata = dict(error.response.get("ResponseMetadata") or {})
                metadata["MaxAttemptsReached"] = True
                error._set_response_metadata(metadata)
            raise error
        log = debug_logger()
        if log:
            log.debug(
                "%s attempt %d -> %s (HTTP %d); retrying in %.3f s",
                name,
                self.attempt,
                error.error_code,
                status,
                decision.delay,
            )
        self.attempt += 1
        return decision.delay

    def _adjust_clock(self, headers: Mapping[str, str]) -> bool:
        date = headers.get("date")
        if not date:
            return False
        offset = _retries.clock_offset(
            date, _dt.datetime.now(_dt.timezone.utc), current=self.host._clock_offset
        )
        if offset is None:
            return False
        self.host._clock_offset = offset
        return True

    # -- success -----------------------------------------------------------------------------

    def metadata(self, status: int, headers: Mapping[str, str]) -> dict[str, Any]:
        """boto3's ``ResponseMetadata`` of the current attempt's response (``MaxAttemptsReached``
        on the last attempt's answer, as botocore's standard mode)."""
        metadata = _operations.response_metadata(status, headers, self.attempt - 1)
        if self.attempt >= self.max_attempts and self.policy.config.mode != "legacy":
            metadata["MaxAttemptsReached"] = True
        return metadata

    def success(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Optional[bytes] = None,
        *,
        metadata: Optional[dict[str, Any]] = None,
    ) -> dict[str, Any]:
        """boto3's answer for a 2xx, ``ResponseMetadata`` last. ``body``: the read body when
        neither :attr:`lazy_body` nor :attr:`streaming` (InvokeEndpointAsync); otherwise the
        driver sets ``result["Body"]`` to its body object (a lazy ``Body`` is ``b""`` here)."""
        self.policy.on_success()
        if metadata is None:
            metadata = self.metadata(status, headers)
        log = debug_logger()
        if log:
            log.debug(
                "%s -> HTTP %d (request id %s, attempt %d)",
                self.spec.name,
                status,
                metadata.get("RequestId"),
                self.attempt,
            )
        spec = self.spec
        result = shape_output(spec, headers, None if spec.streaming else (body or b""))
        result["ResponseMetadata"] = metadata
        return result
