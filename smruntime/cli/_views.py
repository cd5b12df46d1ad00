"""Writing a response stream to stdout in one of the ``invoke`` views (text, lines, jsonl, raw)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from smruntime.cli._output import out_bytes, out_json, out_text


def write_text(deltas: Iterable[str]) -> Iterator[str]:
    """Write each non-empty delta to stdout and yield it once written; end with a newline if the
    text did not."""
    last = ""
    for delta in deltas:
        if delta:
            out_text(delta)
            last = delta
            yield delta
    if last and not last.endswith("\n"):
        out_text("\n")


def write_view(stream: Any, view: str) -> None:
    """Write the whole ``stream`` to stdout in ``view``: text, lines, jsonl or raw."""
    if view == "raw":
        for chunk in stream.iter_bytes():
            out_bytes(chunk)
    elif view == "lines":
        for line in stream.iter_lines():
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            out_text(text + "\n")
    elif view == "jsonl":
        for record in stream.iter_json():
            out_json(record)
    else:
        for _ in write_text(stream.iter_text()):
            pass
