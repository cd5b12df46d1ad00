"""Pure text formatting: one-line messages, previews, JSON, sizes, durations, summaries."""

from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Iterable
from typing import Any, Optional


def one_line(text: str) -> str:
    """``text`` with its non-blank lines joined by single spaces."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def preview(data: bytes, limit: int = 60) -> str:
    """A printable, one-line preview of ``data`` (text if it decodes, else hex)."""
    head = data[:limit]
    more = "..." if len(data) > limit else ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"hex {head.hex()}{more}"
    return json.dumps(text, ensure_ascii=False) + more


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def dumps(value: Any, *, indent: Optional[int] = None, ensure_ascii: bool = False) -> str:
    """JSON for output: bytes as text (or base64), datetimes as ISO 8601, ``to_dict()`` used."""
    return json.dumps(value, default=_json_default, ensure_ascii=ensure_ascii, indent=indent)


def fmt_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def fmt_seconds(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def stat(stats: Any, name: str) -> Any:
    """``stats.name``, or ``None`` when there are no stats or no such figure."""
    return getattr(stats, name, None) if stats is not None else None


def summary(
    head: Iterable[str],
    stats: Any,
    counts: Iterable[str],
    total: float,
    tail: Iterable[str] = (),
) -> str:
    """The ``--- ...`` summary line: ``head``, the ``counts`` figures and the size that
    ``stats`` has, the total time, then ``tail``."""
    parts = list(head)
    for name in counts:
        value = stat(stats, name)
        if value is not None:
            parts.append(f"{value} {name}")
    nbytes = stat(stats, "bytes")
    if nbytes is not None:
        parts.append(fmt_bytes(int(nbytes)))
    parts.append(f"total {fmt_seconds(total)}")
    parts.extend(tail)
    return "--- " + ", ".join(parts)
