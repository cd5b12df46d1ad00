"""The credentials value: an access key pair, an optional session token and expiry."""

from __future__ import annotations

import datetime as _dt
from typing import Optional

from sigv4._record import _Record


def mask(value: str | None, keep: int = 4) -> str:
    """Return ``value`` with all but its first ``keep`` characters hidden."""
    if value is None:
        return "None"
    if len(value) <= keep:
        return "*" * len(value)
    return value[:keep] + "*" * 4


class Credentials(_Record):
    """AWS credentials. The repr masks the access key id and hides the secret and the token.

    Immutable (assigning a field raises ``AttributeError``), hashable, and equal to credentials
    with the same four fields.
    """

    __slots__ = ("__weakref__", "access_key_id", "expiration", "secret_access_key", "session_token")
    _FIELDS = ("access_key_id", "secret_access_key", "session_token", "expiration")

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    expiration: _dt.datetime | None
    """When temporary credentials stop working (timezone-aware), or ``None`` if they do not."""

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        session_token: Optional[str] = None,
        expiration: Optional[_dt.datetime] = None,
    ) -> None:
        if not isinstance(access_key_id, str) or not access_key_id:
            raise ValueError("Credentials: access_key_id must be a non-empty string")
        if not isinstance(secret_access_key, str) or not secret_access_key:
            raise ValueError("Credentials: secret_access_key must be a non-empty string")
        if expiration is not None and expiration.tzinfo is None:
            raise ValueError("Credentials: expiration must be timezone-aware")
        self._init(access_key_id, secret_access_key, session_token, expiration)

    def get(self) -> Credentials:
        """Return these credentials (the same call as ``RefreshableCredentials.get``)."""
        return self

    def expired(self, now: _dt.datetime) -> bool:
        """True once ``now`` (timezone-aware) is at or after ``expiration``."""
        return self.expiration is not None and now >= self.expiration

    def __repr__(self) -> str:
        token = "None" if self.session_token is None else "'****'"
        exp = "None" if self.expiration is None else self.expiration.isoformat()
        return (
            f"Credentials(access_key_id={mask(self.access_key_id)!r}, secret_access_key='****', "
            f"session_token={token}, expiration={exp})"
        )

    __str__ = __repr__
