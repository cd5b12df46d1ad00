"""``client.meta.events``: botocore's event hooks, for the handlers people register on a
sagemaker-runtime client.

Event names are dotted (``before-sign.sagemaker-runtime.InvokeEndpoint``). A handler registered
for a prefix (``before-sign``, ``before-sign.sagemaker-runtime``) receives every event below it,
and ``*`` matches any one part (``before-sign.*.InvokeEndpoint``). Handlers run in botocore's
order: the deeper and wildcard matches first, the shorter prefixes last; within one name
``register_first`` handlers, then ``register``, then ``register_last``, each in registration
order. Every handler is called with keyword arguments only (``event_name=`` and the event's own).

The client emits (``<Op>`` is the operation's API name, ``InvokeEndpoint`` ...):

- ``provide-client-params.sagemaker-runtime.<Op>`` (``params``, ``model``, ``context``): a
  handler may return a dict that replaces the parameters;
- ``before-parameter-build.sagemaker-runtime.<Op>`` (same): ``params`` may be changed in place;
- ``before-sign.sagemaker-runtime.<Op>`` (``request``, ``operation_name``, ``region_name``,
  ``signing_name``, ``signature_version``): headers added here are signed;
- ``before-send.sagemaker-runtime.<Op>`` (``request``): headers added here are sent unsigned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Callable, Optional

__all__ = ["EventHooks", "HookHeaders", "HookRequest"]

Handler = Callable[..., Any]

_FIRST, _MIDDLE, _LAST = 0, 1, 2


class _Node:
    __slots__ = ("children", "handlers")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.handlers: tuple[list[tuple[Handler, Optional[str]]], ...] = ([], [], [])

    def ordered(self) -> list[Handler]:
        return [h for group in self.handlers for h, _ in group]


def _check_handler(handler: object) -> None:
    if not callable(handler):
        raise ValueError(f"event handler {handler!r} must be callable")
    import inspect

    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return  # a builtin without a signature: trust it
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        raise ValueError(f"event handler {handler!r} must accept keyword arguments (**kwargs)")


class EventHooks:
    """Handlers by event name, with botocore's ``register``/``unregister`` and matching."""

    def __init__(self) -> None:
        self._root = _Node()
        self._ids: dict[str, tuple[str, Handler]] = {}
        self._count = 0
        self.active = False
        """True while any handler is registered (an attribute: read on every call)."""

    # -- registration -----------------------------------------------------------------------

    def register(
        self, event_name: str, handler: Handler, unique_id: Optional[str] = None, **_: Any
    ) -> None:
        """Call ``handler(**kwargs)`` for ``event_name`` and every event below it. A second
        registration under the same ``unique_id`` is ignored (as in botocore)."""
        self._register(event_name, handler, unique_id, _MIDDLE)

    def register_first(
        self, event_name: str, handler: Handler, unique_id: Optional[str] = None, **_: Any
    ) -> None:
        """As :meth:`register`, ahead of the handlers registered for the same name."""
        self._register(event_name, handler, unique_id, _FIRST)

    def register_last(
        self, event_name: str, handler: Handler, unique_id: Optional[str] = None, **_: Any
    ) -> None:
        """As :meth:`register`, after the handlers registered for the same name."""
        self._register(event_name, handler, unique_id, _LAST)

    def _register(
        self, event_name: str, handler: Handler, unique_id: Optional[str], where: int
    ) -> None:
        _check_handler(handler)
        if unique_id is not None and unique_id in self._ids:
            return
        node = self._root
        for part in event_name.split("."):
            node = node.children.setdefault(part, _Node())
        node.handlers[where].append((handler, unique_id))
        if unique_id is not None:
            self._ids[unique_id] = (event_name, handler)
        self._count += 1
        self.active = True

    def unregister(
        self,
        event_name: str,
        handler: Optional[Handler] = None,
        unique_id: Optional[str] = None,
        **_: Any,
    ) -> None:
        """Remove ``handler`` (or the one registered under ``unique_id``) from ``event_name``;
        nothing happens if it is not registered."""
        if unique_id is not None:
            found = self._ids.get(unique_id)
            if found is None:
                return
            event_name, handler = found
        node: Optional[_Node] = self._root
        for part in event_name.split("."):
            node = node.children.get(part) if node is not None else None
        if node is None:
            return
        for group in node.handlers:
            for i, (h, uid) in enumerate(group):
                if h == handler and (unique_id is None or uid == unique_id):
                    del group[i]
                    self._count -= 1
                    self.active = self._count > 0
                    if uid is not None:
                        self._ids.pop(uid, None)
                    return

    # -- emitting ---------------------------------------------------------------------------

    def __bool__(self) -> bool:
        return self._count > 0

    def handlers_for(self, event_name: str) -> list[Handler]:
        """The handlers that :meth:`emit` would call for ``event_name``, in order."""
        parts = event_name.split(".")
        visited: list[_Node] = []
        # Depth first, the exact part before the wildcard; the nodes reached later (deeper,
        # wildcard) have their handlers called earlier.
        pending: list[tuple[_Node, int]] = [(self._root, 0)]
        while pending:
            node, depth = pending.pop()
            visited.append(node)
            if depth < len(parts):
                wild = node.children.get("*")
                exact = node.children.get(parts[depth])
                if wild is not None:
                    pending.append((wild, depth + 1))
                if exact is not None:
                    pending.append((exact, depth + 1))
        return [h for node in reversed(visited) for h in node.ordered()]

    def emit(self, event_name: str, **kwargs: Any) -> list[tuple[Handler, Any]]:
        """Call every handler for ``event_name``; ``(handler, return value)`` pairs."""
        if not self._count:
            return []
        return [(h, h(event_name=event_name, **kwargs)) for h in self.handlers_for(event_name)]

    def emit_until_response(self, event_name: str, **kwargs: Any) -> tuple[Any, Any]:
        """Call the handlers until one returns something other than ``None``:
        ``(handler, response)``, or ``(None, None)``."""
        if self._count:
            for h in self.handlers_for(event_name):
                response = h(event_name=event_name, **kwargs)
                if response is not None:
                    return h, response
        return None, None


class HookHeaders(MutableMapping[str, str]):
    """The request headers a hook sees: case-insensitive, in order; ``h[name] = value``
    replaces, :meth:`add_header` appends."""

    def __init__(self, pairs: Any = ()) -> None:
        self._pairs: list[tuple[str, str]] = []
        for name, value in pairs.items() if isinstance(pairs, Mapping) else pairs:
            self._pairs.append((str(name), str(value)))

    def __getitem__(self, name: str) -> str:
        low = name.lower()
        for key, value in self._pairs:
            if key.lower() == low:
                return value
        raise KeyError(name)

    def __setitem__(self, name: str, value: str) -> None:
        self._delete(name)
        self._pairs.append((name, str(value)))

    def __delitem__(self, name: str) -> None:
        if not self._delete(name):
            raise KeyError(name)

    def _delete(self, name: str) -> bool:
        low = name.lower()
        before = len(self._pairs)
        self._pairs = [(k, v) for k, v in self._pairs if k.lower() != low]
        return len(self._pairs) != before

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, _ in self._pairs])

    def __len__(self) -> int:
        return len(self._pairs)

    def add_header(self, name: str, value: str) -> None:
        """Append a header, keeping any of the same name."""
        self._pairs.append((name, str(value)))

    def replace_header(self, name: str, value: str) -> None:
        """Replace the value of an existing header (``KeyError`` if there is none)."""
        if name not in self:
            raise KeyError(name)
        self[name] = value

    def pairs(self) -> list[tuple[str, str]]:
        """The headers as sent: ``(name, value)`` pairs in order."""
        return list(self._pairs)

    def __repr__(self) -> str:
        from smruntime._redact import redact_headers

        return f"HookHeaders({redact_headers(self._pairs)!r})"


class HookRequest:
    """The HTTP request a ``before-sign`` or ``before-send`` handler sees (botocore's
    ``AWSRequest`` attributes that apply): ``method``, ``url``, ``headers``, ``body``
    (also ``data``), ``context`` and ``stream_output``."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: Any,
        body: bytes,
        *,
        context: Optional[dict[str, Any]] = None,
        stream_output: bool = False,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = HookHeaders(headers)
        self.body = body
        self.context: dict[str, Any] = {} if context is None else context
        self.stream_output = stream_output

    @property
    def data(self) -> bytes:
        return self.body

    @data.setter
    def data(self, value: bytes) -> None:
        self.body = value

    def __repr__(self) -> str:
        from smruntime._redact import redact_url

        return f"<HookRequest {self.method} {redact_url(self.url)}>"
