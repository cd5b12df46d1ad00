"""Writing a response stream to stdout in one of the ``invoke`` views (text, lines, jsonl, raw)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from smruntime.cli._output import out_bytes, out_json, out_text

_SKIP = object()


def json_record(record: Any, *, text_lines: bool) -> Any:
    """One record of :meth:`EventStream.iter_records` as a JSON value: SSE data parsed as JSON
    when it is JSON, else kept as a string (``[DONE]`` giving ``_SKIP``); with ``text_lines``
    (the ``lines`` format) the same for each line, blank lines giving ``_SKIP``; JSON values as
    they are."""
    from smruntime.records import SSEEvent

    if isinstance(record, SSEEvent):  # ([DONE]: the end's sentinel, not a record; as iter_json)
        return _SKIP if record.is_done else _json_or_string(record.data)
    if text_lines and isinstance(record, str):
        return _json_or_string(record) if record.strip() else _SKIP
    return record


def _json_or_string(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's extension, not JSON


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
    """Write the whole ``stream`` to stdout in ``view``: text, lines, jsonl or raw.

    ``jsonl`` prints one JSON value per record whatever the container's format (SSE, JSON lines,
    JSON, text lines), as :func:`json_record` makes it.
    """
    if view == "raw":
        for chunk in stream.iter_bytes():
            out_bytes(chunk)
    elif view == "lines":
        for line in stream.iter_lines():
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            out_text(text + "\n")
    elif view == "jsonl":
        from smruntime.records import format_for

        fmt = format_for(getattr(stream, "content_type", None))  # what "auto" picks
        for record in stream.iter_records(fmt):
            value = json_record(record, text_lines=fmt == "lines")
            if value is not _SKIP:
                out_json(value)
    else:
        for _ in write_text(stream.iter_text()):
            pass
