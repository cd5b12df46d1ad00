"""AWS Signature Version 4: a pure signer, credentials and their providers, region resolution."""

from __future__ import annotations

from sigv4.exceptions import (
    CredentialProviderError,
    CredentialsError,
    CredentialsExpiredError,
    NoCredentialsError,
    NoRegionError,
    SigningError,
    SigV4Error,
)

__all__ = [
    "CredentialProviderError",
    "CredentialsError",
    "CredentialsExpiredError",
    "NoCredentialsError",
    "NoRegionError",
    "SigV4Error",
    "SigningError",
]
