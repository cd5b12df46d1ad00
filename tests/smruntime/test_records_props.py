"""Properties of the record layer: the result never depends on how the body was cut."""

from __future__ import annotations

import json
from typing import Any, Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from smruntime.exceptions import RecordError
from smruntime.records import (
    JsonAutoDecoder,
    JsonDocumentDecoder,
    JsonLinesDecoder,
    LineDecoder,
    RawDecoder,
    SSEDecoder,
    SSEEvent,
    TextDecoder,
    decoder_for,
    iter_records,
    text_decoder_for,
)

try:  # tests/ as a package (if __init__.py files are added) or rootdir-less "prepend" import
    from .fixtures_records import SAMPLES
except ImportError:
    from fixtures_records import SAMPLES  # type: ignore[no-redef]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    parts = []
    prev = 0
    for p in points:
        parts.append(data[prev:p])
        prev = p
    parts.append(data[prev:])
    return parts


def cuts_for(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=max(1, min(len(data), 60)))


def outcome(factory: Callable[[], Any], parts: list[bytes]) -> tuple[list[Any], str | None]:
    """Records handed out before the stream ended or failed, and the error class if it failed."""
    dec = factory()
    got: list[Any] = []
    try:
        for part in parts:
            got.extend(dec.feed(part))
        got.extend(dec.close())
    except RecordError as exc:
        return got, type(exc).__name__
    return got, None


@settings(deadline=None)
@given(st.data())
def test_samples_any_chunking_same_records(data: st.DataObject) -> None:
    s = data.draw(st.sampled_from(SAMPLES), label="sample")
    cuts = data.draw(cuts_for(s.body), label="cuts")
    whole = list(iter_records([s.body], decoder_for(s.content_type)))
    assert list(iter_records(chunked(s.body, cuts), decoder_for(s.content_type))) == whole


LINE_TEXT = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]))


@given(
    st.lists(LINE_TEXT, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.data(),
)
def test_lines_round_trip(lines: list[str], eol: str, final_eol: bool, data: st.DataObject) -> None:
    lines = [ln.rstrip("\r") for ln in lines]
    body = eol.join(lines) + (eol if final_eol and lines else "")
    raw = body.encode()
    cuts = data.draw(cuts_for(raw))
    got = list(iter_records(chunked(raw, cuts), LineDecoder()))
    expected = list(lines)
    if lines and not final_eol and lines[-1] == "":
        expected.pop()  # "a\n" + "" is the same body as "a\n"
    assert got == expected


SSE_VALUE = st.text(
    st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20
)


@st.composite
def sse_events(draw: st.DrawFn) -> list[SSEEvent]:
    events = []
    for _ in range(draw(st.integers(0, 6))):
        data_lines = draw(st.lists(SSE_VALUE, min_size=1, max_size=3))
        event = draw(st.none() | st.from_regex(r"[a-z]{1,8}", fullmatch=True))
        ident = draw(st.none() | st.from_regex(r"[0-9a-z]{1,6}", fullmatch=True))
        retry = draw(st.none() | st.integers(0, 10**6))
        events.append(SSEEvent("\n".join(data_lines), event, ident, retry))
    return events


@given(sse_events(), st.data())
def test_sse_round_trip_any_line_ends_and_chunking(
    events: list[SSEEvent], data: st.DataObject
) -> None:
    out = []
    for ev in events:
        fields = []
        if data.draw(st.booleans(), label="comment"):
            fields.append(": keep-alive")
        if ev.event is not None:
            fields.append(f"event: {ev.event}")
        if ev.id is not None:
            fields.append(f"id:{ev.id}")
        if ev.retry is not None:
            fields.append(f"retry: {ev.retry}")
        for value in ev.data.split("\n"):
            # the one optional space is stripped, so a value starting with one needs it
            space = value.startswith(" ") or data.draw(st.booleans(), label="space")
            fields.append(f"data: {value}" if space else f"data:{value}")
        fields.append("")
        for f in fields:
            # "\r" then a blank line ended by "\n" would be one "\r\n" line end
            choices = (
                ["\r", "\r\n"] if not f and out and out[-1].endswith("\r") else ["\n", "\r", "\r\n"]
            )
            out.append(f + data.draw(st.sampled_from(choices), label="eol"))
    raw = "".join(out).encode()
    cuts = data.draw(cuts_for(raw), label="cuts")
    assert list(iter_records(chunked(raw, cuts), SSEDecoder())) == events


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.lists(JSON_VALUES, max_size=8), st.booleans(), st.data())
def test_json_lines_round_trip(values: list[Any], ascii_only: bool, data: st.DataObject) -> None:
    raw = "".join(json.dumps(v, ensure_ascii=ascii_only) + "\n" for v in values).encode()
    cuts = data.draw(cuts_for(raw))
    assert list(iter_records(chunked(raw, cuts), JsonLinesDecoder())) == values


@given(JSON_VALUES, st.data())
def test_json_document_round_trip(value: Any, data: st.DataObject) -> None:
    raw = json.dumps(value, indent=2, ensure_ascii=False).encode()
    cuts = data.draw(cuts_for(raw))
    assert list(iter_records(chunked(raw, cuts), JsonDocumentDecoder())) == [value]
    assert list(iter_records(chunked(raw, cuts), JsonAutoDecoder())) == [value]


@given(st.text(), st.data())
def test_text_decoder_any_chunking(text: str, data: st.DataObject) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    cuts = data.draw(cuts_for(raw))
    got, err = outcome(TextDecoder, chunked(raw, cuts))
    whole, whole_err = outcome(TextDecoder, [raw])
    assert err == whole_err
    assert "".join(got) == "".join(whole)
    if err is None:
        assert "".join(got) == text


FACTORIES: list[Callable[[], Any]] = [
    LineDecoder,
    lambda: LineDecoder(keepends=True),
    JsonLinesDecoder,
    SSEDecoder,
    JsonDocumentDecoder,
    JsonAutoDecoder,
    lambda: LineDecoder(max_record_bytes=7),
    lambda: JsonLinesDecoder(max_record_bytes=7),
    lambda: SSEDecoder(max_record_bytes=7),
    lambda: JsonDocumentDecoder(max_record_bytes=20),
    lambda: JsonAutoDecoder(max_record_bytes=7),
    lambda: SSEDecoder(errors="replace"),
    lambda: text_decoder_for("auto"),  # (a content type that names no format)
    lambda: text_decoder_for("auto", max_record_bytes=7),
]

NOISE = st.lists(
    st.sampled_from(
        [
            b"\n",
            b"\r",
            b"\r\n",
            b":",
            b"data:",
            b"data: ",
            b"event:",
            b"id:",
            b"retry:",
            b"1",
            b"{",
            b"}",
            b"[",
            b"]",
            b'"',
            b",",
            b" ",
            b"\xc3",
            b"\xa9",
            b"\xff",
            b"\xf0\x9f\x9a",
            b"[DONE]",
            b"\xef\xbb\xbf",
            b"x",
            b"\x00",
        ]
    )
    | st.binary(max_size=6),
    max_size=30,
).map(b"".join)


@settings(deadline=None)
@given(st.sampled_from(range(len(FACTORIES))), NOISE, st.data())
def test_any_bytes_only_record_errors_and_chunking_invariant(
    which: int, raw: bytes, data: st.DataObject
) -> None:
    factory = FACTORIES[which]
    cuts = data.draw(cuts_for(raw))
    whole = outcome(factory, [raw])  # raises only RecordError, anything else fails the test
    assert outcome(factory, chunked(raw, cuts)) == whole
    assert outcome(factory, [raw[i : i + 1] for i in range(len(raw))]) == whole


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_raw_decoder_keeps_every_byte(parts: list[bytes]) -> None:
    assert b"".join(iter_records(parts, RawDecoder())) == b"".join(parts)


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(["\n", "\r\n", " \n", "\t\r\n"]), max_size=5),
    st.lists(LINE_TEXT, max_size=8),
    st.booleans(),
    st.data(),
)
def test_text_auto_keeps_plain_text_whole(
    blank: list[str], lines: list[str], final_eol: bool, data: st.DataObject
) -> None:
    # a first line that is neither SSE nor a JSON object: the text, every byte of it, blank
    # lines before it included, however the body was cut
    first = data.draw(st.sampled_from(["T", " data: x", "\t:c", "  event: e", "id: 1", "[1]"]))
    body = "".join(blank) + "\n".join([first, *lines]) + ("\n" if final_eol else "")
    raw = body.encode()
    cuts = data.draw(cuts_for(raw))
    got = list(iter_records(chunked(raw, cuts), text_decoder_for("auto")))
    assert "".join(got) == body
