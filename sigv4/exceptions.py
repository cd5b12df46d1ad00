"""Errors raised by the SigV4 signer and the credential and region resolvers.

The tree::

    SigV4Error                          base
    ├── SigningError (also ValueError)  the request cannot be signed as given (URL, header, expiry)
    ├── CredentialsError                no usable credentials
    │   ├── NoCredentialsError          every provider of a chain came back empty (``providers``)
    │   ├── CredentialProviderError     one provider failed (``provider``, ``reason``)
    │   └── CredentialsExpiredError     credentials expired and no way to refresh them
    ├── NoRegionError                   no region given or configured (``sources`` tried)
    └── ProfileFileError (ValueError)   a shared config/credentials file cannot be parsed

No message or attribute ever holds a secret key, a session token or a signature. Errors keep
their fields as attributes and survive ``pickle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "CredentialProviderError",
    "CredentialsError",
    "CredentialsExpiredError",
    "NoCredentialsError",
    "NoRegionError",
    "ProfileFileError",
    "SigV4Error",
    "SigningError",
]


def _restore(cls: type[SigV4Error], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class SigV4Error(Exception):
    """Base of every error of the ``sigv4`` package."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


class SigningError(SigV4Error, ValueError):
    """The request cannot be signed as given."""


class CredentialsError(SigV4Error):
    """No usable credentials."""


class NoCredentialsError(CredentialsError):
    """Every provider of the chain was tried and none had credentials."""

    def __init__(self, providers: Sequence[str] = ()) -> None:
        tried = ", ".join(providers) if providers else "none"
        super().__init__(
            f"unable to locate credentials (providers tried: {tried}); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE, or pass keys explicitly"
        )
        self.providers = tuple(providers)


class CredentialProviderError(CredentialsError):
    """A credential provider was configured but failed; ``reason`` says why (no secrets)."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"credential provider {provider!r} failed: {reason}")
        self.provider = provider
        self.reason = reason


class CredentialsExpiredError(CredentialsError):
    """The credentials are expired and cannot be refreshed."""


class NoRegionError(SigV4Error):
    """No region was given or configured; ``sources`` lists where it was looked for."""

    def __init__(self, sources: Sequence[str] = ()) -> None:
        where = ", ".join(sources) if sources else "nowhere"
        super().__init__(
            f"no AWS region: pass region_name=..., or set AWS_REGION / AWS_DEFAULT_REGION, "
            f"or a 'region' in the profile (looked in: {where})"
        )
        self.sources = tuple(sources)


class ProfileFileError(SigV4Error, ValueError):
    """A shared config or credentials file exists but cannot be read or parsed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read AWS profile file {path}: {reason}")
        self.path = path
        self.reason = reason
