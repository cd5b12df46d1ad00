"""Credential providers and the default chain (the impure edge of ``sigv4``).

Every provider takes its world as arguments: ``environ`` (a mapping, default ``os.environ``),
``http`` (an :data:`~sigv4._http.HttpFetch`, default ``urllib``), ``clock`` (returns aware UTC
now) and ``home`` (the home directory holding ``.aws/``). ``load()`` returns credentials
(plain, or :class:`RefreshableCredentials` for temporary ones), ``None`` when the provider is not
configured, and raises :class:`CredentialProviderError` when it is configured but fails.

Default chain order (botocore's, NOTES §11): environment; the profile's ``role_arn`` with
``source_profile``/``credential_source`` (assume role); web identity
(``AWS_WEB_IDENTITY_TOKEN_FILE``/``AWS_ROLE_ARN``, else the profile's
``web_identity_token_file``); the rest of the profile
(:class:`ProfileProvider`: SSO from the ``aws sso login`` token cache, static keys from the
credentials file, ``credential_process``, static keys from the config file; ``login_session``
is refused); container; instance metadata.
So a profile that assumes a role wins over the web identity env vars (EKS IRSA), as in botocore.
botocore's legacy ``AWS_CREDENTIAL_FILE`` and boto2 config providers are not implemented.

The profile is ``profile``, else ``AWS_PROFILE``, else ``AWS_DEFAULT_PROFILE``, else ``default``
(botocore checks ``AWS_DEFAULT_PROFILE`` first; the other AWS SDKs prefer ``AWS_PROFILE``).

This module holds :class:`ChainProvider` and :func:`default_chain` and exports every provider;
they live in :mod:`sigv4._provider_base` (the base class), :mod:`sigv4._local_providers`
(Static, Env), :mod:`sigv4._profile_providers` (Profile, AssumeRole, Process, WebIdentity) and
:mod:`sigv4._remote_providers` (Container, InstanceMetadata).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sigv4._credentials import mask
from sigv4._http import HttpFetch
from sigv4._local_providers import EnvProvider, StaticProvider
from sigv4._profile_providers import (
    AssumeRoleProvider,
    ProcessProvider,
    ProfileProvider,
    WebIdentityProvider,
)
from sigv4._profiles import PathLike
from sigv4._provider_base import AnyCredentials, CredentialProvider
from sigv4._refresh import Clock, RefreshableCredentials
from sigv4._remote_providers import ContainerProvider, InstanceMetadataProvider
from sigv4.exceptions import CredentialProviderError, NoCredentialsError, SigV4Error

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
    """The standard chain: env, assume role, web identity, profile, container, instance metadata.

    When ``profile`` is given in code, the environment credentials (and the web identity env
    vars) are skipped, as the AWS SDKs do; ``AWS_PROFILE`` does not have that effect.
    """
    injected: dict[str, Any] = {"environ": environ, "http": http, "clock": clock, "home": home}
    providers: list[CredentialProvider] = []
    if profile is None:
        providers.append(EnvProvider(environ=environ, clock=clock))
    providers.append(AssumeRoleProvider(profile=profile, **injected))
    providers.append(WebIdentityProvider(profile=profile, **injected))
    providers.append(ProfileProvider(profile, **injected))
    providers.append(ContainerProvider(**injected))
    providers.append(InstanceMetadataProvider(**injected))
    return ChainProvider(providers)
