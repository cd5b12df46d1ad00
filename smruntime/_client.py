"""The SageMaker Runtime client: boto3's method names, parameters and response shapes.

One call: validate and build the request (:mod:`._operations`), sign it with a fresh date
(:mod:`sigv4`), send it (:mod:`._transport`), and either parse the answer or hand back the
streaming body (:mod:`._stream`). Failures are retried per :mod:`._retries`; a retry is never
made once an event has reached the caller, because the stream is handed over before any event
is read.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional, Union

from sigv4 import Credentials
from sigv4.exceptions import CredentialsError
from smruntime import _redact, _retries, exceptions
from smruntime._body import DEFAULT_MAX_BODY_BYTES, StreamingBody
from smruntime._call import ERROR_BODY_CAP, CallPlan
from smruntime._endpoints import resolve_endpoint
from smruntime._http import HttpResponse
from smruntime._record import _Record
from smruntime._stream import EventStream
from smruntime._transport import Transport, default_transport
from smruntime.exceptions import ParamValidationError, TransportError
from smruntime.http._config import ca_bundle_from_env

__all__ = ["Client", "Config"]

_ENV_ENDPOINT_KEYS = ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL")
_TRUE = {"1", "true", "yes", "on"}
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


_CONFIG_FIELDS = (
    "connect_timeout",
    "read_timeout",
    "first_event_timeout",
    "event_timeout",
    "total_timeout",
    "max_attempts",
    "retry_mode",
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "user_agent_extra",
    "verify",
    "proxies",
    "max_pool_connections",
    "correct_clock_skew",
    "max_payload_bytes",
    "retry_after_send",
    "retry_model_not_ready",
    "max_body_bytes",
    "client_cert",
)


_TIMEOUT_FIELDS = (
    "connect_timeout",
    "read_timeout",
    "first_event_timeout",
    "event_timeout",
    "total_timeout",
)


def _check_seconds(name: str, value: object) -> None:
    """A timeout is None (the default / no limit) or a finite number of seconds above zero."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ParamValidationError(name, f"must be a finite number of seconds > 0, got {value!r}")


def _retry_mode(value: str) -> str:
    mode = value.strip().lower()
    if mode not in _retries.MODES:
        raise ParamValidationError(
            "retry_mode", f"must be one of {', '.join(sorted(_retries.MODES))}, got {value!r}"
        )
    return mode


class Config(_Record):
    """Client options. ``None`` means: from the environment where AWS defines a variable, else
    the default shown.

    Timeouts are in seconds (``None`` in a resolved config means no limit):

    - ``connect_timeout`` (60): establishing the TCP/TLS connection.
    - ``read_timeout`` (70, as the service docs advise for InvokeEndpoint's 60 s model limit):
      InvokeEndpoint(Async), each socket read: the wait for the response headers, then the body.
    - ``first_event_timeout`` (= ``read_timeout``): streaming, the wait for the response headers,
      then from the headers to the first complete event.
    - ``event_timeout`` (= ``read_timeout``): streaming, the longest gap between two complete
      events (bytes that trickle in without completing one do not reset it).
    - ``total_timeout`` (none): every operation, a deadline for the whole attempt: connect,
      the response headers and the whole body (an InvokeEndpoint ``Body`` read later included).

    The response head must be complete within ``read_timeout`` (``first_event_timeout`` when
    streaming) however slowly its bytes arrive: these are monotonic deadlines, not per-read
    socket timeouts.

    Retries: ``max_attempts`` counts every attempt (``AWS_MAX_ATTEMPTS``, default 3);
    ``retry_mode`` is ``"standard"`` (``AWS_RETRY_MODE``). ``retry_after_send`` also retries read
    timeouts and connections broken after the request was sent (the model may then run twice);
    ``retry_model_not_ready`` retries ``ModelNotReadyException``. See :mod:`smruntime._retries`.

    ``correct_clock_skew``: on a signature rejected for skewed time, sign with the server's
    clock (from its ``Date`` header) and retry once. ``max_payload_bytes`` bounds one event
    (24 MiB by default, as botocore). ``max_body_bytes`` bounds an InvokeEndpoint body (64 MiB
    by default, above the service's 25 MB response limit): past it, reading raises
    :class:`~smruntime.exceptions.BodyTooLargeError`. ``client_cert``: a PEM file (certificate
    and key) or a ``(cert, key)`` pair for mutual TLS.

    Immutable (assigning a field raises ``AttributeError``); :meth:`replace` makes a changed
    copy. Compared field by field.
    """

    __slots__ = _CONFIG_FIELDS

    connect_timeout: Optional[float]
    read_timeout: Optional[float]
    first_event_timeout: Optional[float]
    event_timeout: Optional[float]
    total_timeout: Optional[float]
    max_attempts: Optional[int]
    retry_mode: Optional[str]
    use_fips_endpoint: Optional[bool]
    use_dualstack_endpoint: Optional[bool]
    user_agent_extra: Optional[str]
    verify: Union[bool, str, None]
    proxies: Optional[Mapping[str, str]]
    max_pool_connections: int
    correct_clock_skew: bool
    max_payload_bytes: Optional[int]
    retry_after_send: bool
    retry_model_not_ready: bool
    max_body_bytes: Optional[int]
    client_cert: Union[str, tuple[str, str], None]

    def __init__(
        self,
        connect_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        first_event_timeout: Optional[float] = None,
        event_timeout: Optional[float] = None,
        total_timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
        retry_mode: Optional[str] = None,
        use_fips_endpoint: Optional[bool] = None,
        use_dualstack_endpoint: Optional[bool] = None,
        user_agent_extra: Optional[str] = None,
        verify: Union[bool, str, None] = None,
        proxies: Optional[Mapping[str, str]] = None,
        max_pool_connections: int = 10,
        correct_clock_skew: bool = True,
        max_payload_bytes: Optional[int] = None,
        retry_after_send: bool = False,
        retry_model_not_ready: bool = False,
        max_body_bytes: Optional[int] = None,
        client_cert: Union[str, tuple[str, str], None] = None,
    ) -> None:
        self._init(
            connect_timeout,
            read_timeout,
            first_event_timeout,
            event_timeout,
            total_timeout,
            max_attempts,
            retry_mode,
            use_fips_endpoint,
            use_dualstack_endpoint,
            user_agent_extra,
            verify,
            proxies,
            max_pool_connections,
            correct_clock_skew,
            max_payload_bytes,
            retry_after_send,
            retry_model_not_ready,
            max_body_bytes,
            client_cert,
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (``TypeError`` for an unknown option)."""
        return Config(**{**dict(zip(_CONFIG_FIELDS, self._values())), **changes})


_DEFAULT_CONNECT_TIMEOUT = 60.0
_DEFAULT_READ_TIMEOUT = 70.0


class _Exceptions:
    """``client.exceptions``: the error classes by name, as boto3 exposes them."""

    ClientError = exceptions.ClientError

    def __init__(self) -> None:
        for name, cls in exceptions.KNOWN_ERRORS.items():
            setattr(self, name, cls)

    def __getattr__(self, name: str) -> type[exceptions.ClientError]:
        raise AttributeError(
            f"no error class {name!r}; known: {', '.join(sorted(exceptions.KNOWN_ERRORS))}"
        )


def _env_bool(environ: Mapping[str, str], name: str) -> Optional[bool]:
    value = environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in _TRUE


def _user_agent(extra: str | None) -> str:
    from smruntime import __version__

    python = ".".join(str(part) for part in sys.version_info[:3])
    agent = f"smruntime/{__version__} python/{python}"
    return f"{agent} {extra}" if extra else agent


class Client:
    """A SageMaker Runtime client, a drop-in for ``boto3.client("sagemaker-runtime")``.

    Credentials: explicit keys, else ``credentials`` (a :class:`sigv4.Credentials` or anything
    with ``.get()``), else the default provider chain (environment, web identity, shared files,
    container, instance metadata), resolved on first use. Region: ``region_name``, else
    ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's ``region``.

    ``transport`` is ``None``/``"default"`` (smruntime's own HTTP/1.1 client; ``"stdlib"`` is an
    alias), ``"requests"`` (needs ``smruntime[requests]``) or a
    :class:`~smruntime._transport.Transport`. The client is thread-safe and can be pickled (its
    configuration; see :meth:`_pickle_state`); close it (or use it as a context manager) to
    release pooled connections.
    """

    def __init__(
        self,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile_name: str | None = None,
        *,
        config: Config | None = None,
        verify: bool | str | None = None,
        transport: str | Transport | None = None,
        credentials: Any = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env: Mapping[str, str] = os.environ if environ is None else environ
        self._environ = env
        self._profile = profile_name
        cfg = config or Config()
        if verify is not None:
            cfg = cfg.replace(verify=verify)
        self._config = self._resolve_config(cfg, env)
        if region_name is None:
            from sigv4._region import resolve_region  # reads files: only when needed

            region_name = resolve_region(None, profile=profile_name, environ=env)
        self.region_name: str = region_name
        endpoint_url = endpoint_url or next(
            (env[k] for k in _ENV_ENDPOINT_KEYS if env.get(k)), None
        )
        self.endpoint_url: str = resolve_endpoint(
            self.region_name,
            use_fips=bool(self._config.use_fips_endpoint),
            use_dualstack=bool(self._config.use_dualstack_endpoint),
            endpoint_url=endpoint_url,
        )
        self._credentials_source: Any = self._explicit_credentials(
            aws_access_key_id, aws_secret_access_key, aws_session_token, credentials
        )
        self._credentials_given = self._credentials_source is not None
        self._credentials_lock = threading.Lock()
        self._transport_name: Optional[str] = None
        if isinstance(transport, str) or transport is None:
            verify_value = self._config.verify
            self._transport: Transport = default_transport(
                transport,
                verify=True if verify_value is None else verify_value,
                proxies=self._config.proxies,
                max_pool_connections=self._config.max_pool_connections,
                client_cert=self._config.client_cert,
                environ=env,
            )
            self._transport_name = transport or "default"
        else:
            self._transport = transport
        self._explicit_environ = None if environ is None else dict(environ)
        self._retry_quota = _retries.RetryQuota()
        self._clock_offset = _dt.timedelta(0)
        self._user_agent = _user_agent(self._config.user_agent_extra)
        self.exceptions = _Exceptions()

    # -- configuration -----------------------------------------------------------------------

    @staticmethod
    def _resolve_config(cfg: Config, env: Mapping[str, str]) -> Config:
        for name in _TIMEOUT_FIELDS:
            _check_seconds(name, getattr(cfg, name))
        for name in ("max_pool_connections", "max_payload_bytes", "max_body_bytes"):
            value = getattr(cfg, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ParamValidationError(name, f"must be a positive integer, got {value!r}")
        max_attempts = cfg.max_attempts
        if max_attempts is None:
            raw = env.get("AWS_MAX_ATTEMPTS")
            try:
                max_attempts = int(raw) if raw else 3
            except ValueError:
                raise ParamValidationError(
                    "AWS_MAX_ATTEMPTS", f"must be an integer, got {raw!r}"
                ) from None
        if max_attempts < 1:
            raise ParamValidationError("max_attempts", f"must be at least 1, got {max_attempts}")
        read = _DEFAULT_READ_TIMEOUT if cfg.read_timeout is None else cfg.read_timeout
        verify = cfg.verify
        if verify is None:
            verify = ca_bundle_from_env(env) or True
        fips = cfg.use_fips_endpoint
        if fips is None:
            fips = bool(_env_bool(env, "AWS_USE_FIPS_ENDPOINT"))
        dualstack = cfg.use_dualstack_endpoint
        if dualstack is None:
            dualstack = bool(_env_bool(env, "AWS_USE_DUALSTACK_ENDPOINT"))
        return cfg.replace(
            connect_timeout=(
                _DEFAULT_CONNECT_TIMEOUT if cfg.connect_timeout is None else cfg.connect_timeout
            ),
            read_timeout=read,
            first_event_timeout=read
            if cfg.first_event_timeout is None
            else cfg.first_event_timeout,
            event_timeout=read if cfg.event_timeout is None else cfg.event_timeout,
            max_attempts=max_attempts,
            retry_mode=_retry_mode(cfg.retry_mode or env.get("AWS_RETRY_MODE") or "standard"),
            use_fips_endpoint=fips,
            use_dualstack_endpoint=dualstack,
            verify=verify,
        )

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
        """Close pooled connections."""
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
        """boto3 compatibility: no operation of this service paginates."""
        return False

    # -- the call ----------------------------------------------------------------------------

    def _call(
        self,
        op: str,
        params: Mapping[str, Any],
        *,
        _cancel: Optional[threading.Event] = None,
    ) -> dict[str, Any]:
        """Send ``op`` with its retries (the rules are :class:`~smruntime._call.CallPlan`'s;
        this loop only sends, reads and sleeps). ``_cancel`` (private, for
        :mod:`smruntime.aio`): once set, no further attempt is sent and :class:`_CallCancelled`
        is raised."""
        plan = CallPlan(self, op, params)
        transport = self._transport
        while True:
            if _cancel is not None and _cancel.is_set():
                raise _CallCancelled(
                    f"{plan.spec.name} was cancelled before attempt {plan.attempt}"
                )
            request, deadlines = plan.prepare(self._credentials())
            try:
                response = transport.send(request, deadlines=deadlines)
            except TransportError as exc:
                _back_off(plan.after_transport_error(exc), _cancel)
                continue
            headers_at = time.monotonic()
            status = response.status
            if plan.succeeded(status):
                try:
                    return self._success(plan, response, headers_at)
                except BaseException:
                    response.abort()
                    raise
            try:
                body = read_capped(response, ERROR_BODY_CAP)
            except TransportError as exc:
                # A dripped or cut error body fails the attempt like any transport error.
                _back_off(plan.after_transport_error(exc), _cancel)
                continue
            finally:
                response.close()
            delay = plan.after_error(status, response.headers, body)
            if delay is not None:
                _back_off(delay, _cancel)

    def _success(self, plan: CallPlan, response: HttpResponse, headers_at: float) -> dict[str, Any]:
        cfg = self._config
        if plan.streaming:
            metadata = plan.metadata(response.status, response.headers)
            result = plan.success(response.status, response.headers, metadata=metadata)
            result["Body"] = EventStream(
                response,
                operation_name=plan.spec.name,
                content_type=result.get("ContentType"),
                started_at=plan.started,
                headers_at=headers_at,
                first_event_timeout=cfg.first_event_timeout,
                event_timeout=cfg.event_timeout,
                total_timeout=cfg.total_timeout,
                max_payload_bytes=cfg.max_payload_bytes,
                response_metadata=metadata,
            )
            result["ResponseMetadata"] = result.pop("ResponseMetadata")
            return result
        if plan.lazy_body:
            result = plan.success(response.status, response.headers)
            result["Body"] = StreamingBody(
                response,
                result.get("ContentType"),
                max_bytes=cfg.max_body_bytes or DEFAULT_MAX_BODY_BYTES,
            )
            return result
        try:
            body = read_capped(response, cfg.max_body_bytes or DEFAULT_MAX_BODY_BYTES)
        finally:
            response.close()
        return plan.success(response.status, response.headers, body)

    # -- pickling ----------------------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_client, (self._pickle_state(),))

    def _pickle_state(self) -> dict[str, Any]:
        """What a pickle carries: the configuration, never a connection. Explicit keys (or a
        ``credentials`` object the caller passed) travel as given; credentials the default
        chain found are not pickled: the unpickled client resolves its own."""
        if self._transport_name is None:
            raise TypeError(
                "a Client with a custom transport object cannot be pickled; "
                "use transport='default' or 'requests'"
            )
        source = self._credentials_source if self._credentials_given else None
        return {
            "region_name": self.region_name,
            "endpoint_url": self.endpoint_url,
            "profile_name": self._profile,
            "config": self._config,
            "transport": self._transport_name,
            "credentials": source,
            "environ": self._explicit_environ,
        }


def read_capped(response: HttpResponse, cap: int) -> bytes:
    """The body, read to its end or to ``cap`` bytes (then the connection is dropped)."""
    parts: list[bytes] = []
    size = 0
    while size < cap:
        chunk = response.read_some()
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    response.abort()
    return b"".join(parts)[:cap]


def _restore_client(state: dict[str, Any]) -> Client:
    return Client(
        state["region_name"],
        state["endpoint_url"],
        profile_name=state["profile_name"],
        config=state["config"],
        transport=state["transport"],
        credentials=state["credentials"],
        environ=state["environ"],
    )
