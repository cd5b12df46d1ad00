"""The base of the credential providers and the helpers they share.

Every provider takes its world as arguments: ``environ`` (a mapping, default ``os.environ``),
``http`` (an :data:`~sigv4._http.HttpFetch`, default ``urllib``), ``clock`` (returns aware UTC
now) and ``home`` (the home directory holding ``.aws/``). ``load()`` returns credentials
(plain, or :class:`RefreshableCredentials` for temporary ones), ``None`` when the provider is not
configured, and raises :class:`CredentialProviderError` when it is configured but fails.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Union

from sigv4._credentials import Credentials
from sigv4._http import HttpFetch, urllib_fetch
from sigv4._profiles import PathLike
from sigv4._refresh import Clock, RefreshableCredentials, utc_now
from sigv4.exceptions import CredentialProviderError, SigV4Error

__all__ = ["AnyCredentials", "CredentialProvider"]

AnyCredentials = Union[Credentials, RefreshableCredentials]

_MAX_ERR_TEXT = 300


def _clip(text: str, limit: int = _MAX_ERR_TEXT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class CredentialProvider(abc.ABC):
    """A source of credentials. Subclasses implement :meth:`_load`.

    ``load()`` returns credentials, or ``None`` when this source is not configured; it raises
    :class:`CredentialProviderError` (or another :class:`CredentialsError`) when it is configured
    but cannot deliver. Unexpected exceptions are wrapped, never leaked.
    """

    name: str = "provider"

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        http: HttpFetch | None = None,
        clock: Clock | None = None,
        home: PathLike | None = None,
    ) -> None:
        self._environ = environ
        self._http = http
        self._clock = clock
        self._home = home

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment read by this provider (``os.environ`` unless injected)."""
        return os.environ if self._environ is None else self._environ

    @property
    def http(self) -> HttpFetch:
        """The HTTP function used (``urllib_fetch`` unless injected)."""
        return self._http or urllib_fetch

    @property
    def clock(self) -> Clock:
        """The clock used (``utc_now`` unless injected)."""
        return self._clock or utc_now

    def _injected(self) -> dict[str, Any]:
        return {
            "environ": self._environ,
            "http": self._http,
            "clock": self._clock,
            "home": self._home,
        }

    def load(self) -> AnyCredentials | None:
        """Credentials from this source, ``None`` if not configured; raises if it is but fails."""
        try:
            return self._load()
        except SigV4Error:
            raise
        except Exception as exc:
            detail = f": {exc}" if isinstance(exc, OSError) else ""
            raise CredentialProviderError(
                self.name, f"unexpected {type(exc).__name__}{detail}"
            ) from exc

    @abc.abstractmethod
    def _load(self) -> AnyCredentials | None:
        """Implementation of :meth:`load`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _refreshable(
    fetch: Callable[[], Credentials],
    clock: Clock,
    name: str,
    initial: Credentials | None = None,
) -> AnyCredentials:
    """Wrap ``initial`` (default: one ``fetch()``) for refresh if it expires; check it is live."""
    if initial is None:
        initial = fetch()
    if initial.expiration is None:
        return initial
    rc = RefreshableCredentials(fetch, clock=clock, initial=initial, name=name)
    rc.get()  # raises CredentialsExpiredError if it is expired and cannot be renewed
    return rc


def _read_token_file(provider: str, what: str, path: PathLike) -> str:
    """The text of the token file ``path``; an unreadable one raises naming ``what``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or type(exc).__name__
        raise CredentialProviderError(provider, f"cannot read {what} {path}: {why}") from None
