"""The two STS calls the providers need: AssumeRole (signed) and AssumeRoleWithWebIdentity.

Both use the ``query`` protocol: a form-encoded ``POST`` to ``https://sts.<region>.<suffix>/``
(the suffix is the region's partition DNS suffix, see :func:`sts_endpoint`;
``https://sts.amazonaws.com/`` signed for ``us-east-1`` when no region is known), answered with
XML. Errors come back as ``ErrorResponse/Error/{Code,Message}`` and are raised as
:class:`CredentialProviderError` with the status, code, message and request id.
"""

from __future__ import annotations

import datetime as _dt
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from sigv4._credentials import Credentials
from sigv4._http import HttpFetch, urllib_fetch
from sigv4._refresh import Clock, parse_timestamp, utc_now
from sigv4.exceptions import CredentialProviderError

__all__ = ["StsResult", "assume_role", "assume_role_with_web_identity", "sts_endpoint"]

API_VERSION = "2011-06-15"
DEFAULT_TIMEOUT = 10.0
_REGION = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


class StsResult:
    """Credentials from STS plus the assumed role's ARN (its account id is derived from it)."""

    def __init__(self, credentials: Credentials, assumed_role_arn: str | None) -> None:
        self.credentials = credentials
        self.assumed_role_arn = assumed_role_arn

    @property
    def account_id(self) -> str | None:
        """The account id taken from the assumed role ARN, if any."""
        arn = self.assumed_role_arn or ""
        parts = arn.split(":")
        return parts[4] if len(parts) > 5 and parts[4] else None

    def __repr__(self) -> str:
        return f"StsResult({self.credentials!r}, assumed_role_arn={self.assumed_role_arn!r})"


# Region prefix -> DNS suffix of its partition (endpoints partitions.json, NOTES §6.2); longest
# prefixes are listed first. Anything else is in the ``aws`` partition (amazonaws.com).
_PARTITION_SUFFIXES = (
    ("us-isob-", "sc2s.sgov.gov"),  # aws-iso-b
    ("us-isof-", "csp.hci.ic.gov"),  # aws-iso-f
    ("us-iso-", "c2s.ic.gov"),  # aws-iso
    ("eu-isoe-", "cloud.adc-e.uk"),  # aws-iso-e
    ("eusc-", "amazonaws.eu"),  # aws-eusc
    ("cn-", "amazonaws.com.cn"),  # aws-cn
    ("us-gov-", "amazonaws.com"),  # aws-us-gov
)


def _dns_suffix(region: str) -> str:
    for prefix, suffix in _PARTITION_SUFFIXES:
        if region.startswith(prefix):
            return suffix
    return "amazonaws.com"


def sts_endpoint(region: str | None, endpoint_url: str | None = None) -> tuple[str, str]:
    """``(url, signing_region)`` for STS in ``region`` (global endpoint when ``None``).

    The regional host is ``sts.<region>.<DNS suffix of the region's partition>``: the suffix
    comes from a small table of region prefixes (``cn-`` → ``amazonaws.com.cn``, ``us-iso-`` →
    ``c2s.ic.gov``, ``us-isob-`` → ``sc2s.sgov.gov``, ``us-isof-`` → ``csp.hci.ic.gov``,
    ``eu-isoe-`` → ``cloud.adc-e.uk``, ``eusc-`` → ``amazonaws.eu``; ``us-gov-`` and all
    others → ``amazonaws.com``). ``endpoint_url`` overrides the URL.
    """
    signing_region = region or "us-east-1"
    if endpoint_url:
        return endpoint_url, signing_region
    if not region:
        return "https://sts.amazonaws.com/", "us-east-1"
    if not _REGION.match(region):
        raise ValueError(f"invalid region {region[:64]!r} for the STS endpoint")
    return f"https://sts.{region}.{_dns_suffix(region)}/", region


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(elem: ET.Element, *path: str) -> ET.Element | None:
    cur: ET.Element | None = elem
    for name in path:
        if cur is None:
            return None
        cur = next((child for child in cur if _local(child.tag) == name), None)
    return cur


def _text(elem: ET.Element, *path: str) -> str | None:
    found = _find(elem, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _parse_xml(provider: str, url: str, status: int, body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise CredentialProviderError(
            provider, f"STS {url} answered HTTP {status} with malformed XML ({exc})"
        ) from None


def _error(provider: str, url: str, status: int, body: bytes) -> CredentialProviderError:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return CredentialProviderError(provider, f"STS {url} answered HTTP {status} (no XML body)")
    code = _text(root, "Error", "Code") or "Unknown"
    message = (_text(root, "Error", "Message") or "").replace("\n", " ")[:300]
    request_id = _text(root, "RequestId")
    rid = f", request id {request_id}" if request_id else ""
    return CredentialProviderError(
        provider, f"STS {url} answered HTTP {status} {code}: {message}{rid}"
    )


def _parse_result(provider: str, action: str, url: str, status: int, body: bytes) -> StsResult:
    root = _parse_xml(provider, url, status, body)
    result = _find(root, f"{action}Result")
    if result is None:
        raise CredentialProviderError(provider, f"STS {url}: response has no {action}Result")
    values: dict[str, str] = {}
    for field in ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"):
        value = _text(result, "Credentials", field)
        if not value:
            raise CredentialProviderError(
                provider, f"STS {url}: {action}Result/Credentials/{field} is missing"
            )
        values[field] = value
    try:
        expiration = parse_timestamp(values["Expiration"])
    except ValueError as exc:
        raise CredentialProviderError(provider, f"STS {url}: {exc}") from None
    creds = Credentials(
        values["AccessKeyId"], values["SecretAccessKey"], values["SessionToken"], expiration
    )
    return StsResult(creds, _text(result, "AssumedRoleUser", "Arn"))


def _endpoint(provider: str, region: str | None, endpoint_url: str | None) -> tuple[str, str]:
    try:
        return sts_endpoint(region, endpoint_url)
    except ValueError as exc:
        raise CredentialProviderError(provider, str(exc)) from None


def _call(
    provider: str,
    action: str,
    http: HttpFetch | None,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    timeout: float,
) -> StsResult:
    """POST ``body`` to ``url`` and parse the ``{action}Result`` (or raise the STS error)."""
    try:
        res = (http or urllib_fetch)("POST", url, headers, body, timeout)
    except OSError as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise CredentialProviderError(provider, f"STS {url}: {reason}") from None
    if res.status != 200:
        raise _error(provider, url, res.status, res.body)
    return _parse_result(provider, action, url, res.status, res.body)


def _form(
    action: str,
    role_arn: str,
    session_name: str,
    duration_seconds: int | None,
    extra: Mapping[str, str | None],
) -> bytes:
    """The form-encoded request body (``extra`` entries that are ``None`` are left out)."""
    params = {
        "Action": action,
        "Version": API_VERSION,
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
    }
    if duration_seconds is not None:
        params["DurationSeconds"] = str(int(duration_seconds))
    params.update({k: v for k, v in extra.items() if v is not None})
    return urllib.parse.urlencode(params).encode("ascii")


def assume_role_with_web_identity(
    *,
    role_arn: str,
    session_name: str,
    web_identity_token: str,
    region: str | None = None,
    http: HttpFetch | None = None,
    endpoint_url: str | None = None,
    duration_seconds: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    provider: str = "assume-role-with-web-identity",
) -> StsResult:
    """Call ``AssumeRoleWithWebIdentity`` (unsigned) and return the temporary credentials."""
    url, _ = _endpoint(provider, region, endpoint_url)
    action = "AssumeRoleWithWebIdentity"
    body = _form(
        action, role_arn, session_name, duration_seconds, {"WebIdentityToken": web_identity_token}
    )
    headers = {"Content-Type": _CONTENT_TYPE, "Accept": "text/xml"}
    return _call(provider, action, http, url, headers, body, timeout)


def assume_role(
    *,
    credentials: Credentials,
    role_arn: str,
    session_name: str,
    region: str | None = None,
    http: HttpFetch | None = None,
    clock: Clock | None = None,
    endpoint_url: str | None = None,
    external_id: str | None = None,
    duration_seconds: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    provider: str = "assume-role",
) -> StsResult:
    """Call ``AssumeRole`` signed with ``credentials`` and return the temporary credentials."""
    from sigv4._signer import sign  # the signer is a sibling module; imported lazily

    url, signing_region = _endpoint(provider, region, endpoint_url)
    action = "AssumeRole"
    body = _form(action, role_arn, session_name, duration_seconds, {"ExternalId": external_id})
    now: _dt.datetime = (clock or utc_now)()
    signed = sign(
        "POST",
        url,
        {"Content-Type": _CONTENT_TYPE, "Accept": "text/xml"},
        body,
        credentials=credentials,
        region=signing_region,
        service="sts",
        now=now,
    )
    headers: dict[str, str] = {}
    for name, value in signed.headers:
        headers[name] = value
    return _call(provider, action, http, url, headers, bytes(signed.body), timeout)
