"""The SageMaker Runtime client: boto3's method names, parameters and response shapes.

One call: validate and build the request (:mod:`._operations`), sign it with a fresh date
(:mod:`sigv4`), send it (:mod:`._transport`), and either parse the answer or hand back the
streaming body (:mod:`._stream`). Failures are retried per :mod:`._retries`; a retry is never
made once an event has reached the caller, because the stream is handed over before any event
is read.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional

from sigv4 import Credentials, sign
from sigv4.exceptions import CredentialsError
from smruntime import _operations, _redact, _retries, exceptions
from smruntime._config import Config, as_config, resolve_config
from smruntime._endpoints import resolve_endpoint
from smruntime._hooks import HookRequest
from smruntime._http import HttpRequest, HttpResponse
from smruntime._log import debug_logger
from smruntime._meta import (
    API_VERSION,
    EVENT_PREFIX,
    HTTP2_SERVICE_NAME,
    SERVICE_NAME,
    ClientMeta,
    OperationModel,
)
from smruntime._stream import EventStream, StreamingBody
from smruntime._transport import Timeouts, Transport, default_transport
from smruntime.exceptions import TransportError, UnknownServiceError

__all__ = ["Client", "Config"]

SERVICE_SIGNING_NAME = "sagemaker"
_ENV_ENDPOINT_KEYS = ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL")
_sleep = time.sleep  # the retry back-off; tests replace it


class _CallCancelled(Exception):
    """Raised by :meth:`Client._call` when its ``_cancel`` event was set: the caller (the
    asyncio adapter's cancelled task) has gone, so no further attempt is made."""


def _back_off(delay: float, cancel: Optional[threading.Event]) -> None:
    """Wait ``delay`` seconds before a retry; with ``cancel``, stop waiting once it is set."""
    if cancel is None:
        _sleep(delay)
    else:
        cancel.wait(delay)


class _Exceptions:
    """``client.exceptions``: the error classes by name, as boto3 exposes them, plus
    ``EventStreamError`` (the base of the in-stream errors, botocore's name for them)."""

    ClientError = exceptions.ClientError
    EventStreamError = exceptions.EventStreamError

    def __init__(self) -> None:
        for name, cls in exceptions.KNOWN_ERRORS.items():
            setattr(self, name, cls)

    def from_code(self, error_code: str) -> type[exceptions.ClientError]:
        """The class raised for ``error_code`` (``ClientError`` for a code without one)."""
        return exceptions.error_class_for(error_code)

    def __getattr__(self, name: str) -> type[exceptions.ClientError]:
        raise AttributeError(
            f"no error class {name!r}; known: {', '.join(sorted(exceptions.KNOWN_ERRORS))}"
        )


def _invocation_id() -> str:
    """A random (version 4) UUID in its string form, without importing :mod:`uuid`."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _user_agent(cfg: Config) -> str:
    from smruntime import __version__

    if cfg.user_agent:
        agent = cfg.user_agent
    else:
        python = ".".join(str(part) for part in sys.version_info[:3])
        agent = f"smruntime/{__version__} python/{python}"
    if cfg.user_agent_appid:
        agent += f" app/{cfg.user_agent_appid}"
    return f"{agent} {cfg.user_agent_extra}" if cfg.user_agent_extra else agent


def _check_service(service_name: object, api_version: object) -> None:
    if service_name == HTTP2_SERVICE_NAME:
        raise UnknownServiceError(
            f"service {HTTP2_SERVICE_NAME!r} (InvokeEndpointWithBidirectionalStream over "
            "HTTP/2) is not yet supported by smruntime"
        )
    if service_name != SERVICE_NAME:
        hint = ""
        if isinstance(service_name, str) and service_name.count("-") >= 2:
            hint = f"; did you mean region_name={service_name!r}?"
        raise UnknownServiceError(
            f"unknown service {service_name!r}: smruntime.Client is a client for "
            f"{SERVICE_NAME!r} only{hint}"
        )
    if api_version is not None and api_version != API_VERSION:
        raise UnknownServiceError(
            f"Unable to load data for: {SERVICE_NAME}/{api_version}/service-2 "
            f"(smruntime has API version {API_VERSION} only)"
        )


class Client:
    """A SageMaker Runtime client, a drop-in for ``boto3.client("sagemaker-runtime")``.

    The arguments are ``boto3.client``'s (``service_name`` must be ``"sagemaker-runtime"``,
    and may be left out); ``config`` is a :class:`Config` or a ``botocore.config.Config``.
    ``aws_account_id`` is accepted and unused (no account-based endpoints for this service).
    The keyword-only ones are smruntime's: ``profile_name`` (a boto3 ``Session``'s),
    ``transport``, ``credentials`` and ``environ``.

    Credentials: explicit keys, else ``credentials`` (a :class:`sigv4.Credentials` or anything
    with ``.get()``), else the default provider chain (environment, web identity, shared files,
    container, instance metadata), resolved on first use. Region: ``region_name``, else
    ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``.

    ``transport`` is ``"requests"``, ``"stdlib"`` (standard library only), a
    :class:`~smruntime._transport.Transport`, or ``None`` (requests if installed). The client is
    thread-safe; close it (or use it as a context manager) to release pooled connections.
    """

    def __init__(
        self,
        service_name: str = SERVICE_NAME,
        region_name: str | None = None,
        api_version: str | None = None,
        use_ssl: bool = True,
        verify: bool | str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        config: Config | Any = None,
        aws_account_id: str | None = None,
        *,
        profile_name: str | None = None,
        transport: str | Transport | None = None,
        credentials: Any = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        _check_service(service_name, api_version)
        env: Mapping[str, str] = os.environ if environ is None else environ
        self._environ = env
        self._profile = profile_name
        cfg = as_config(config)
        if verify is not None:
            cfg = cfg.replace(verify=verify)
        self._config = resolve_config(cfg, env)
        if region_name is None:
            region_name = self._config.region_name
        if region_name is None:
            from sigv4._region import resolve_region  # reads files: only when needed

            region_name = resolve_region(None, profile=profile_name, environ=env)
        self.region_name: str = region_name
        if not endpoint_url and not self._config.ignore_configured_endpoint_urls:
            endpoint_url = next((env[k] for k in _ENV_ENDPOINT_KEYS if env.get(k)), None)
        # As botocore, an endpoint_url wins over use_fips_endpoint / use_dualstack_endpoint (and
        # AWS_USE_FIPS_ENDPOINT): the flags are ignored rather than an error.
        resolved = resolve_endpoint(
            self.region_name,
            use_fips=bool(self._config.use_fips_endpoint) and not endpoint_url,
            use_dualstack=bool(self._config.use_dualstack_endpoint) and not endpoint_url,
            endpoint_url=endpoint_url or None,
        )
        if not use_ssl and not endpoint_url and resolved.startswith("https://"):
            resolved = "http://" + resolved[len("https://") :]  # as botocore's use_ssl=False
        self.endpoint_url: str = resolved
        self._credentials_source: Any = self._explicit_credentials(
            aws_access_key_id, aws_secret_access_key, aws_session_token, credentials
        )
        self._credentials_lock = threading.Lock()
        if isinstance(transport, str) or transport is None:
            verify_value = self._config.verify
            options: dict[str, Any] = {
                "verify": True if verify_value is None else verify_value,
                "proxies": self._config.proxies,
                "max_pool_connections": self._config.max_pool_connections,
            }
            if self._config.client_cert is not None:
                options["client_cert"] = self._config.client_cert
            self._transport: Transport = default_transport(transport, **options)
        else:
            self._transport = transport
        self._retry_quota = _retries.RetryQuota()
        self._clock_offset = _dt.timedelta(0)
        self._user_agent = _user_agent(self._config)
        self.exceptions = _Exceptions()
        self.meta = ClientMeta(self.region_name, self.endpoint_url, self._config)

    # -- configuration -----------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The resolved configuration."""
        return self._config

    @staticmethod
    def _explicit_credentials(
        key: str | None, secret: str | None, token: str | None, credentials: Any
    ) -> Any:
        if key or secret:
            if not (key and secret):
                missing = "aws_secret_access_key" if key else "aws_access_key_id"
                raise CredentialsError(
                    f"partial credentials: {missing} is missing (give both keys, or neither)"
                )
            return Credentials(key, secret, token)
        return credentials

    def _credentials(self) -> Credentials:
        source = self._credentials_source
        if source is None:
            with self._credentials_lock:
                if self._credentials_source is None:
                    from sigv4._providers import default_chain

                    chain = default_chain(profile=self._profile, environ=self._environ)
                    self._credentials_source = chain.load()
                source = self._credentials_source
        creds = source.get()
        if not isinstance(creds, Credentials):
            raise CredentialsError(
                f"the credentials source returned {type(creds).__name__}, not Credentials"
            )
        return creds

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close pooled connections. The client stays usable: a later call opens a new
        connection (as boto3's does)."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        endpoint = _redact.redact_url(self.endpoint_url)
        return f"<smruntime.Client region={self.region_name!r} endpoint={endpoint!r}>"

    # -- operations --------------------------------------------------------------------------

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpoint: one request, one response (``Body`` is a StreamingBody)."""
        return self._call("invoke_endpoint", params)

    def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointAsync: queue a request whose input is in S3 (answered with 202)."""
        return self._call("invoke_endpoint_async", params)

    def invoke_endpoint_with_response_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithResponseStream: ``Body`` is an :class:`EventStream` of PayloadParts."""
        return self._call("invoke_endpoint_with_response_stream", params)

    def can_paginate(self, operation_name: str) -> bool:
        """boto3 compatibility: no operation of this service paginates (``KeyError`` for a
        name that is not an operation, as boto3)."""
        if operation_name not in _operations.OPERATIONS:
            raise KeyError(operation_name)
        return False

    def get_paginator(self, operation_name: str) -> Any:
        """boto3 compatibility: raises, since no operation of this service paginates."""
        raise exceptions.OperationNotPageableError(operation_name)

    def get_waiter(self, waiter_name: str) -> Any:
        """boto3 compatibility: raises ``ValueError``, this service has no waiters."""
        raise ValueError(f"Waiter does not exist: {waiter_name}")

    @property
    def waiter_names(self) -> list[str]:
        """boto3 compatibility: this service has no waiters."""
        return []

    # -- the call ----------------------------------------------------------------------------

    def _call(
        self,
        op: str,
        params: Mapping[str, Any],
        *,
        _cancel: Optional[threading.Event] = None,
    ) -> dict[str, Any]:
        """Send ``op`` with its retries. ``_cancel`` (private, for :mod:`smruntime.aio`): once
        set, no further attempt is sent and :class:`_CallCancelled` is raised."""
        spec = _operations.OPERATIONS[op]
        cfg = self._config
        events = self.meta.events
        context: dict[str, Any] = {}
        if events:
            params = self._param_hooks(spec.name, params, context)
        validation = cfg.parameter_validation
        request = _operations.build_request(
            op,
            params,
            self.endpoint_url,
            validate_params=bool(validation),
            strict=validation == "strict",
        )
        max_attempts = int(cfg.max_attempts or 1)
        policy = _retries.RetryPolicy(
            _retries.RetryConfig(
                mode=cfg.retry_mode or "standard",
                total_max_attempts=max_attempts,
                retry_after_send=cfg.retry_after_send,
                retry_model_not_ready=cfg.retry_model_not_ready,
            ),
            quota=self._retry_quota,
        )
        invocation_id = _invocation_id()
        skew_retried = False
        attempt = 1
        while True:
            if _cancel is not None and _cancel.is_set():
                raise _CallCancelled(f"{spec.name} was cancelled before attempt {attempt}")
            started = time.monotonic()
            try:
                response, signed = self._send(
                    request,
                    spec.streaming,
                    invocation_id,
                    attempt,
                    max_attempts,
                    spec.name,
                    context,
                )
            except TransportError as exc:
                decision = policy.decide(attempt, error=exc)
                if not decision.retry:
                    raise
                log = debug_logger()
                if log:
                    log.debug(
                        "%s attempt %d failed (%s); retrying in %.3f s: %s",
                        spec.name,
                        attempt,
                        type(exc).__name__,
                        decision.delay,
                        decision.reason,
                    )
                _back_off(decision.delay, _cancel)
                attempt += 1
                continue
            headers_at = time.monotonic()
            status = response.status
            metadata = _operations.response_metadata(status, response.headers, attempt - 1)
            if attempt >= max_attempts and policy.config.mode != "legacy":
                metadata["MaxAttemptsReached"] = True  # botocore's standard mode: any answer
            if status < 300:
                policy.on_success()
                log = debug_logger()
                if log:
                    log.debug(
                        "%s -> HTTP %d (request id %s, attempt %d)",
                        spec.name,
                        status,
                        metadata.get("RequestId"),
                        attempt,
                    )
                return self._success(op, spec.streaming, response, metadata, started, headers_at)
            try:
                body = response.read()
            except TransportError as exc:
                body = b""
                log = debug_logger()
                if log:
                    log.debug("reading the error body failed: %s", exc)
            finally:
                response.close()
            error = _operations.parse_error(
                op, status, response.headers, body, retry_attempts=attempt - 1
            )
            error._set_response_metadata(metadata)
            if error.error_code == "InvalidSignatureException":
                log = debug_logger()
                if log:
                    log.debug(
                        "signature rejected; the canonical request was:\n%s\nstring to sign:\n%s",
                        _redact.redact_canonical_request(signed.canonical_request),
                        signed.string_to_sign,
                    )
            if (
                cfg.correct_clock_skew
                and not skew_retried
                and _retries.is_clock_skew_error(error.error_code)
                and self._adjust_clock(response)
            ):
                skew_retried = True
                log = debug_logger()
                if log:
                    log.debug("%s: clock skew corrected; retrying once", spec.name)
                continue
            decision = policy.decide(
                attempt,
                status=status,
                error_code=error.error_code,
                headers=response.headers,
                modeled_error=error.error_code in spec.errors,
            )
            if not decision.retry:
                if decision.exhausted:
                    metadata["MaxAttemptsReached"] = True
                    error._set_response_metadata(metadata)
                raise error
            log = debug_logger()
            if log:
                log.debug(
                    "%s attempt %d -> %s (HTTP %d); retrying in %.3f s",
                    spec.name,
                    attempt,
                    error.error_code,
                    status,
                    decision.delay,
                )
            _back_off(decision.delay, _cancel)
            attempt += 1

    def _param_hooks(
        self, api_name: str, params: Mapping[str, Any], context: dict[str, Any]
    ) -> Mapping[str, Any]:
        """botocore's ``provide-client-params`` (a handler may return new parameters) and
        ``before-parameter-build`` (handlers may change them in place) events."""
        events = self.meta.events
        model = OperationModel(api_name, self.meta.service_model)
        params = dict(params)
        suffix = f"{EVENT_PREFIX}.{api_name}"
        _, replaced = events.emit_until_response(
            f"provide-client-params.{suffix}", params=params, model=model, context=context
        )
        if replaced is not None:
            params = replaced
        events.emit(f"before-parameter-build.{suffix}", params=params, model=model, context=context)
        return params

    def _send(
        self,
        request: HttpRequest,
        streaming: bool,
        invocation_id: str,
        attempt: int,
        max_attempts: int,
        api_name: str = "",
        context: Optional[dict[str, Any]] = None,
    ) -> tuple[HttpResponse, Any]:
        headers = [
            *request.headers,
            ("User-Agent", self._user_agent),
            ("amz-sdk-invocation-id", invocation_id),
            ("amz-sdk-request", f"attempt={attempt}; max={max_attempts}"),
        ]
        events = self.meta.events
        method, url, body = request.method, request.url, request.body
        if events:
            hooked = HookRequest(
                method, url, headers, body, context=context, stream_output=streaming
            )
            events.emit(
                f"before-sign.{EVENT_PREFIX}.{api_name}",
                request=hooked,
                operation_name=api_name,
                region_name=self.region_name,
                signing_name=SERVICE_SIGNING_NAME,
                signature_version="v4",
                request_signer=None,
            )
            method, url, headers, body = (
                hooked.method,
                hooked.url,
                hooked.headers.pairs(),
                hooked.body,
            )
        now = _dt.datetime.now(_dt.timezone.utc) + self._clock_offset
        signed = sign(
            method,
            url,
            headers,
            body,
            credentials=self._credentials(),
            region=self.region_name,
            service=SERVICE_SIGNING_NAME,
            now=now,
        )
        log = debug_logger()
        if log:
            log.debug(
                "%s %s attempt %d headers=%s",
                request.method,
                _redact.redact_url(request.url),
                attempt,
                _redact.redact_headers(signed.headers),
            )
        cfg = self._config
        read = cfg.first_event_timeout if streaming else cfg.read_timeout
        if streaming and cfg.total_timeout is not None:
            read = cfg.total_timeout if read is None else min(read, cfg.total_timeout)
        outgoing = HttpRequest(signed.method, signed.url, list(signed.headers), signed.body)
        if events:
            hooked = HookRequest(
                outgoing.method,
                outgoing.url,
                outgoing.headers,
                outgoing.body,
                context=context,
                stream_output=streaming,
            )
            _, answer = events.emit_until_response(
                f"before-send.{EVENT_PREFIX}.{api_name}", request=hooked
            )
            if answer is not None:
                raise TypeError(
                    "a before-send handler returned a response; smruntime does not take "
                    "responses from hooks (use the emulator to fake the service)"
                )
            outgoing = HttpRequest(hooked.method, hooked.url, hooked.headers.pairs(), hooked.body)
        response = self._transport.send(
            outgoing,
            timeouts=Timeouts(connect=cfg.connect_timeout, read=read),
            stream=streaming,
        )
        return response, signed

    def _adjust_clock(self, response: HttpResponse) -> bool:
        date = response.headers.get("date")
        if not date:
            return False
        offset = _retries.clock_offset(
            date, _dt.datetime.now(_dt.timezone.utc), current=self._clock_offset
        )
        if offset is None:
            return False
        self._clock_offset = offset
        return True

    def _success(
        self,
        op: str,
        streaming: bool,
        response: HttpResponse,
        metadata: dict[str, Any],
        started: float,
        headers_at: float,
    ) -> dict[str, Any]:
        if streaming:
            result = _operations.parse_response(op, response.status, response.headers, None)
            cfg = self._config
            result["Body"] = EventStream(
                response,
                operation_name=_operations.OPERATIONS[op].name,
                content_type=result.get("ContentType"),
                started_at=started,
                headers_at=headers_at,
                first_event_timeout=cfg.first_event_timeout,
                event_timeout=cfg.event_timeout,
                total_timeout=cfg.total_timeout,
                max_payload_bytes=cfg.max_payload_bytes,
                response_metadata=metadata,
            )
        else:
            try:
                body = response.read()
            finally:
                response.close()
            result = _operations.parse_response(op, response.status, response.headers, body)
            if "Body" in result:
                result["Body"] = StreamingBody(result["Body"], result.get("ContentType"))
        result["ResponseMetadata"] = metadata
        return result
