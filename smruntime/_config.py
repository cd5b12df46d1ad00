"""Client options: :class:`Config`, boto3's spellings of them, and botocore's ``Config`` taken
by duck typing (botocore is never imported).

boto3's options keep botocore's meaning: ``retries={"max_attempts": n}`` counts *retries*
(0 = none), ``retries={"total_max_attempts": n}`` counts attempts, ``retries={"mode": ...}`` is
the retry mode; ``parameter_validation=False`` turns off the model checks (never the wire-safety
ones), ``"strict"`` adds the model's patterns and maximum lengths. Options that have no effect on
this service in botocore either (S3, checksums, compression, SigV4a, account-id endpoints,
endpoint discovery, host prefixes, client context parameters) are accepted and ignored; every
other name is a ``TypeError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional, Union

from smruntime import _retries
from smruntime._record import _Record
from smruntime._transport import ca_bundle_from_env
from smruntime.exceptions import ParamValidationError

__all__ = ["Config", "as_config", "resolve_config"]

_TRUE = {"1", "true", "yes", "on"}

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
    # boto3's spellings
    "region_name",
    "signature_version",
    "user_agent",
    "user_agent_appid",
    "retries",
    "parameter_validation",
    "client_cert",
    "tcp_keepalive",
    "proxies_config",
    "ignore_configured_endpoint_urls",
    "defaults_mode",
    "max_body_bytes",
    "inert",
)

#: botocore options that botocore itself ignores for sagemaker-runtime (no such trait in its
#: model): accepted so that shared Config objects work, and ignored here too.
INERT_OPTIONS = frozenset(
    {
        "s3",
        "s3_disable_express_session_auth",
        "inject_host_prefix",
        "endpoint_discovery_enabled",
        "request_min_compression_size_bytes",
        "disable_request_compression",
        "client_context_params",
        "sigv4a_signing_region_set",
        "request_checksum_calculation",
        "response_checksum_validation",
        "account_id_endpoint_mode",
        "auth_scheme_preference",
    }
)

_RETRY_KEYS = ("max_attempts", "mode", "total_max_attempts")
_SIGNATURE_VERSIONS = ("v4", "sigv4", "s3v4")  # s3v4: SigV4 with a payload-hash header

_TIMEOUT_FIELDS = (
    "connect_timeout",
    "read_timeout",
    "first_event_timeout",
    "event_timeout",
    "total_timeout",
)

_DEFAULT_CONNECT_TIMEOUT = 60.0
_DEFAULT_READ_TIMEOUT = 70.0


class Config(_Record):
    """Client options. ``None`` means: from the environment where AWS defines a variable, else
    the default shown.

    Timeouts are in seconds (``None`` in a resolved config means no limit):

    - ``connect_timeout`` (60): establishing the TCP/TLS connection.
    - ``read_timeout`` (70, as the service docs advise for InvokeEndpoint's 60 s model limit):
      InvokeEndpoint(Async): the wait for the response head, then each wait for body bytes.
    - ``first_event_timeout`` (= ``read_timeout``): streaming, the wait for the response headers,
      then from the headers to the first complete event.
    - ``event_timeout`` (= ``read_timeout``): streaming, the longest gap between two complete
      events (bytes that trickle in without completing one do not reset it).
    - ``total_timeout`` (none): every operation, a deadline for the whole attempt: connect,
      the response headers and the whole body (an InvokeEndpoint ``Body`` read later included).

    The response head must be complete within ``read_timeout`` (``first_event_timeout`` when
    streaming) however slowly its bytes arrive: these are monotonic deadlines, not per-read
    socket timeouts.

    Retries: ``max_attempts`` counts every attempt (``AWS_MAX_ATTEMPTS``; by default 3, and 5
    in ``"legacy"`` mode, as botocore); ``retry_mode`` is ``"standard"`` (``AWS_RETRY_MODE``).
    boto3's ``retries={"max_attempts": retries, "total_max_attempts": attempts, "mode": mode}``
    is accepted with botocore's meaning.
    ``retry_after_send`` also retries read timeouts and connections broken after the request was
    sent (the model may then run twice); ``retry_model_not_ready`` retries
    ``ModelNotReadyException``. See :mod:`smruntime._retries`.

    ``correct_clock_skew``: on a signature rejected for skewed time, sign with the server's
    clock (from its ``Date`` header) and retry once. ``max_payload_bytes`` bounds one event
    (24 MiB by default, as botocore). ``max_body_bytes`` bounds an InvokeEndpoint body (64 MiB
    by default, above the service's 25 MB response limit): past it, reading raises
    :class:`~smruntime.exceptions.BodyTooLargeError`.

    boto3's other options: ``region_name`` (used when the client is given none),
    ``signature_version`` (SigV4: ``"v4"``, ``"s3v4"``), ``user_agent`` (replaces the start of
    the User-Agent), ``user_agent_appid``, ``parameter_validation`` (``True``, ``False`` or
    ``"strict"``), ``client_cert`` (a PEM path or a ``(cert, key)`` pair, loaded on the first
    TLS connection), ``ignore_configured_endpoint_urls``, ``tcp_keepalive`` (``SO_KEEPALIVE`` on
    each connection), ``defaults_mode`` (``"legacy"`` only) and ``proxies_config`` (refused when
    set): an option or value smruntime cannot honour is a ``TypeError`` naming it. The options
    botocore ignores for this service are accepted and kept in ``inert``.

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
    region_name: Optional[str]
    signature_version: Optional[str]
    user_agent: Optional[str]
    user_agent_appid: Optional[str]
    retries: Optional[Mapping[str, Any]]
    parameter_validation: Union[bool, str]
    client_cert: Union[str, tuple[str, str], None]
    tcp_keepalive: Optional[bool]
    proxies_config: Optional[Mapping[str, Any]]
    ignore_configured_endpoint_urls: Optional[bool]
    defaults_mode: Optional[str]
    max_body_bytes: Optional[int]
    inert: Mapping[str, Any]

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
        max_pool_connections: Optional[int] = 10,
        correct_clock_skew: bool = True,
        max_payload_bytes: Optional[int] = None,
        retry_after_send: bool = False,
        retry_model_not_ready: bool = False,
        region_name: Optional[str] = None,
        signature_version: Optional[str] = None,
        user_agent: Optional[str] = None,
        user_agent_appid: Optional[str] = None,
        retries: Optional[Mapping[str, Any]] = None,
        parameter_validation: Union[bool, str, None] = True,
        client_cert: Union[str, tuple[str, str], None] = None,
        tcp_keepalive: Optional[bool] = None,
        proxies_config: Optional[Mapping[str, Any]] = None,
        ignore_configured_endpoint_urls: Optional[bool] = None,
        defaults_mode: Optional[str] = None,
        max_body_bytes: Optional[int] = None,
        inert: Optional[Mapping[str, Any]] = None,
        **boto3_options: Any,
    ) -> None:
        ignored = dict(inert or {})
        for name, value in boto3_options.items():
            if name not in INERT_OPTIONS:
                raise TypeError(f"Config() got an unexpected option {name!r}{_suggest(name)}")
            ignored[name] = value
        for name in ignored:
            if name not in INERT_OPTIONS:
                raise TypeError(f"Config() got an unexpected option {name!r}{_suggest(name)}")
        if retries is not None:
            retries = _check_retries(retries)
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
            10 if max_pool_connections is None else max_pool_connections,
            correct_clock_skew,
            max_payload_bytes,
            retry_after_send,
            retry_model_not_ready,
            region_name,
            signature_version,
            user_agent,
            user_agent_appid,
            retries,
            True if parameter_validation is None else parameter_validation,
            client_cert,
            tcp_keepalive,
            proxies_config,
            ignore_configured_endpoint_urls,
            defaults_mode,
            max_body_bytes,
            ignored,
        )

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (``TypeError`` for an unknown option)."""
        return Config(**{**dict(zip(_CONFIG_FIELDS, self._values())), **changes})

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        # A proxy URL may carry a password (http://user:pass@proxy): masked, as in the logs.
        proxies = self.proxies
        if not proxies:
            return super().__repr__()
        from smruntime._redact import redact_proxy_url

        shown = {k: redact_proxy_url(v) if isinstance(v, str) else v for k, v in proxies.items()}
        return super().__repr__().replace(f"proxies={proxies!r}", f"proxies={shown!r}", 1)


def _suggest(name: str) -> str:
    import difflib

    known = [n for n in _CONFIG_FIELDS if n != "inert"] + sorted(INERT_OPTIONS)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_retries(retries: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's ``retries`` dict, checked as botocore checks it."""
    if not isinstance(retries, Mapping):
        raise TypeError(f"retries must be a dict, got {type(retries).__name__}")
    for key in retries:
        if key not in _RETRY_KEYS:
            raise ParamValidationError(
                "retries",
                f"unknown retry option {key!r}; valid options are {', '.join(_RETRY_KEYS)}",
            )
    for key, least in (("max_attempts", 0), ("total_max_attempts", 1)):
        if key in retries:
            value = retries[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ParamValidationError(
                    f"retries.{key}", f"must be an integer >= {least}, got {value!r}"
                )
    if "mode" in retries:
        mode = retries["mode"]
        if not isinstance(mode, str) or mode not in _retries.MODES:
            raise ParamValidationError(
                "retries.mode",
                f"must be one of {', '.join(sorted(_retries.MODES))}, got {mode!r}",
            )
    return dict(retries)


def _is_botocore_config(value: object) -> bool:
    defaults = getattr(type(value), "OPTION_DEFAULTS", None)
    return isinstance(defaults, Mapping) and hasattr(value, "merge")


def as_config(value: object) -> Config:
    """``value`` as a :class:`Config`: ``None`` gives the defaults, a :class:`Config` itself,
    and anything shaped as botocore's ``Config`` (a class ``OPTION_DEFAULTS`` mapping and the
    options as attributes) is translated option by option."""
    if value is None:
        return Config()
    if isinstance(value, Config):
        return value
    if not _is_botocore_config(value):
        raise TypeError(
            f"config must be a smruntime.Config or a botocore.config.Config, got "
            f"{type(value).__name__}"
        )
    defaults: Mapping[str, Any] = type(value).OPTION_DEFAULTS  # type: ignore[attr-defined]
    options: dict[str, Any] = {}
    for name, default in defaults.items():
        current = getattr(value, name, default)
        if current is None or current == default:
            continue  # not set: smruntime's own default applies (read_timeout 70, not 60)
        options[name] = current
    if "proxies_config" in options and not options["proxies_config"]:
        del options["proxies_config"]
    unknown = [n for n in options if n not in _CONFIG_FIELDS and n not in INERT_OPTIONS]
    if unknown:
        raise TypeError(
            f"botocore Config option {unknown[0]!r} is not known to smruntime; "
            "leave it out or use smruntime.Config"
        )
    sig = options.get("signature_version")
    if sig is not None and not isinstance(sig, str):
        # botocore.UNSIGNED: a sentinel object, not a string.
        raise _unsupported(
            "signature_version",
            f"{type(sig).__name__} (unsigned); SageMaker Runtime requests are SigV4-signed",
        )
    return Config(**options)


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


def env_bool(environ: Mapping[str, str], name: str) -> Optional[bool]:
    """An AWS boolean variable: ``None`` when unset or empty."""
    value = environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in _TRUE


def _max_attempts(cfg: Config, env: Mapping[str, str], mode: str) -> int:
    retries = cfg.retries or {}
    from_retries: Optional[int] = None
    if "total_max_attempts" in retries:
        from_retries = int(retries["total_max_attempts"])
    elif "max_attempts" in retries:
        from_retries = int(retries["max_attempts"]) + 1  # botocore: retries, not attempts
    if from_retries is not None and cfg.max_attempts not in (None, from_retries):
        raise ParamValidationError(
            "max_attempts",
            f"{cfg.max_attempts} conflicts with retries={dict(retries)!r}; give one of them",
        )
    if cfg.max_attempts is not None:
        return cfg.max_attempts
    if from_retries is not None:
        return from_retries
    raw = env.get("AWS_MAX_ATTEMPTS")
    try:
        # botocore's defaults: 3 attempts in standard (and adaptive) mode, 5 in legacy mode
        return int(raw) if raw else (5 if mode == "legacy" else 3)
    except ValueError:
        raise ParamValidationError("AWS_MAX_ATTEMPTS", f"must be an integer, got {raw!r}") from None


def _shown_retries(
    cfg: Config, env: Mapping[str, str], mode: str, max_attempts: int
) -> dict[str, Any]:
    """``retries`` as botocore's ``meta.config`` shows it: as given, with the mode, and with
    ``total_max_attempts`` when ``AWS_MAX_ATTEMPTS`` set the count."""
    retries: dict[str, Any] = {**(cfg.retries or {}), "mode": mode}
    if "max_attempts" in retries:  # botocore's retries, shown as its attempts
        retries.pop("max_attempts")
        retries["total_max_attempts"] = max_attempts
    given = "total_max_attempts" in retries
    if not given and cfg.max_attempts is None and env.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = max_attempts
    return retries


def _unsupported(name: str, why: str) -> TypeError:
    return TypeError(f"Config option {name!r} is not supported: {why}")


def _check_boto3_options(cfg: Config) -> None:
    """boto3 options smruntime cannot honour: a ``TypeError`` naming the option (issue #10)."""
    sig = cfg.signature_version
    if sig is not None and sig not in _SIGNATURE_VERSIONS:
        raise _unsupported(
            "signature_version",
            f"{sig!r}; SageMaker Runtime requests are signed with SigV4 ('v4')",
        )
    if cfg.parameter_validation not in (True, False, "strict"):
        raise ParamValidationError(
            "parameter_validation",
            f"must be True, False or 'strict', got {cfg.parameter_validation!r}",
        )
    if cfg.defaults_mode not in (None, "legacy"):
        raise _unsupported(
            "defaults_mode",
            f"{cfg.defaults_mode!r} (only 'legacy'); set connect_timeout and retries explicitly",
        )
    if cfg.proxies_config:
        raise _unsupported(
            "proxies_config",
            "proxy TLS options cannot be honoured by smruntime's transports; "
            "use proxies={...} with an http:// proxy URL",
        )


def resolve_config(cfg: Config, env: Mapping[str, str]) -> Config:
    """``cfg`` with every default and environment variable applied, checked."""
    for name in _TIMEOUT_FIELDS:
        _check_seconds(name, getattr(cfg, name))
    for name in ("max_pool_connections", "max_payload_bytes", "max_body_bytes"):
        value = getattr(cfg, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ParamValidationError(name, f"must be a positive integer, got {value!r}")
    _check_boto3_options(cfg)
    mode = _retry_mode(
        (cfg.retries or {}).get("mode") or cfg.retry_mode or env.get("AWS_RETRY_MODE") or "standard"
    )
    max_attempts = _max_attempts(cfg, env, mode)
    if max_attempts < 1:
        raise ParamValidationError("max_attempts", f"must be at least 1, got {max_attempts}")
    read = _DEFAULT_READ_TIMEOUT if cfg.read_timeout is None else cfg.read_timeout
    verify = cfg.verify
    if verify is None:
        verify = ca_bundle_from_env(env) or True
    fips = cfg.use_fips_endpoint
    if fips is None:
        fips = bool(env_bool(env, "AWS_USE_FIPS_ENDPOINT"))
    dualstack = cfg.use_dualstack_endpoint
    if dualstack is None:
        dualstack = bool(env_bool(env, "AWS_USE_DUALSTACK_ENDPOINT"))
    return cfg.replace(
        connect_timeout=(
            _DEFAULT_CONNECT_TIMEOUT if cfg.connect_timeout is None else cfg.connect_timeout
        ),
        read_timeout=read,
        first_event_timeout=read if cfg.first_event_timeout is None else cfg.first_event_timeout,
        event_timeout=read if cfg.event_timeout is None else cfg.event_timeout,
        max_attempts=max_attempts,
        retry_mode=mode,
        use_fips_endpoint=fips,
        use_dualstack_endpoint=dualstack,
        verify=verify,
        retries=_shown_retries(cfg, env, mode, max_attempts),
    )
