"""Credentials given in code or held in the environment: StaticProvider, EnvProvider."""

from __future__ import annotations

from collections.abc import Mapping

from sigv4._credentials import Credentials
from sigv4._provider_base import AnyCredentials, CredentialProvider, _refreshable
from sigv4._refresh import Clock, parse_timestamp
from sigv4.exceptions import CredentialProviderError

__all__ = ["EnvProvider", "StaticProvider"]


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
