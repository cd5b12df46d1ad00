"""IAM Identity Center (SSO) credentials: the token that ``aws sso login`` cached, exchanged
for role credentials with the portal's ``GetRoleCredentials``.

Two profile shapes, as the AWS CLI writes them:

- ``sso_session = NAME`` with an ``[sso-session NAME]`` section (``sso_start_url``,
  ``sso_region``) and the profile's ``sso_account_id`` / ``sso_role_name``. The token is cached
  in ``~/.aws/sso/cache/<sha1 of NAME>.json``; when it is within 15 minutes of expiry it is
  renewed with its refresh token through the OIDC ``CreateToken`` call (``grantType
  refresh_token``) and the cache file is rewritten, as botocore does.
- legacy: ``sso_start_url``, ``sso_region``, ``sso_account_id``, ``sso_role_name`` in the
  profile; the cache file is named by the sha1 of the start URL and the token is not renewed.

No browser flow: without a valid cached token the error says which ``aws sso login`` to run.
``AWS_ENDPOINT_URL_SSO`` and ``AWS_ENDPOINT_URL_SSO_OIDC`` override the two services' URLs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from sigv4._credentials import Credentials
from sigv4._http import HttpFetch
from sigv4._profiles import resolve_home
from sigv4._refresh import Clock, RefreshableCredentials, parse_timestamp
from sigv4.exceptions import CredentialProviderError

__all__ = ["sso_credentials"]

_PROVIDER = "sso"
_TIMEOUT = 10.0
_REFRESH_WINDOW = _dt.timedelta(minutes=15)


def _host_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


class _SsoConfig:
    def __init__(
        self,
        profile: str,
        start_url: str,
        region: str,
        account_id: str,
        role_name: str,
        session_name: Optional[str],
    ) -> None:
        self.profile = profile
        self.start_url = start_url
        self.region = region
        self.account_id = account_id
        self.role_name = role_name
        self.session_name = session_name

    @property
    def cache_key(self) -> str:
        basis = self.session_name if self.session_name is not None else self.start_url
        return hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()

    @property
    def login_command(self) -> str:
        if self.session_name is not None:
            return f"aws sso login --sso-session {self.session_name}"
        return f"aws sso login --profile {self.profile}"


def _fail(reason: str) -> CredentialProviderError:
    return CredentialProviderError(_PROVIDER, reason)


def _sso_config(
    name: str, prof: Mapping[str, str], sessions: Mapping[str, Mapping[str, str]]
) -> _SsoConfig:
    session_name = prof.get("sso_session") or None
    if session_name is not None:
        session = sessions.get(session_name)
        if session is None:
            raise _fail(
                f"profile {name!r}: sso_session {session_name!r} has no [sso-session] section"
            )
        start_url = session.get("sso_start_url", "")
        region = session.get("sso_region", "")
        for key, value in (("sso_start_url", start_url), ("sso_region", region)):
            own = prof.get(key)
            if own and own != value:
                raise _fail(
                    f"profile {name!r}: {key} differs from the one of sso-session {session_name!r}"
                )
        where = f"sso-session {session_name!r}"
    else:
        start_url = prof.get("sso_start_url", "")
        region = prof.get("sso_region", "")
        where = f"profile {name!r}"
    missing = [k for k, v in (("sso_start_url", start_url), ("sso_region", region)) if not v]
    if missing:
        raise _fail(f"{where} lacks {', '.join(missing)}")
    account_id = prof.get("sso_account_id", "")
    role_name = prof.get("sso_role_name", "")
    missing = [
        k for k, v in (("sso_account_id", account_id), ("sso_role_name", role_name)) if not v
    ]
    if missing:
        raise _fail(f"profile {name!r} lacks {', '.join(missing)}")
    return _SsoConfig(name, start_url, region, account_id, role_name, session_name)


class _TokenCache:
    """The cached token of one SSO configuration, renewed (sso-session form) when near expiry."""

    def __init__(
        self,
        cfg: _SsoConfig,
        path: Path,
        *,
        http: HttpFetch,
        clock: Clock,
        oidc_url: str,
    ) -> None:
        self.cfg = cfg
        self.path = path
        self.http = http
        self.clock = clock
        self.oidc_url = oidc_url

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _fail(
                f"no cached SSO token for {self._what()} ({self.path}): run "
                f"`{self.cfg.login_command}`"
            ) from None
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise _fail(f"cannot read the SSO token cache {self.path}: {why}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("accessToken"), str):
            raise _fail(f"the SSO token cache {self.path} has no accessToken")
        return doc

    def _what(self) -> str:
        if self.cfg.session_name is not None:
            return f"sso-session {self.cfg.session_name!r}"
        return f"profile {self.cfg.profile!r}"

    def _expiry(self, doc: Mapping[str, Any], key: str) -> Optional[_dt.datetime]:
        raw = doc.get(key)
        if raw is None:
            return None
        try:
            return parse_timestamp(raw, field=key)
        except ValueError as exc:
            raise _fail(f"the SSO token cache {self.path}: {exc}") from None

    def token(self) -> str:
        doc = self._read()
        now = self.clock()
        expires = self._expiry(doc, "expiresAt")
        if self.cfg.session_name is not None and (
            expires is None or expires - now < _REFRESH_WINDOW
        ):
            renewed = self._refresh(doc, now)
            if renewed is not None:
                return renewed
        if expires is not None and expires <= now:
            raise _fail(
                f"the SSO token of {self._what()} expired at {expires.isoformat()}: run "
                f"`{self.cfg.login_command}`"
            )
        return str(doc["accessToken"])

    def _refresh(self, doc: dict[str, Any], now: _dt.datetime) -> Optional[str]:
        """A renewed access token, or ``None`` if the cache cannot renew it (the current one
        is then used while it lasts)."""
        needed = ("clientId", "clientSecret", "refreshToken")
        if not all(isinstance(doc.get(k), str) and doc.get(k) for k in needed):
            return None
        registration = self._expiry(doc, "registrationExpiresAt")
        if registration is not None and registration <= now:
            return None
        body = json.dumps(
            {
                "grantType": "refresh_token",
                "clientId": doc["clientId"],
                "clientSecret": doc["clientSecret"],
                "refreshToken": doc["refreshToken"],
            }
        ).encode()
        try:
            result = self.http(
                "POST",
                self.oidc_url.rstrip("/") + "/token",
                {"Content-Type": "application/json"},
                body,
                _TIMEOUT,
            )
        except OSError:
            return None
        if result.status != 200:
            return None
        try:
            answer = json.loads(result.body)
            access = answer["accessToken"]
            lifetime = int(answer["expiresIn"])
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(access, str) or not access:
            return None
        doc["accessToken"] = access
        doc["expiresAt"] = (now + _dt.timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(answer.get("refreshToken"), str):
            doc["refreshToken"] = answer["refreshToken"]
        self._write(doc)
        return access

    def _write(self, doc: Mapping[str, Any]) -> None:
        # Written aside and renamed, so a reader never sees half a file; 0600 as the CLI's.
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(doc, out)
            os.replace(tmp, self.path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass


def _role_credentials(
    cfg: _SsoConfig, token: str, *, http: HttpFetch, portal_url: str
) -> Credentials:
    query = urllib.parse.urlencode({"role_name": cfg.role_name, "account_id": cfg.account_id})
    url = f"{portal_url.rstrip('/')}/federation/credentials?{query}"
    try:
        result = http("GET", url, {"x-amz-sso_bearer_token": token}, None, _TIMEOUT)
    except OSError as exc:
        raise _fail(f"GetRoleCredentials failed: {exc}") from None
    if result.status in (401, 403):
        raise _fail(
            f"the SSO portal refused the cached token (HTTP {result.status}): run "
            f"`{cfg.login_command}`"
        )
    if result.status != 200:
        raise _fail(f"GetRoleCredentials answered HTTP {result.status}")
    try:
        role = json.loads(result.body)["roleCredentials"]
        expiration = _dt.datetime.fromtimestamp(int(role["expiration"]) / 1000, _dt.timezone.utc)
        return Credentials(
            role["accessKeyId"], role["secretAccessKey"], role.get("sessionToken"), expiration
        )
    except (ValueError, KeyError, TypeError):
        raise _fail("GetRoleCredentials answered without roleCredentials") from None


def sso_credentials(
    name: str,
    prof: Mapping[str, str],
    sessions: Mapping[str, Mapping[str, str]],
    *,
    environ: Mapping[str, str],
    http: HttpFetch,
    clock: Clock,
    home: Any = None,
) -> RefreshableCredentials:
    """The credentials of SSO profile ``name``, fetched on first use and renewed before they
    expire. Raises :class:`CredentialProviderError` for an incomplete configuration."""
    cfg = _sso_config(name, prof, sessions)
    home_dir = resolve_home(home, environ)
    if home_dir is None:
        raise _fail("no home directory for the SSO token cache (~/.aws/sso/cache)")
    path = home_dir / ".aws" / "sso" / "cache" / f"{cfg.cache_key}.json"
    suffix = _host_suffix(cfg.region)
    portal = environ.get("AWS_ENDPOINT_URL_SSO") or f"https://portal.sso.{cfg.region}.{suffix}"
    oidc = environ.get("AWS_ENDPOINT_URL_SSO_OIDC") or f"https://oidc.{cfg.region}.{suffix}"
    cache = _TokenCache(cfg, path, http=http, clock=clock, oidc_url=oidc)

    def fetch() -> Credentials:
        return _role_credentials(cfg, cache.token(), http=http, portal_url=portal)

    return RefreshableCredentials(fetch, clock=clock, name=f"{_PROVIDER}:{name}")
