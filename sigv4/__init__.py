"""AWS Signature Version 4: a pure signer, credentials and their providers, region resolution.

The signer (:func:`sign`, :func:`presign`, and :func:`sign_event` / :class:`EventSigner` for
request event streams) is pure: time and credentials are arguments. The
providers and :func:`resolve_region` are the impure edge (environment, files, HTTP to IMDS,
containers and STS), each injectable; they are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigv4._credentials import Credentials
from sigv4._signer import (
    ParsedAuthorization,
    SignedRequest,
    parse_authorization,
    presign,
    sign,
)
from sigv4.exceptions import (
    CredentialProviderError,
    CredentialsError,
    CredentialsExpiredError,
    NoCredentialsError,
    NoRegionError,
    ProfileFileError,
    SigningError,
    SigV4Error,
)

if TYPE_CHECKING:
    from sigv4._events import (
        STREAMING_EVENTS_PAYLOAD,
        EventSigner,
        SignedEvent,
        encode_date_header,
        sign_event,
    )
    from sigv4._providers import (
        AssumeRoleProvider,
        ChainProvider,
        ContainerProvider,
        CredentialProvider,
        EnvProvider,
        InstanceMetadataProvider,
        ProcessProvider,
        ProfileProvider,
        StaticProvider,
        WebIdentityProvider,
        default_chain,
    )
    from sigv4._refresh import RefreshableCredentials
    from sigv4._region import resolve_region

__all__ = [
    "AssumeRoleProvider",
    "ChainProvider",
    "ContainerProvider",
    "CredentialProvider",
    "CredentialProviderError",
    "Credentials",
    "CredentialsError",
    "CredentialsExpiredError",
    "EnvProvider",
    "EventSigner",
    "InstanceMetadataProvider",
    "NoCredentialsError",
    "NoRegionError",
    "ParsedAuthorization",
    "ProcessProvider",
    "ProfileFileError",
    "ProfileProvider",
    "RefreshableCredentials",
    "SigV4Error",
    "STREAMING_EVENTS_PAYLOAD",
    "SignedEvent",
    "SignedRequest",
    "SigningError",
    "StaticProvider",
    "WebIdentityProvider",
    "default_chain",
    "encode_date_header",
    "parse_authorization",
    "presign",
    "resolve_region",
    "sign",
    "sign_event",
]

_LAZY = {
    **dict.fromkeys(
        (
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
        ),
        "sigv4._providers",
    ),
    **dict.fromkeys(
        (
            "STREAMING_EVENTS_PAYLOAD",
            "EventSigner",
            "SignedEvent",
            "encode_date_header",
            "sign_event",
        ),
        "sigv4._events",
    ),
    "RefreshableCredentials": "sigv4._refresh",
    "resolve_region": "sigv4._region",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sigv4' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
