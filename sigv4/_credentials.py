"""The credentials value: an access key pair, an optional session token and expiry."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field


def mask(value: str | None, keep: int = 4) -> str:
    """Return ``value`` with all but its first ``keep`` characters hidden."""
    if value is None:
        return "None"
    if len(value) <= keep:
        return "*" * len(value)
    return value[:keep] + "*" * 4


@dataclass(frozen=True)
class Credentials:
    """AWS credentials. The repr masks the access key id and hides the secret and the token."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: _dt.datetime | None = None
    """When temporary credentials stop working (timezone-aware), or ``None`` if they do not."""

    def __post_init__(self) -> None:
        if not isinstance(self.access_key_id, str) or not self.access_key_id:
            raise ValueError("Credentials: access_key_id must be a non-empty string")
        if not isinstance(self.secret_access_key, str) or not self.secret_access_key:
            raise ValueError("Credentials: secret_access_key must be a non-empty string")
        if self.expiration is not None and self.expiration.tzinfo is None:
            raise ValueError("Credentials: expiration must be timezone-aware")

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
