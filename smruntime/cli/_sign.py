"""``smruntime sign``: show how a request is signed, and a curl command that sends it."""

from __future__ import annotations

import argparse
import datetime as _dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from smruntime.cli._errors import EXIT_OK, UsageError
from smruntime.cli._input import read_body
from smruntime.cli._output import err, out_text

if TYPE_CHECKING:
    from sigv4 import Credentials

_CREDENTIAL = re.compile(r"(Credential=)([^/,\s]*)/")
_SIGNATURE = re.compile(r"(Signature=)[0-9a-fA-F]+")


def cmd_sign(args: argparse.Namespace) -> int:
    """``smruntime sign``: show how a request is signed, and a curl command that sends it."""
    import shlex

    from sigv4 import sign

    _check_url(args.url)  # before the region is looked for in it
    headers = _parse_headers(args.header)
    body, body_file = read_body(args.body)
    now = _parse_date(args.date) if args.date else _dt.datetime.now(_dt.timezone.utc)
    region = args.region or _region_from_url(args.url)
    if region is None:
        from sigv4._region import resolve_region

        region = resolve_region(None, profile=args.profile)
    creds = _sign_credentials(args)
    method = args.method.upper()
    signed = sign(
        method,
        args.url,
        headers,
        body,
        credentials=creds,
        region=region,
        service=args.service,
        now=now,
    )
    show = args.show_secrets
    authorization = next(
        (value for name, value in signed.headers if name.lower() == "authorization"), ""
    )
    canonical = signed.canonical_request if show else signed.masked_canonical_request()
    out_text("# Canonical request\n" + canonical + "\n\n")
    out_text("# String to sign\n" + signed.string_to_sign + "\n\n")
    shown = authorization if show else _mask_authorization(authorization)
    out_text("# Authorization\n" + shown + "\n\n")
    headers_sent = signed.headers if show else [_mask_header(h) for h in signed.headers]
    curl = _curl_command(method, args.url, headers_sent, body, body_file)
    out_text("# curl\n" + " ".join(shlex.quote(part) for part in curl) + "\n")
    if not show:
        err("(signature, session token and access key id masked: --show-secrets to print them)")
    return EXIT_OK


def _curl_command(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    body_file: Optional[str],
) -> list[str]:
    """A curl command line that sends exactly the signed request."""
    curl = ["curl", "-sS", "-X", method]
    if url.rstrip("/").endswith("invocations-response-stream"):
        curl.append("--no-buffer")
    for name, value in headers:
        curl += ["-H", f"{name}: {value}"]
    if body_file is not None or body:
        if not any(name.lower() == "content-type" for name, _ in headers):
            # With a body, curl would add (unsigned) Content-Type:
            # application/x-www-form-urlencoded; an empty value tells it not to.
            curl += ["-H", "Content-Type:"]
        if body_file is not None:
            curl += ["--data-binary", "@" + body_file]
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                curl += ["--data-binary", "@BODY_FILE"]
            else:
                # --data-binary reads "@name" as a file; --data-raw sends it as it is.
                curl += ["--data-raw" if text.startswith("@") else "--data-binary", text]
    curl.append(url)
    return curl


def _mask_authorization(value: str) -> str:
    """The Authorization value with the access key id (in ``Credential=``) and the signature
    masked; nothing else is touched."""
    value = _CREDENTIAL.sub(lambda m: m.group(1) + _mask_key(m.group(2)) + "/", value)
    return _SIGNATURE.sub(r"\1****", value)


def _mask_header(header: tuple[str, str]) -> tuple[str, str]:
    name, value = header
    low = name.lower()
    if low == "authorization":
        return name, _mask_authorization(value)
    if low == "x-amz-security-token":
        return name, "****"
    return header


def _parse_date(text: str) -> _dt.datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            continue
    raise UsageError(f"--date {text!r}: expected YYYYMMDDTHHMMSSZ, e.g. 20150830T123600Z")


def _parse_headers(raw: Sequence[str]) -> list[tuple[str, str]]:
    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {item!r}: expected NAME:VALUE")
        headers.append((name.strip(), value.strip()))
    return headers


def _check_url(url: str) -> None:
    """A URL to sign: absolute, http:// or https://, with a host (else a usage error)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise UsageError(f"URL {url!r} cannot be parsed: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise UsageError(
            f"URL must be absolute, http:// or https:// with a host, got {url!r} (for example "
            "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/NAME/invocations)"
        )


def _region_from_url(url: str) -> Optional[str]:
    """The region in a regional AWS host name (``runtime.sagemaker.REGION.SUFFIX``), for the DNS
    suffixes of every partition, dual-stack ones included; ``None`` if there is none."""
    from urllib.parse import urlsplit

    from smruntime._partitions import PARTITIONS

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for partition in PARTITIONS:
        for suffix in (partition["dnsSuffix"], partition["dualStackDnsSuffix"]):
            if host.endswith("." + suffix):
                label = host[: -len(suffix) - 1].rpartition(".")[2]
                if re.match(partition["regionRegex"], label):
                    return label
    return None


def _sign_credentials(args: argparse.Namespace) -> Credentials:
    from sigv4 import Credentials
    from sigv4._providers import default_chain
    from sigv4.exceptions import NoCredentialsError

    if args.access_key_id or args.secret_access_key:
        if not (args.access_key_id and args.secret_access_key):
            raise UsageError("--access-key-id and --secret-access-key go together")
        return Credentials(args.access_key_id, args.secret_access_key, args.session_token)
    loaded = default_chain(profile=args.profile).load()
    if loaded is None:
        raise NoCredentialsError()
    creds: Credentials = loaded.get()
    return creds


def _mask_key(value: str) -> str:
    return value[:4] + "****" if len(value) > 4 else "****"
