"""Record errors name the line and the stream's byte offset, whatever the chunking; limits at
their boundary; format auto-detection with leading blank lines and bare field names.

Each input is short, so it is fed cut at every boundary (two pieces), at every pair of
boundaries (three pieces) and one byte at a time: the records and the error must not change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from smruntime.exceptions import IncompleteRecordError, RecordError, RecordTooLargeError
from smruntime.records import (
    JsonAutoDecoder,
    JsonDocumentDecoder,
    JsonLinesDecoder,
    JsonStreamDecoder,
    LineDecoder,
    SSEDecoder,
    SSEEvent,
    TextDecoder,
    find_error,
)


def cuts(data: bytes) -> Iterator[list[bytes]]:
    n = len(data)
    yield [data]
    for i in range(1, n):
        yield [data[:i], data[i:]]
    for i in range(1, n - 1):
        for j in range(i + 1, n):
            yield [data[:i], data[i:j], data[j:]]
    yield [data[i : i + 1] for i in range(n)]


def run(decoder: Any, pieces: list[bytes]) -> tuple[list[Any], RecordError | None]:
    got: list[Any] = []
    try:
        for piece in pieces:
            got += decoder.feed(piece)
        got += decoder.close()
    except RecordError as exc:
        return got, exc
    return got, None


def same_everywhere(
    factory: Callable[[], Any], data: bytes, records: list[Any], error: str | None
) -> list[RecordError]:
    """Check records and error text in every chunking; return the errors raised."""
    errors = []
    for pieces in cuts(data):
        got, exc = run(factory(), pieces)
        where = [len(p) for p in pieces]
        assert got == records, where
        if error is None:
            assert exc is None, where
        else:
            assert exc is not None, where
            assert error in str(exc), (where, str(exc))
            errors.append(exc)
    return errors


# -- line numbers and stream offsets --------------------------------------------------------


def test_jsonl_bad_line_names_its_line_and_stream_offset() -> None:
    data = b'{"a":1}\n\n{"b":2}\nnot json\n'
    same_everywhere(
        JsonLinesDecoder, data, [{"a": 1}, {"b": 2}], "line 4 at byte offset 17 is not JSON"
    )


def test_jsonl_offsets_count_crlf_line_ends() -> None:
    data = b'{"a":1}\r\n\r\n[}\r\n'
    same_everywhere(JsonLinesDecoder, data, [{"a": 1}], "line 3 at byte offset 11 is not JSON")


def test_jsonl_final_unterminated_line_number_and_offset() -> None:
    errors = same_everywhere(
        JsonLinesDecoder, b'{"a":1}\n\n{"b":', [{"a": 1}], "line 3 at byte offset 9"
    )
    assert all(isinstance(e, IncompleteRecordError) for e in errors)
    assert errors[0].leftover == b'{"b":'  # type: ignore[attr-defined]
    errors = same_everywhere(
        JsonLinesDecoder, b'{"a":1}\n\nxyz', [{"a": 1}], "line 3 at byte offset 9 is not JSON"
    )
    assert not any(isinstance(e, IncompleteRecordError) for e in errors)


def test_lines_invalid_utf8_offset_is_in_the_stream() -> None:
    data = b"ok\r\nfine\nab\xffc\n"
    same_everywhere(LineDecoder, data, ["ok", "fine"], "line 3 at byte offset 11")


def test_lines_truncated_character_at_end_names_the_final_line() -> None:
    errors = same_everywhere(LineDecoder, b"a\nb\n\xc3", ["a", "b"], "line 3 at byte offset 4")
    assert all(isinstance(e, IncompleteRecordError) for e in errors)


def test_sse_offsets_with_every_line_end_split_anywhere() -> None:
    data = b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: \xff\n"
    events = [SSEEvent("a"), SSEEvent("b"), SSEEvent("c")]
    same_everywhere(SSEDecoder, data, events, "line 7 at byte offset 35")


def test_sse_crlf_split_across_pieces_is_one_line_end() -> None:
    data = b"data: a\r\ndata: b\r\n\r\n"
    same_everywhere(SSEDecoder, data, [SSEEvent("a\nb")], None)


def test_line_over_the_limit_names_its_line_and_offset() -> None:
    data = b"12\r\n\r\n123456\n"
    same_everywhere(
        lambda: LineDecoder(max_record_bytes=5), data, ["12", ""], "line 3 at byte offset 6"
    )


def test_text_decoder_invalid_byte_offset_in_the_stream() -> None:
    for pieces in cuts(b"ab\r\nc\xffd"):
        got, exc = run(TextDecoder(), pieces)
        assert "".join(got) == "ab\r\nc"
        assert exc is not None
        assert "byte offset 5" in str(exc), [len(p) for p in pieces]


# -- limits at their boundary ---------------------------------------------------------------


@pytest.mark.parametrize("factory", [LineDecoder, JsonLinesDecoder])
def test_a_line_of_exactly_the_limit_is_accepted(factory: Any) -> None:
    line = b"1" * 6
    for data in (line + b"\n", line):  # terminated, and unterminated (pending) at close
        for pieces in cuts(data):
            got, exc = run(factory(max_record_bytes=6), pieces)
            assert exc is None
            assert len(got) == 1
        for pieces in cuts(b"1" + data):
            got, exc = run(factory(max_record_bytes=6), pieces)
            assert isinstance(exc, RecordTooLargeError)
            assert "line 1 at byte offset 0" in str(exc)


def test_sse_data_of_exactly_the_limit_is_accepted() -> None:
    # each data line counts its value plus the joining newline: 2 x ("abcd" + 1) = 10
    same_everywhere(
        lambda: SSEDecoder(max_record_bytes=10),
        b"data: abcd\ndata: abcd\n\n",
        [SSEEvent("abcd\nabcd")],
        None,
    )
    same_everywhere(
        lambda: SSEDecoder(max_record_bytes=10),
        b"data: a\n\ndata: abcd\ndata: abcd\ndata:\n",
        [SSEEvent("a")],
        "at line 5 (byte offset 31)",
    )


def test_json_document_of_exactly_the_limit_is_accepted() -> None:
    doc = b"[1,\n 2]"
    same_everywhere(lambda: JsonDocumentDecoder(max_record_bytes=len(doc)), doc, [[1, 2]], None)
    _, exc = run(JsonDocumentDecoder(max_record_bytes=len(doc) - 1), [doc[:3], doc[3:]])
    assert isinstance(exc, RecordTooLargeError)
    assert exc.limit == len(doc) - 1


def test_json_auto_first_line_of_exactly_the_limit() -> None:
    same_everywhere(lambda: JsonAutoDecoder(max_record_bytes=7), b'{"a":1}\n', [{"a": 1}], None)
    # blank lines first: only the first line's own bytes count, in whatever piece it starts
    same_everywhere(
        lambda: JsonAutoDecoder(max_record_bytes=7), b'\n\r\n{"a":1}\n', [{"a": 1}], None
    )
    same_everywhere(
        lambda: JsonAutoDecoder(max_record_bytes=7),
        b'\n\n{"a":12}\n',
        [],
        "first line at byte offset 2 is over the record limit",
    )
    same_everywhere(
        lambda: JsonAutoDecoder(max_record_bytes=7), b'\r\n{"a":123}', [], "byte offset 2"
    )


def test_djl_error_record_from_code_400() -> None:
    record = {"code": 400, "type": "BadRequest", "message": "bad input"}
    assert find_error(record) == "BadRequest: bad input (code 400)"
    assert find_error({**record, "code": 399}) is None


# -- auto-detection -------------------------------------------------------------------------


def test_json_auto_blank_lines_before_a_pretty_printed_document() -> None:
    data = b'\n\r\n  \n[\n  {"generation": "hi"}\n]\n'
    for pieces in cuts(data):
        dec = JsonAutoDecoder()
        got, exc = run(dec, pieces)
        assert exc is None
        assert got == [[{"generation": "hi"}]], [len(p) for p in pieces]
        assert dec.mode == "json-document"


def test_json_auto_blank_lines_before_json_lines() -> None:
    data = b'\n\n{"a":1}\n{"a":2}\n'
    for pieces in cuts(data):
        dec = JsonAutoDecoder()
        assert run(dec, pieces) == ([{"a": 1}, {"a": 2}], None)
        assert dec.mode == "jsonl"


@pytest.mark.parametrize(
    ("data", "events"),
    [
        (b"data\n\n", [SSEEvent("")]),
        (b"data\ndata\n\n", [SSEEvent("\n")]),
        (b"\ndata\r\ndata: x\r\n\r\n", [SSEEvent("\nx")]),
    ],
)
def test_bare_data_field_is_sse(data: bytes, events: list[SSEEvent]) -> None:
    same_everywhere(SSEDecoder, data, events, None)
    for pieces in cuts(data):
        dec = JsonAutoDecoder()
        assert run(dec, pieces) == (events, None)
        assert dec.mode == "sse"


def test_json_auto_a_word_starting_with_data_is_not_sse() -> None:
    dec = JsonAutoDecoder()
    got, exc = run(dec, [b"database\n"])
    assert got == []
    assert isinstance(exc, RecordError)
    assert dec.mode == "json-document"


def test_offset_of_the_line_right_after_a_split_crlf() -> None:
    # The \r ends one piece and its \n opens the next: the next line starts one byte later.
    data = b"data: a\r\ndata: \xff\r\n"
    same_everywhere(SSEDecoder, data, [], "line 2 at byte offset 15")
    data = b"data: a\r\n\r\nxyz: \xff\n"
    same_everywhere(SSEDecoder, data, [SSEEvent("a")], "line 3 at byte offset 16")


# -- defaults and previews ------------------------------------------------------------------


def test_default_record_limit_is_one_mebibyte() -> None:
    from smruntime import records

    assert records.DEFAULT_MAX_RECORD_BYTES == 1024 * 1024
    assert LineDecoder().max_record_bytes == 1024 * 1024


def test_the_smallest_record_limit_is_one_byte() -> None:
    assert run(LineDecoder(max_record_bytes=1), [b"a\n", b"\nb"]) == (["a", "", "b"], None)
    with pytest.raises(ValueError, match="max_record_bytes"):
        LineDecoder(max_record_bytes=0)


def test_error_previews_are_cut_at_80_characters() -> None:
    exact = "x" * 80
    _, exc = run(JsonLinesDecoder(), [exact.encode() + b"\n"])
    assert str(exc).endswith(f"starts {exact!r}")
    _, exc = run(JsonLinesDecoder(), [exact.encode() + b"y\n"])
    assert str(exc).endswith(f"starts {exact!r}...")


def test_json_document_cut_inside_a_character_is_incomplete() -> None:
    errors = same_everywhere(JsonDocumentDecoder, b'["caf\xc3', [], "stream ended inside")
    assert all(isinstance(e, IncompleteRecordError) for e in errors)


def test_sse_events_are_frozen_values() -> None:
    import dataclasses

    event = SSEEvent("x", "e", "1", 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.data = "y"  # type: ignore[misc]
    assert hash(event) == hash(SSEEvent("x", "e", "1", 5))


def test_json_stream_of_sse_skips_done_and_comments_however_cut() -> None:
    data = b': ping\n\ndata: {"a":1}\n\ndata: [DONE]\n\n'
    same_everywhere(JsonStreamDecoder, data, [{"a": 1}], None)
    dec = JsonStreamDecoder()
    assert run(dec, [data]) == ([{"a": 1}], None)
    assert dec.mode == "sse"
    dec = JsonStreamDecoder()
    assert run(dec, [b'{"a":1}\n[2]\n']) == ([{"a": 1}, [2]], None)
    assert dec.mode == "jsonl"


def test_json_stream_of_sse_ending_without_its_blank_line() -> None:
    # the final event is a record (it raised a bare AttributeError), or, cut, an incomplete one
    data = b'data:{"t":"a"}\n\ndata:{"t":"b"}'
    same_everywhere(JsonStreamDecoder, data, [{"t": "a"}, {"t": "b"}], None)
    same_everywhere(JsonStreamDecoder, data + b"\n", [{"t": "a"}, {"t": "b"}], None)
    errors = same_everywhere(
        JsonStreamDecoder, b'data:{"t":"a"}\n\ndata:{"t":"b', [{"t": "a"}], "cut JSON"
    )
    assert all(type(e) is IncompleteRecordError for e in errors)


def test_json_stream_of_a_pretty_printed_document() -> None:
    # JumpStart: one document over many lines (its first line is no JSON value on its own)
    data = b'[\n  {\n    "generation": {"role": "assistant", "content": "Hello"}\n  }\n]'
    value = [{"generation": {"role": "assistant", "content": "Hello"}}]
    same_everywhere(JsonStreamDecoder, data, [value], None)
    dec = JsonStreamDecoder()
    run(dec, [data])
    assert dec.mode == "json-document"


def test_sse_done_only_after_the_done_sentinel() -> None:
    dec = SSEDecoder()
    assert dec.done is False
    assert dec.feed(b"data: x\n\n") == [SSEEvent("x")]
    assert dec.done is False
    dec.feed(b"data: [DONE]\n\n")
    assert dec.done is True


def test_text_of_nested_lists_is_walked_to_depth_64() -> None:
    from smruntime.records import extract_text

    def nested(depth: int) -> Any:
        obj: Any = {"token": {"text": "t"}}
        for _ in range(depth):
            obj = [obj]
        return obj

    assert extract_text(nested(64)) == "t"
    assert extract_text(nested(65)) is None


@pytest.mark.parametrize("flag", ["special", "special_token"])
def test_special_tokens_have_no_text(flag: str) -> None:
    from smruntime.records import extract_text

    assert extract_text({"token": {"text": "</s>", flag: True}}) is None
    assert extract_text({"token": {"text": "hi", flag: False}}) == "hi"


def test_json_document_invalid_utf8_names_line_1_and_its_offset() -> None:
    same_everywhere(JsonDocumentDecoder, b'["ab\xff"]', [], "line 1 at byte offset 4")


def _nested_error(levels: int) -> dict[str, object]:
    record: dict[str, object] = {"error": "boom"}
    for _ in range(levels):
        record = {"error": record}
    return record


def test_nested_error_records_are_described_up_to_the_walk_limit_exactly() -> None:
    # 65 wrappers descend 64 times (the limit itself): still described; one more is not
    assert find_error(_nested_error(65)) == "boom"
    assert find_error(_nested_error(66)) == "error (nested too deeply to describe)"
