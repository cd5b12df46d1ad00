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

from sigv4 import Credentials
from sigv4.exceptions import CredentialsError
from smruntime import _operations, _redact, _retries, exceptions
from smruntime._body import DEFAULT_MAX_BODY_BYTES, StreamingBody
from smruntime._call import ERROR_BODY_CAP, CallPlan
from smruntime._config import Config, as_config, resolve_config
from smruntime._endpoints import resolve_endpoint
from smruntime._http import HttpResponse
from smruntime._meta import (
    API_VERSION,
    HTTP2_SERVICE_NAME,
    SERVICE_NAME,
    ClientMeta,
)
from smruntime._stream import EventStream
from smruntime._transport import Transport, default_transport, wire_config
from smruntime.exceptions import TransportError, UnknownServiceError
from smruntime.http._config import WireConfig

__all__ = ["Client", "Config"]

_ENV_ENDPOINT_KEYS = ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "AWS_ENDPOINT_URL")
_sleep = time.sleep  # the retry back-off; tests replace it


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

    ``transport`` is ``None``/``"default"`` (smruntime's own HTTP/1.1 client; ``"stdlib"`` is an
    alias), ``"requests"`` (needs ``smruntime[requests]``) or a
    :class:`~smruntime._transport.Transport`. The client is thread-safe and can be pickled (its
    configuration, see :meth:`_pickle_state`; event hooks are not carried); close it (or use it
    as a context manager) to release pooled connections.
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
        fips_region = False
        if isinstance(region_name, str) and region_name.strip():
            from smruntime._endpoints import normalize_region

            real, fips_region = normalize_region(region_name)
            if fips_region:  # us-east-1-fips: as botocore, region us-east-1 with FIPS on
                region_name = real
        self.region_name: str = region_name
        if endpoint_url is None and not self._config.ignore_configured_endpoint_urls:
            endpoint_url = next((env[k] for k in _ENV_ENDPOINT_KEYS if env.get(k)), None)
        self._endpoint_override: str | None = endpoint_url  # also the HTTP/2 service's
        # As botocore, an endpoint_url wins over use_fips_endpoint / use_dualstack_endpoint (and
        # AWS_USE_FIPS_ENDPOINT): the flags are ignored rather than an error.
        resolved = resolve_endpoint(
            self.region_name,
            use_fips=(bool(self._config.use_fips_endpoint) or fips_region) and not endpoint_url,
            use_dualstack=bool(self._config.use_dualstack_endpoint) and not endpoint_url,
            endpoint_url=endpoint_url,  # ("" is refused, as botocore refuses it)
        )
        if not use_ssl and not endpoint_url and resolved.startswith("https://"):
            resolved = "http://" + resolved[len("https://") :]  # as botocore's use_ssl=False
        self.endpoint_url: str = resolved
        self._credentials_source: Any = self._explicit_credentials(
            aws_access_key_id, aws_secret_access_key, aws_session_token, credentials
        )
        self._credentials_given = self._credentials_source is not None
        self._credentials_lock = threading.Lock()
        self._transport_name: Optional[str] = None
        self._wire: Optional[WireConfig] = None
        if isinstance(transport, str) or transport is None:
            self._transport: Transport = default_transport(transport, self._wire_config())
            self._transport_name = transport or "default"
        else:
            self._transport = transport
        self._explicit_environ = None if environ is None else dict(environ)
        self._retry_quota = _retries.RetryQuota()
        self._clock_offset = _dt.timedelta(0)
        self._user_agent = _user_agent(self._config)
        self.exceptions = _Exceptions()
        # meta.config as boto3's: the client's region and the signature version in it
        shown = self._config.replace(
            region_name=self.region_name,
            signature_version=self._config.signature_version or "v4",
        )
        self.meta = ClientMeta(self.region_name, self.endpoint_url, shown)

    # -- configuration -----------------------------------------------------------------------

    def _wire_config(self) -> WireConfig:
        """The drivers' configuration from the resolved one (the environment's proxies read
        once, on first use): the one builder for this client's transport, an AsyncClient's
        pool and the HTTP/2 drivers (:mod:`smruntime._bidi`)."""
        if self._wire is not None:
            return self._wire
        cfg = self._config
        built = self._wire = wire_config(
            verify=True if cfg.verify is None else cfg.verify,
            proxies=cfg.proxies,
            max_pool_connections=cfg.max_pool_connections,
            client_cert=cfg.client_cert,
            tcp_keepalive=bool(cfg.tcp_keepalive),
            environ=self._environ,
        )
        return built

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

    def _credentials_now(self) -> Any:
        """The credentials to sign with when getting them cannot do I/O (static ones, or
        refreshable ones still fresh); None otherwise: :meth:`_credentials` then, off an
        event loop (the asyncio client runs it in the default executor)."""
        from sigv4 import RefreshableCredentials

        source = self._credentials_source
        if isinstance(source, Credentials):
            return source
        if isinstance(source, RefreshableCredentials) and _fresh(source):
            return source.get()
        return None

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

    def invoke_endpoint_with_bidirectional_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithBidirectionalStream (HTTP/2, ``pip install smruntime[http2]``):
        ``Body`` is a :class:`~smruntime._bidi.DuplexStream` to ``send()`` parts on and
        iterate events from, at once. See :mod:`smruntime._bidi`."""
        from smruntime._bidi import invoke

        return invoke(self, params)

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

    def _call(self, op: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``op`` with its retries (the rules are :class:`~smruntime._call.CallPlan`'s;
        this loop only sends, reads and sleeps)."""
        plan = CallPlan(self, op, params)
        transport = self._transport
        while True:
            request, deadlines = plan.prepare(self._credentials())
            try:
                response = transport.send(request, deadlines=deadlines)
            except TransportError as exc:
                _sleep(plan.after_transport_error(exc))
                continue
            headers_at = time.monotonic() if plan.streaming else 0.0  # (the stream's clock)
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
                _sleep(plan.after_transport_error(exc))
                continue
            finally:
                response.close()
            delay = plan.after_error(status, response.headers, body)
            if delay is not None:
                _sleep(delay)

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
        if source is not None and not isinstance(source, Credentials):
            import pickle

            try:
                pickle.dumps(source)
            except Exception as exc:  # noqa: BLE001 - any failure means: cannot travel
                raise TypeError(
                    f"this Client cannot be pickled: its credentials object "
                    f"({type(source).__name__}) cannot be ({type(exc).__name__}); pass keys, or "
                    "let the default chain find credentials in each process"
                ) from None
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
        region_name=state["region_name"],
        endpoint_url=state["endpoint_url"],
        profile_name=state["profile_name"],
        config=state["config"],
        transport=state["transport"],
        credentials=state["credentials"],
        environ=state["environ"],
    )


def _fresh(source: Any) -> bool:
    """True when ``source.get()`` will not fetch: credentials held that expire after
    sigv4's advisory refresh window (or never)."""
    import datetime as dt

    from sigv4._refresh import ADVISORY_REFRESH

    if source.current is None:
        return False
    expiration = source.expiration
    if expiration is None:
        return True
    return bool(expiration - dt.datetime.now(dt.timezone.utc) > ADVISORY_REFRESH)
