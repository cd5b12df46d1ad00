"""Providers that fetch credentials from a metadata endpoint: ContainerProvider (ECS task
roles, EKS Pod Identity) and InstanceMetadataProvider (EC2 IMDS, IMDSv2 first)."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Mapping
from typing import Callable

from sigv4._credentials import Credentials
from sigv4._http import HttpFetch, HttpFetchError, HttpResult
from sigv4._profiles import PathLike
from sigv4._provider_base import (
    AnyCredentials,
    CredentialProvider,
    _clip,
    _read_token_file,
    _refreshable,
)
from sigv4._refresh import Clock, parse_timestamp
from sigv4.exceptions import CredentialProviderError

__all__ = ["ContainerProvider", "InstanceMetadataProvider"]

logger = logging.getLogger("sigv4.credentials")


def _fetch_reason(exc: OSError) -> str:
    if isinstance(exc, HttpFetchError):
        return exc.reason
    return f"{type(exc).__name__}: {exc}"


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
            token = res.body.strip()
            if status == 200 and token:
                if not all(0x20 <= byte <= 0x7E for byte in token):
                    # It goes into a header: never send (or quote, or log) a malformed one.
                    raise CredentialProviderError(
                        self.name,
                        f"IMDSv2 token from {url} contains CR, LF or other non-printable "
                        "characters",
                    )
                return token.decode("ascii")
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
            if res.status in (401, 403, 404):
                # No instance profile, or metadata access turned off for this instance (or
                # something else answering on the address): no credentials here, as botocore.
                logger.debug("IMDS %s answered HTTP %d: no credentials from IMDS", url, res.status)
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
