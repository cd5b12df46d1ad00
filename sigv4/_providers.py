"""Credential providers and the default chain (the impure edge of ``sigv4``).

Every provider takes its world as arguments: ``environ`` (a mapping, default ``os.environ``),
``http`` (an :data:`~sigv4._http.HttpFetch`, default ``urllib``), ``clock`` (returns aware UTC
now) and ``home`` (the home directory holding ``.aws/``). ``load()`` returns credentials
(plain, or :class:`RefreshableCredentials` for temporary ones), ``None`` when the provider is not
configured, and raises :class:`CredentialProviderError` when it is configured but fails.

Default chain order: environment, web identity, shared profile (static keys, credential_process,
role_arn with source_profile/credential_source, web identity), container, instance metadata.
"""

from __future__ import annotations

import abc
import datetime as _dt
import ipaddress
import json
import logging
import os
import random
import shlex
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Union

from sigv4._credentials import Credentials, mask
from sigv4._http import HttpFetch, HttpFetchError, HttpResult, urllib_fetch
from sigv4._profiles import (
    PathLike,
    ProfileFileError,
    Profiles,
    load_profiles,
    profile_name,
    resolve_home,
)
from sigv4._refresh import Clock, RefreshableCredentials, parse_timestamp, utc_now
from sigv4._sts import assume_role, assume_role_with_web_identity
from sigv4.exceptions import (
    CredentialProviderError,
    NoCredentialsError,
    SigV4Error,
)

__all__ = [
    "AnyCredentials",
    "AssumeRoleProvider",
    "ChainProvider",
    "ContainerProvider",
    "CredentialProvider",
    "EnvProvider",
    "InstanceMetadataProvider",
    "ProcessProvider",
    "ProfileProvider",
    "StaticProvider",
    "WebIdentityProvider",
    "default_chain",
]

logger = logging.getLogger("sigv4.credentials")

AnyCredentials = Union[Credentials, RefreshableCredentials]

_ARN_MIN = 20
_MAX_ERR_TEXT = 300


def _clip(text: str, limit: int = _MAX_ERR_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _fetch_reason(exc: OSError) -> str:
    if isinstance(exc, HttpFetchError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


class CredentialProvider(abc.ABC):
    """A source of credentials. Subclasses implement :meth:`_load`.

    ``load()`` returns credentials, or ``None`` when this source is not configured; it raises
    :class:`CredentialProviderError` (or another :class:`CredentialsError`) when it is configured
    but cannot deliver. Unexpected exceptions are wrapped, never leaked.
    """

    name: str = "provider"

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        self._environ = environ
        self._http = http
        self._clock = clock
        self._home = home

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment read by this provider (``os.environ`` unless injected)."""
        return os.environ if self._environ is None else self._environ

    @property
    def http(self) -> HttpFetch:
        """The HTTP function used (``urllib_fetch`` unless injected)."""
        return self._http or urllib_fetch

    @property
    def clock(self) -> Clock:
        """The clock used (``utc_now`` unless injected)."""
        return self._clock or utc_now

    def _injected(self) -> dict[str, Any]:
        return {
            "environ": self._environ,
            "http": self._http,
            "clock": self._clock,
            "home": self._home,
        }

    def load(self) -> AnyCredentials | None:
        """Credentials from this source, ``None`` if not configured; raises if it is but fails."""
        try:
            return self._load()
        except SigV4Error:
            raise
        except Exception as exc:
            detail = f": {exc}" if isinstance(exc, OSError) else ""
            raise CredentialProviderError(
                self.name, f"unexpected {type(exc).__name__}{detail}"
            ) from exc

    @abc.abstractmethod
    def _load(self) -> AnyCredentials | None:
        """Implementation of :meth:`load`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _refreshable(
    fetch: Callable[[], Credentials],
    clock: Clock,
    name: str,
    initial: Credentials | None = None,
) -> AnyCredentials:
    """Wrap ``initial`` (default: one ``fetch()``) for refresh if it expires; check it is live."""
    if initial is None:
        initial = fetch()
    if initial.expiration is None:
        return initial
    rc = RefreshableCredentials(fetch, clock=clock, initial=initial, name=name)
    rc.get()  # raises CredentialsExpiredError if it is expired and cannot be renewed
    return rc


class StaticProvider(CredentialProvider):
    """Explicit credentials given in code."""

    name = "explicit"

    def __init__(self, credentials: AnyCredentials) -> None:
        super().__init__()
        self._credentials = credentials

    @classmethod
    def from_keys(
        cls, access_key_id: str, secret_access_key: str, session_token: str | None = None
    ) -> StaticProvider:
        """A provider for an access key pair (and optional session token)."""
        return cls(Credentials(access_key_id, secret_access_key, session_token))

    def _load(self) -> AnyCredentials:
        return self._credentials


class EnvProvider(CredentialProvider):
    """``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / token and optional expiration.

    The token is ``AWS_SECURITY_TOKEN`` if set, else ``AWS_SESSION_TOKEN`` (botocore order). With
    ``AWS_CREDENTIAL_EXPIRATION`` the credentials are refreshed by re-reading the environment.
    """

    name = "env"

    def __init__(
        self, *, environ: Mapping[str, str] | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(environ=environ, clock=clock)

    def _read(self) -> Credentials:
        env = self.environ
        key = env.get("AWS_ACCESS_KEY_ID", "")
        secret = env.get("AWS_SECRET_ACCESS_KEY", "")
        if not key:
            raise CredentialProviderError(self.name, "AWS_ACCESS_KEY_ID is no longer set")
        if not secret:
            raise CredentialProviderError(
                self.name, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
            )
        token = env.get("AWS_SECURITY_TOKEN") or env.get("AWS_SESSION_TOKEN") or None
        expiration = None
        raw_exp = env.get("AWS_CREDENTIAL_EXPIRATION")
        if raw_exp:
            try:
                expiration = parse_timestamp(raw_exp, field="AWS_CREDENTIAL_EXPIRATION")
            except ValueError as exc:
                raise CredentialProviderError(self.name, str(exc)) from None
        return Credentials(key, secret, token, expiration)

    def _load(self) -> AnyCredentials | None:
        env = self.environ
        if not env.get("AWS_ACCESS_KEY_ID"):
            if env.get("AWS_SECRET_ACCESS_KEY"):
                raise CredentialProviderError(
                    self.name, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                )
            return None
        return _refreshable(self._read, self.clock, self.name)


def _region_from(environ: Mapping[str, str], profile: Mapping[str, str] | None) -> str | None:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region and profile:
        region = profile.get("region")
    return region.strip() if region and region.strip() else None


def _sts_url(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    return explicit or environ.get("AWS_ENDPOINT_URL_STS") or None


def _default_session_name(clock: Clock) -> str:
    return f"sigv4-session-{int(clock().timestamp())}"


def _read_profiles(provider: str, environ: Mapping[str, str], home: PathLike | None) -> Profiles:
    try:
        return load_profiles(environ, home)
    except ProfileFileError as exc:
        raise CredentialProviderError(provider, str(exc)) from None


def _read_token_file(provider: str, what: str, path: PathLike) -> str:
    """The text of the token file ``path``; an unreadable one raises naming ``what``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise CredentialProviderError(provider, f"cannot read {what} {path}: {why}") from None


def _expand_user(path: str, environ: Mapping[str, str], home: PathLike | None) -> Path:
    if path == "~" or path.startswith(("~/", "~\\")):
        home_dir = resolve_home(home, environ)
        if home_dir is not None:
            return home_dir / path[2:] if len(path) > 1 else home_dir
    return Path(path)


class WebIdentityProvider(CredentialProvider):
    """``AssumeRoleWithWebIdentity`` with a token file (EKS IRSA and the like).

    Settings come from ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN``,
    ``AWS_ROLE_SESSION_NAME`` (unless ``use_environment`` is false; by default it is false when
    ``profile`` is given in code), falling back to the profile's ``web_identity_token_file``,
    ``role_arn``, ``role_session_name``. The token file is read again on every refresh.
    Credentials are fetched on first use.
    """

    name = "assume-role-with-web-identity"

    def __init__(
        self,
        *,
        profile: str | None = None,
        use_environment: bool | None = None,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._profile = profile
        self._use_env = profile is None if use_environment is None else use_environment
        self._region = region
        self._sts_endpoint_url = sts_endpoint_url

    def _load(self) -> AnyCredentials | None:
        env = self.environ
        token_file = role_arn = session = None
        if self._use_env:
            token_file = env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or None
            role_arn = env.get("AWS_ROLE_ARN") or None
            session = env.get("AWS_ROLE_SESSION_NAME") or None
        prof: dict[str, str] | None = None
        name = profile_name(self._profile, env)
        if not (token_file and role_arn and session):
            prof = _read_profiles(self.name, env, self._home).get(name)
            if prof is not None:
                token_file = token_file or prof.get("web_identity_token_file") or None
                if token_file:
                    role_arn = role_arn or prof.get("role_arn") or None
                    session = session or prof.get("role_session_name") or None
        if not token_file:
            return None
        if not role_arn:
            raise CredentialProviderError(
                self.name,
                f"web identity token file {token_file} is set but no role ARN "
                f"(AWS_ROLE_ARN or role_arn in profile {name!r})",
            )
        region = self._region or _region_from(env, prof)
        return RefreshableCredentials(
            self._fetcher(token_file, role_arn, session, region), clock=self.clock, name=self.name
        )

    def _fetcher(
        self, token_file: str, role_arn: str, session: str | None, region: str | None
    ) -> Callable[[], Credentials]:
        path = _expand_user(token_file, self.environ, self._home)

        def fetch() -> Credentials:
            token = _read_token_file(self.name, "web identity token file", path)
            if not token.strip():
                raise CredentialProviderError(self.name, f"web identity token file {path} is empty")
            return assume_role_with_web_identity(
                role_arn=role_arn,
                session_name=session or _default_session_name(self.clock),
                web_identity_token=token,
                region=region,
                http=self.http,
                endpoint_url=_sts_url(self._sts_endpoint_url, self.environ),
                provider=self.name,
            ).credentials

        return fetch


class ProcessProvider(CredentialProvider):
    """``credential_process``: run a command (no shell) that prints credentials as JSON.

    The JSON must have ``Version: 1``, ``AccessKeyId``, ``SecretAccessKey`` and may have
    ``SessionToken`` and ``Expiration`` (then the command is run again to refresh). The command
    is ``command`` if given, else the profile's ``credential_process``.
    """

    name = "custom-process"

    def __init__(
        self,
        command: str | Sequence[str] | None = None,
        *,
        profile: str | None = None,
        timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, clock=clock, home=home)
        self._command = command
        self._profile = profile
        self._timeout = timeout

    def _argv(self) -> list[str] | None:
        command = self._command
        if command is None:
            name = profile_name(self._profile, self.environ)
            prof = _read_profiles(self.name, self.environ, self._home).get(name) or {}
            command = prof.get("credential_process") or None
            if command is None:
                return None
        if isinstance(command, str):
            try:
                argv = shlex.split(command, posix=os.name != "nt")
            except ValueError as exc:
                raise CredentialProviderError(
                    self.name, f"cannot split credential_process command: {exc}"
                ) from None
        else:
            argv = [str(part) for part in command]
        if not argv:
            raise CredentialProviderError(self.name, "credential_process command is empty")
        return argv

    def _run(self, argv: list[str]) -> Credentials:
        prog = argv[0]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=self._timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CredentialProviderError(
                self.name, f"{prog} did not finish within {self._timeout} s"
            ) from None
        except OSError as exc:
            raise CredentialProviderError(
                self.name, f"cannot run {prog}: {exc.strerror or type(exc).__name__}"
            ) from None
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace")
            raise CredentialProviderError(
                self.name, f"{prog} exited with status {proc.returncode}: {_clip(stderr)}"
            )
        try:
            data = json.loads(proc.stdout.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            # The output is never quoted: it may hold the secret.
            raise CredentialProviderError(
                self.name, f"{prog} did not print a JSON object on stdout"
            ) from None
        if not isinstance(data, dict):
            raise CredentialProviderError(self.name, f"{prog} printed JSON that is not an object")
        version = data.get("Version")
        if version != 1 or isinstance(version, bool):
            raise CredentialProviderError(
                self.name, f"{prog}: unsupported Version {version!r} (expected 1)"
            )
        for field in ("AccessKeyId", "SecretAccessKey"):
            if not isinstance(data.get(field), str) or not data[field]:
                raise CredentialProviderError(self.name, f"{prog}: {field} missing or not a string")
        token = data.get("SessionToken")
        if token is not None and not isinstance(token, str):
            raise CredentialProviderError(self.name, f"{prog}: SessionToken is not a string")
        expiration = None
        if data.get("Expiration") is not None:
            try:
                expiration = parse_timestamp(data["Expiration"])
            except ValueError as exc:
                raise CredentialProviderError(self.name, f"{prog}: {exc}") from None
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], token or None, expiration)

    def _load(self) -> AnyCredentials | None:
        argv = self._argv()
        if argv is None:
            return None
        return _refreshable(lambda: self._run(argv), self.clock, self.name)


_CONTAINER_HOST = "169.254.170.2"
_CONTAINER_ALLOWED = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"})


class ContainerProvider(CredentialProvider):
    """ECS task roles and EKS Pod Identity: ``AWS_CONTAINER_CREDENTIALS_*_URI``.

    A relative URI is resolved against ``http://169.254.170.2``; a full URI must be ``https`` or
    point at loopback, ``169.254.170.2``, ``169.254.170.23`` or ``[fd00:ec2::23]``. The
    ``Authorization`` header comes from ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` (read on every
    fetch) or ``AWS_CONTAINER_AUTHORIZATION_TOKEN``.
    """

    name = "container-role"

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        retry_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._retry_delay = retry_delay
        self._sleep = sleep

    def _url(self) -> str | None:
        env = self.environ
        rel = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        if rel:
            return f"http://{_CONTAINER_HOST}{'' if rel.startswith('/') else '/'}{rel}"
        full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        if not full:
            return None
        try:
            parts = urllib.parse.urlsplit(full)
            host = (parts.hostname or "").lower()
        except ValueError:
            raise CredentialProviderError(
                self.name, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a valid URL"
            ) from None
        if parts.scheme == "https" and host:
            return full
        if parts.scheme == "http" and _container_host_allowed(host):
            return full
        raise CredentialProviderError(
            self.name,
            f"AWS_CONTAINER_CREDENTIALS_FULL_URI host {host or '(none)'!r} is not allowed over "
            f"{parts.scheme or '(no scheme)'}: use https, a loopback address, 169.254.170.2, "
            "169.254.170.23 or [fd00:ec2::23]",
        )

    def _token(self) -> str | None:
        env = self.environ
        token: str | None = None
        path = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        if path:
            what = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
            token = _read_token_file(self.name, what, path).strip()
        else:
            token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") or None
        if token is not None and ("\r" in token or "\n" in token):
            raise CredentialProviderError(
                self.name, "the container authorization token contains CR or LF"
            )
        return token

    def _fetch(self, url: str) -> Credentials:
        last = "no attempt made"
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._retry_delay)
            headers = {"Accept": "application/json"}
            token = self._token()
            if token:
                headers["Authorization"] = token
            try:
                res = self.http("GET", url, headers, None, self._timeout)
            except OSError as exc:
                last = _fetch_reason(exc)
                continue
            if res.status != 200:
                last = f"HTTP {res.status}{_json_error(res)}"
                continue
            try:
                data = json.loads(res.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                last = "response is not JSON"
                continue
            return _parse_json_credentials(self.name, url, data, token_key="Token")
        raise CredentialProviderError(
            self.name, f"{url}: {last} (after {self._attempts} attempt(s))"
        )

    def _load(self) -> AnyCredentials | None:
        url = self._url()
        if url is None:
            return None
        return _refreshable(lambda: self._fetch(url), self.clock, self.name)


def _container_host_allowed(host: str) -> bool:
    if host in _CONTAINER_ALLOWED:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_error(res: HttpResult) -> str:
    try:
        data = json.loads(res.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    code = data.get("code") or data.get("Code")
    message = data.get("message") or data.get("Message")
    parts = [str(p) for p in (code, message) if isinstance(p, str) and p]
    return f" ({_clip(': '.join(parts))})" if parts else ""


def _parse_json_credentials(
    provider: str, url: str, data: object, *, token_key: str
) -> Credentials:
    if not isinstance(data, dict):
        raise CredentialProviderError(provider, f"{url}: response is not a JSON object")
    for field in ("AccessKeyId", "SecretAccessKey", token_key, "Expiration"):
        value = data.get(field)
        if not isinstance(value, str) or not value:
            raise CredentialProviderError(provider, f"{url}: {field} missing in the response")
    try:
        expiration = parse_timestamp(data["Expiration"])
    except ValueError as exc:
        raise CredentialProviderError(provider, f"{url}: {exc}") from None
    return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data[token_key], expiration)


_IMDS_V4 = "http://169.254.169.254/"
_IMDS_V6 = "http://[fd00:ec2::254]/"
_ROLE_PATH = "latest/meta-data/iam/security-credentials/"
_TOKEN_TTL = "21600"


class _Unavailable(Exception):
    """IMDS could not be reached: not on EC2 (the provider returns ``None``)."""


class InstanceMetadataProvider(CredentialProvider):
    """EC2 instance role credentials from IMDS, IMDSv2 token first with v1 fallback.

    Disabled by ``AWS_EC2_METADATA_DISABLED=true``. Endpoint: ``endpoint`` argument, else
    ``AWS_EC2_METADATA_SERVICE_ENDPOINT``, else IPv6 if ``AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE``
    is ``ipv6``, else ``http://169.254.169.254/``. Timeout ``AWS_METADATA_SERVICE_TIMEOUT``
    (default 1 s), attempts ``AWS_METADATA_SERVICE_NUM_ATTEMPTS`` (default 1). An unreachable
    service or no attached role gives ``None``; a reachable but failing one raises.
    """

    name = "iam-role"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        timeout: float | None = None,
        attempts: int | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._endpoint = endpoint
        self._timeout_arg = timeout
        self._attempts_arg = attempts
        self._jitter = jitter

    def _settings(self) -> tuple[str, float, int]:
        env = self.environ
        base = self._endpoint or env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or ""
        if not base:
            mode = (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") or "").lower()
            v6 = mode == "ipv6" or (env.get("AWS_IMDS_USE_IPV6") or "").lower() == "true"
            base = _IMDS_V6 if v6 else _IMDS_V4
        if not base.endswith("/"):
            base += "/"
        timeout = self._timeout_arg
        if timeout is None:
            timeout = self._number("AWS_METADATA_SERVICE_TIMEOUT", 1.0, float)
        attempts = self._attempts_arg
        if attempts is None:
            attempts = int(self._number("AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, int))
        return base, float(timeout), max(1, attempts)

    def _number(self, var: str, default: float, kind: Callable[[str], float]) -> float:
        raw = self.environ.get(var)
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise CredentialProviderError(
                self.name, f"{var}={raw[:20]!r} is not a number"
            ) from None
        if value <= 0:
            raise CredentialProviderError(self.name, f"{var} must be positive")
        return value

    def _token(self, base: str, timeout: float, attempts: int) -> str | None:
        url = base + "latest/api/token"
        v1_disabled = (self.environ.get("AWS_EC2_METADATA_V1_DISABLED") or "").lower() == "true"
        status: int | None = None
        for _ in range(attempts):
            try:
                res = self.http(
                    "PUT", url, {"x-aws-ec2-metadata-token-ttl-seconds": _TOKEN_TTL}, None, timeout
                )
            except OSError as exc:
                if isinstance(exc, HttpFetchError) and exc.timeout:
                    status = None  # as SDKs do: a token timeout falls back to IMDSv1
                    break
                raise _Unavailable(_fetch_reason(exc)) from None
            status = res.status
            if status == 200 and res.body.strip():
                return res.body.decode("ascii", "replace").strip()
            if status in (400, 403, 404, 405):
                break
        if status == 400:
            raise _Unavailable("token request rejected with HTTP 400")
        if v1_disabled:
            what = "timed out" if status is None else f"HTTP {status}"
            raise CredentialProviderError(
                self.name, f"IMDSv2 token request {url} failed ({what}) and IMDSv1 is disabled"
            )
        return None

    def _get(self, url: str, token: str | None, timeout: float, attempts: int) -> str | None:
        headers = {"x-aws-ec2-metadata-token": token} if token else {}
        last_status: int | None = None
        for _ in range(attempts):
            try:
                res = self.http("GET", url, headers, None, timeout)
            except OSError as exc:
                logger.debug("IMDS %s: %s", url, _fetch_reason(exc))
                continue
            if res.status == 404:
                return None
            if res.status == 200 and res.body.strip():
                return res.body.decode("utf-8", "replace")
            last_status = res.status
        if last_status is None:
            raise _Unavailable(f"{url} unreachable")
        raise CredentialProviderError(
            self.name, f"IMDS {url} answered HTTP {last_status} (after {attempts} attempt(s))"
        )

    def _fetch(self) -> Credentials | None:
        base, timeout, attempts = self._settings()
        try:
            token = self._token(base, timeout, attempts)
            roles = self._get(base + _ROLE_PATH, token, timeout, attempts)
            if roles is None or not roles.strip():
                return None  # no instance profile attached
            role = roles.strip().splitlines()[0].strip()
            url = base + _ROLE_PATH + urllib.parse.quote(role, safe="")
            body = self._get(url, token, timeout, attempts)
        except _Unavailable as exc:
            logger.debug("IMDS not available: %s", exc)
            return None
        if body is None:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            raise CredentialProviderError(self.name, f"IMDS {url}: response is not JSON") from None
        if isinstance(data, dict) and data.get("Code", "Success") != "Success":
            raise CredentialProviderError(
                self.name,
                f"IMDS {url}: {_clip(str(data.get('Code')))}: {_clip(str(data.get('Message')))}",
            )
        creds = _parse_json_credentials(self.name, url, data, token_key="Token")
        return self._stabilise(creds)

    def _stabilise(self, creds: Credentials) -> Credentials:
        # Static stability (as botocore): credentials IMDS hands out already inside the refresh
        # window are used a little longer rather than refetched on every request.
        now = self.clock()
        assert creds.expiration is not None
        if creds.expiration - now >= _dt.timedelta(minutes=15):
            return creds
        extended = now + _dt.timedelta(seconds=900 + self._jitter(120.0, 600.0))
        logger.warning(
            "IMDS credentials expire at %s; using them until %s",
            creds.expiration.isoformat(),
            extended.isoformat(),
        )
        return Credentials(
            creds.access_key_id, creds.secret_access_key, creds.session_token, extended
        )

    def _refetch(self) -> Credentials:
        creds = self._fetch()
        if creds is None:
            raise CredentialProviderError(self.name, "IMDS no longer returns credentials")
        return creds

    def _load(self) -> AnyCredentials | None:
        if (self.environ.get("AWS_EC2_METADATA_DISABLED") or "").lower() == "true":
            return None
        creds = self._fetch()
        if creds is None:
            return None
        return _refreshable(self._refetch, self.clock, self.name, creds)


_CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")


class _ProfileResolvingProvider(CredentialProvider):
    """Base of :class:`ProfileProvider` and :class:`AssumeRoleProvider`: their settings and
    the :class:`_Resolver` built from them."""

    def __init__(
        self,
        profile: str | None = None,
        *,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        process_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        super().__init__(environ=environ, http=http, clock=clock, home=home)
        self._profile = profile
        self._region = region
        self._sts_endpoint_url = sts_endpoint_url
        self._process_timeout = process_timeout

    def _resolver(self, profiles: Profiles) -> _Resolver:
        return _Resolver(
            self,
            profiles,
            region=self._region,
            sts_endpoint_url=self._sts_endpoint_url,
            process_timeout=self._process_timeout,
        )


class AssumeRoleProvider(_ProfileResolvingProvider):
    """STS ``AssumeRole`` for a profile with ``role_arn`` and ``source_profile`` or
    ``credential_source`` (``Environment``, ``Ec2InstanceMetadata``, ``EcsContainer``).

    ``source_profile`` chains are followed (a cycle is an error); ``external_id``,
    ``role_session_name`` and ``duration_seconds`` are honoured; ``mfa_serial`` is refused.
    Returns ``None`` if the profile has no ``role_arn``. Credentials are fetched on first use.
    """

    name = "assume-role"

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        process_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        # Only ``profile`` differs from the base: here it is keyword-only.
        super().__init__(
            profile,
            region=region,
            sts_endpoint_url=sts_endpoint_url,
            process_timeout=process_timeout,
            environ=environ,
            http=http,
            clock=clock,
            home=home,
        )

    def _load(self) -> AnyCredentials | None:
        profiles = _read_profiles(self.name, self.environ, self._home)
        name = profile_name(self._profile, self.environ)
        prof = profiles.get(name)
        if prof is None or not prof.get("role_arn") or prof.get("web_identity_token_file"):
            return None
        return self._resolver(profiles).resolve(name, [])


class _Resolver:
    """Resolves a profile to credentials, following ``source_profile`` chains."""

    def __init__(
        self,
        owner: CredentialProvider,
        profiles: Profiles,
        *,
        region: str | None,
        sts_endpoint_url: str | None,
        process_timeout: float | None,
    ) -> None:
        self.owner = owner
        self.profiles = profiles
        self.name = owner.name
        self.region = region
        self.sts_endpoint_url = sts_endpoint_url
        self.process_timeout = process_timeout

    def fail(self, reason: str) -> CredentialProviderError:
        return CredentialProviderError(self.name, reason)

    def resolve(self, name: str, visited: list[str], *, top: bool = True) -> AnyCredentials | None:
        if name in visited:
            cycle = " -> ".join([*visited, name])
            raise self.fail(f"source_profile cycle: {cycle}")
        prof = self.profiles.get(name)
        if prof is None:
            raise self.fail(
                f"source_profile {name!r} (of profile {visited[-1]!r}) not found in "
                f"{self.profiles.where()}"
            )
        chain = [*visited, name]
        if prof.get("role_arn"):
            if prof.get("web_identity_token_file"):
                return self._web_identity(name)
            return self._assume_role(name, prof, chain)
        if prof.get("web_identity_token_file"):
            raise self.fail(f"profile {name!r} has web_identity_token_file but no role_arn")
        static = self._static(name, prof)
        if static is not None:
            return static
        if prof.get("credential_process"):
            return ProcessProvider(
                prof["credential_process"],
                timeout=self.process_timeout,
                environ=self.owner._environ,
                clock=self.owner._clock,
                home=self.owner._home,
            ).load()
        if prof.get("sso_session") or any(key.startswith("sso_") for key in prof):
            raise self.fail(
                f"profile {name!r} uses AWS IAM Identity Center (SSO), which is not supported; "
                "use credential_process (e.g. `aws configure export-credentials --profile "
                f"{name} --format process`) instead"
            )
        if prof.get("login_session"):
            raise self.fail(f"profile {name!r} uses login_session, which is not supported")
        if top:
            return None
        raise self.fail(f"source_profile {name!r} has no credentials")

    def _static(self, name: str, prof: Mapping[str, str]) -> Credentials | None:
        key = prof.get("aws_access_key_id") or ""
        secret = prof.get("aws_secret_access_key") or ""
        if not key and not secret:
            return None
        if not key:
            raise self.fail(f"profile {name!r} has aws_secret_access_key but no aws_access_key_id")
        if not secret:
            raise self.fail(f"profile {name!r} has aws_access_key_id but no aws_secret_access_key")
        token = prof.get("aws_security_token") or prof.get("aws_session_token") or None
        return Credentials(key, secret, token)

    def _web_identity(self, name: str) -> AnyCredentials | None:
        return WebIdentityProvider(
            profile=name,
            use_environment=False,
            region=self.region,
            sts_endpoint_url=self.sts_endpoint_url,
            **self.owner._injected(),
        ).load()

    def _assume_role(self, name: str, prof: Mapping[str, str], chain: list[str]) -> AnyCredentials:
        role_arn = prof["role_arn"]
        if len(role_arn) < _ARN_MIN or not role_arn.startswith("arn:"):
            raise self.fail(f"profile {name!r}: role_arn {role_arn!r} is not a role ARN")
        if prof.get("mfa_serial"):
            raise self.fail(
                f"profile {name!r} sets mfa_serial: MFA-protected roles are not supported "
                "(no interactive prompt); use credential_process instead"
            )
        source_profile = prof.get("source_profile")
        credential_source = prof.get("credential_source")
        if source_profile and credential_source:
            raise self.fail(
                f"profile {name!r} sets both source_profile and credential_source; use one"
            )
        duration: int | None = None
        raw_duration = prof.get("duration_seconds")
        if raw_duration:
            try:
                duration = int(raw_duration)
            except ValueError:
                raise self.fail(
                    f"profile {name!r}: duration_seconds {raw_duration[:20]!r} is not an integer"
                ) from None
            if not 900 <= duration <= 43200:
                raise self.fail(
                    f"profile {name!r}: duration_seconds {duration} is outside 900..43200"
                )
        source: AnyCredentials | None
        if source_profile:
            source = None
            if source_profile == name:
                source = self._static(name, prof)
            if source is None:
                source = self.resolve(source_profile, chain, top=False)
        elif credential_source:
            source = self._credential_source(name, credential_source)
        else:
            raise self.fail(
                f"profile {name!r} has role_arn but neither source_profile nor credential_source"
            )
        if source is None:
            raise self.fail(f"profile {name!r}: the source of credentials returned none")
        src: AnyCredentials = source
        env = self.owner.environ
        region = self.region or _region_from(env, self.profiles.get(chain[0]))
        owner = self.owner
        external_id = prof.get("external_id") or None
        session = prof.get("role_session_name") or None

        def fetch() -> Credentials:
            return assume_role(
                credentials=src.get(),
                role_arn=role_arn,
                session_name=session or _default_session_name(owner.clock),
                region=region,
                http=owner.http,
                clock=owner.clock,
                endpoint_url=_sts_url(self.sts_endpoint_url, env),
                external_id=external_id,
                duration_seconds=duration,
                provider=self.name,
            ).credentials

        return RefreshableCredentials(fetch, clock=owner.clock, name=f"{self.name}:{name}")

    def _credential_source(self, name: str, source: str) -> AnyCredentials | None:
        injected = self.owner._injected()
        provider: CredentialProvider
        if source == "Environment":
            provider = EnvProvider(environ=injected["environ"], clock=injected["clock"])
        elif source == "Ec2InstanceMetadata":
            provider = InstanceMetadataProvider(**injected)
        elif source == "EcsContainer":
            provider = ContainerProvider(**injected)
        else:
            raise self.fail(
                f"profile {name!r}: credential_source {source!r} is not one of "
                f"{', '.join(_CREDENTIAL_SOURCES)}"
            )
        creds = provider.load()
        if creds is None:
            raise self.fail(f"profile {name!r}: credential_source {source} found no credentials")
        return creds


class ProfileProvider(_ProfileResolvingProvider):
    """Credentials from the shared config/credentials files for one profile.

    In order: ``role_arn`` (assume role, or web identity with ``web_identity_token_file``),
    static keys (``aws_access_key_id``, ``aws_secret_access_key``, ``aws_security_token`` /
    ``aws_session_token``), ``credential_process``. SSO profiles are refused with a clear error.
    The profile is ``profile``, else ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``, else ``default``; a
    named profile that does not exist is an error, a missing ``default`` is not.
    """

    name = "profile"

    def _load(self) -> AnyCredentials | None:
        env = self.environ
        profiles = _read_profiles(self.name, env, self._home)
        name = profile_name(self._profile, env)
        if name not in profiles:
            named = bool(self._profile or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"))
            if named:
                raise CredentialProviderError(
                    self.name, f"profile {name!r} not found in {profiles.where()}"
                )
            return None
        return self._resolver(profiles).resolve(name, [])


class ChainProvider(CredentialProvider):
    """Try providers in order; the first that returns credentials wins.

    A provider that is configured but fails stops the chain with its error. If none has
    credentials, :class:`NoCredentialsError` lists the providers tried. ``resolved_by`` names the
    provider that supplied the last credentials.
    """

    name = "chain"

    def __init__(self, providers: Sequence[CredentialProvider]) -> None:
        super().__init__()
        self.providers = tuple(providers)
        self.resolved_by: str | None = None

    def load(self) -> AnyCredentials:
        """The first provider's credentials; :class:`NoCredentialsError` if none has any."""
        return self._load()

    def _load(self) -> AnyCredentials:
        tried: list[str] = []
        for provider in self.providers:
            tried.append(provider.name)
            try:
                result = provider.load()
            except SigV4Error:
                raise
            except Exception as exc:
                raise CredentialProviderError(
                    provider.name, f"unexpected {type(exc).__name__}"
                ) from exc
            if result is not None:
                self.resolved_by = provider.name
                key = result.current if isinstance(result, RefreshableCredentials) else result
                logger.debug(
                    "credentials from %s (%s)",
                    provider.name,
                    mask(key.access_key_id) if key is not None else "deferred",
                )
                return result
        raise NoCredentialsError(tried)

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.providers)
        return f"ChainProvider([{names}])"


def default_chain(
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    http: HttpFetch | None = None,
    clock: Clock | None = None,
    home: PathLike | None = None,
) -> ChainProvider:
    """The standard chain: env, web identity, profile, container, instance metadata.

    When ``profile`` is given in code, the environment credentials (and the web identity env
    vars) are skipped, as the AWS SDKs do; ``AWS_PROFILE`` does not have that effect.
    """
    injected: dict[str, Any] = {"environ": environ, "http": http, "clock": clock, "home": home}
    providers: list[CredentialProvider] = []
    if profile is None:
        providers.append(EnvProvider(environ=environ, clock=clock))
    providers.append(WebIdentityProvider(profile=profile, **injected))
    providers.append(ProfileProvider(profile, **injected))
    providers.append(ContainerProvider(**injected))
    providers.append(InstanceMetadataProvider(**injected))
    return ChainProvider(providers)
