"""The record layer: decoders, format choice, text extraction and error records."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable
from typing import Any

import pytest

from smruntime import records
from smruntime.exceptions import (
    ContainerStreamError,
    IncompleteRecordError,
    RecordError,
    RecordTooLargeError,
)
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
    extract_text,
    find_error,
    format_for,
    iter_records,
    iter_text,
    make_decoder,
)

try:  # tests/ as a package (if __init__.py files are added) or rootdir-less "prepend" import
    from .fixtures_records import CUT_CASES, SAMPLES, StreamSample
except ImportError:
    from fixtures_records import CUT_CASES, SAMPLES, StreamSample  # type: ignore[no-redef]


def run(decoder: Any, parts: Iterable[bytes]) -> list[Any]:
    return list(iter_records(parts, decoder))


def one_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def text_of(recs: list[Any]) -> str:
    return "".join(t for t in (extract_text(r) for r in recs) if t)


# ------------------------------------------------------------------------ container samples


@pytest.mark.parametrize("s", SAMPLES, ids=lambda s: s.name)
def test_sample_format_records_text_and_error(s: StreamSample) -> None:
    assert format_for(s.content_type) == s.fmt
    recs = run(decoder_for(s.content_type), s.parts)
    assert len(recs) == s.records
    assert text_of(recs) == s.text
    errors = [e for e in (find_error(r) for r in recs) if e]
    if s.error is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert s.error in errors[0]
        assert find_error(recs[-1]) == errors[0]


@pytest.mark.parametrize("s", SAMPLES, ids=lambda s: s.name)
def test_sample_every_split_offset_and_one_byte_parts(s: StreamSample) -> None:
    expected = run(decoder_for(s.content_type), [s.body])
    assert run(decoder_for(s.content_type), one_byte(s.body)) == expected
    assert run(decoder_for(s.content_type), s.parts) == expected
    for i in range(len(s.body) + 1):
        got = run(decoder_for(s.content_type), [s.body[:i], s.body[i:]])
        assert got == expected, f"split at {i}"


@pytest.mark.parametrize("s", SAMPLES, ids=lambda s: s.name)
def test_sample_iter_text(s: StreamSample) -> None:
    if s.error is None:
        assert "".join(iter_text(s.parts, content_type=s.content_type)) == s.text
    else:
        with pytest.raises(ContainerStreamError) as info:
            list(iter_text(s.parts, content_type=s.content_type))
        assert s.error in str(info.value)
        assert find_error(info.value.record) is not None


@pytest.mark.parametrize("case", CUT_CASES, ids=lambda c: c.name)
def test_user_needs_cut_table(case: Any) -> None:
    recs = run(make_decoder(case.fmt), case.parts)
    if case.fmt == "sse":
        recs = [e.data for e in recs]
    assert tuple(recs) == case.records


def test_sample_fixture_is_faithful_to_doc_bytes() -> None:
    tgi = SAMPLES[0].body
    assert b'data:{"index":1,"token":{"id":22557,"text":" Hello"' in tgi
    vllm = next(s for s in SAMPLES if s.name == "vllm-chat").body
    assert vllm.endswith(b"data: [DONE]\n\n")


# ------------------------------------------------------------------------------------- text


@pytest.mark.parametrize("text", ["café", "深度学习", "🚀🎉", "aé深🚀z"])
def test_text_decoder_split_at_every_offset(text: str) -> None:
    data = text.encode()
    for i in range(len(data) + 1):
        dec = TextDecoder()
        out = dec.feed(data[:i]) + dec.feed(data[i:]) + dec.close()
        assert "".join(out) == text
    assert "".join(run(TextDecoder(), one_byte(data))) == text


def test_text_decoder_holds_partial_character() -> None:
    dec = TextDecoder()
    assert dec.feed(b"ab\xf0\x9f") == ["ab"]
    assert dec.feed(b"\x9a") == []
    assert dec.feed(b"\x80!") == ["🚀!"]
    assert dec.close() == []


def test_text_decoder_incomplete_character_at_end() -> None:
    dec = TextDecoder()
    assert dec.feed(b"x\xe6\xb7") == ["x"]
    with pytest.raises(IncompleteRecordError) as info:
        dec.close()
    assert info.value.leftover == b"\xe6\xb7"
    assert "offset 1" in str(info.value)


def test_text_decoder_invalid_byte_names_offset() -> None:
    dec = TextDecoder()
    dec.feed(b"hello ")
    assert dec.feed(b"w\xffrld") == ["w"]  # the text before the bad byte is not lost
    with pytest.raises(RecordError) as info:
        dec.close()
    assert not isinstance(info.value, IncompleteRecordError)
    assert "offset 7" in str(info.value)


def test_text_decoder_replace_and_other_encoding() -> None:
    assert "".join(run(TextDecoder(errors="replace"), [b"a\xff", b"\xe6"])) == "a\ufffd\ufffd"
    assert "".join(run(TextDecoder("latin-1"), [b"caf\xe9"])) == "café"
    with pytest.raises(ValueError, match="unknown encoding"):
        TextDecoder("no-such-codec")


def test_raw_decoder_passes_parts() -> None:
    assert run(RawDecoder(), [b"\x00\x01", b"", b"\xff"]) == [b"\x00\x01", b"\xff"]


# ------------------------------------------------------------------------------------ lines


def test_lines_basic_empty_lines_and_crlf() -> None:
    assert run(LineDecoder(), [b"a\n\nb\r\nc\r\r\n", b"\n"]) == ["a", "", "b", "c\r", ""]


def test_lines_final_line_without_newline_delivered_once() -> None:
    dec = LineDecoder()
    assert dec.feed(b"one\ntwo") == ["one"]
    assert dec.pending == 3
    assert dec.close() == ["two"]
    assert dec.pending == 0
    assert dec.close() == []


def test_json_document_drops_a_bom_of_three_bytes_however_it_is_cut() -> None:
    doc = b"\xef\xbb\xbf12"
    for cut in range(len(doc) + 1):
        assert run(JsonDocumentDecoder(), [doc[:cut], doc[cut:]]) == [12]


def test_lines_lone_cr_is_not_a_line_end() -> None:
    assert run(LineDecoder(), [b"a\rb\n"]) == ["a\rb"]


def test_lines_crlf_split_across_parts() -> None:
    assert run(LineDecoder(), [b"a\r", b"\nb\r", b"\n"]) == ["a", "b"]


def test_lines_keepends_round_trips() -> None:
    data = b"a\r\n\nb\nlast"
    assert "".join(run(LineDecoder(keepends=True), one_byte(data))) == data.decode()


def test_lines_utf8_split_and_errors() -> None:
    data = "深\n🚀\n".encode()
    for i in range(len(data) + 1):
        assert run(LineDecoder(), [data[:i], data[i:]]) == ["深", "🚀"]
    with pytest.raises(RecordError, match=r"line 2 at byte offset 3") as info:
        run(LineDecoder(), [b"ok\n\xff\n"])
    assert not isinstance(info.value, IncompleteRecordError)
    with pytest.raises(IncompleteRecordError) as inc:
        run(LineDecoder(), [b"ok\nabc\xe6\xb7"])
    assert inc.value.leftover == b"abc\xe6\xb7"


def test_line_truncated_character_before_newline_is_invalid_not_incomplete() -> None:
    with pytest.raises(RecordError) as info:
        run(LineDecoder(), [b"abc\xe6\n"])
    assert not isinstance(info.value, IncompleteRecordError)


def test_records_before_an_error_are_not_lost() -> None:
    dec = LineDecoder()
    assert dec.feed(b"good\n\xff\nmore\n") == ["good"]
    with pytest.raises(RecordError):
        dec.feed(b"x\n")
    with pytest.raises(RecordError):
        dec.close()


def test_feed_after_close_is_an_error() -> None:
    dec = LineDecoder()
    dec.close()
    with pytest.raises(RecordError, match="after close"):
        dec.feed(b"a\n")


def test_feed_accepts_bytearray_and_memoryview() -> None:
    dec = LineDecoder()
    assert dec.feed(bytearray(b"a\n")) == ["a"]
    assert dec.feed(memoryview(b"b\n")) == ["b"]


# ------------------------------------------------------------------------------- JSON lines


def test_jsonl_blank_lines_skipped_and_values_of_any_type() -> None:
    data = b'\n{"a":1}\n  \n\r\n[1,2]\n"s"\n3\nnull\n'
    assert run(JsonLinesDecoder(), [data]) == [{"a": 1}, [1, 2], "s", 3, None]


def test_jsonl_values_back_to_back_on_one_line() -> None:
    data = b'{"outputs":["a"]}{"outputs":["b"]} {"outputs":["c"]}\n'
    assert run(JsonLinesDecoder(), one_byte(data)) == [
        {"outputs": ["a"]},
        {"outputs": ["b"]},
        {"outputs": ["c"]},
    ]


def test_jsonl_not_json_names_line_offset_and_preview() -> None:
    dec = JsonLinesDecoder()
    assert dec.feed(b'{"a":1}\ndata:{"token":1}\n') == [{"a": 1}]
    with pytest.raises(RecordError) as info:
        dec.feed(b"")
    msg = str(info.value)
    assert "line 2" in msg
    assert "byte offset 8" in msg
    assert "data:" in msg
    assert not isinstance(info.value, IncompleteRecordError)


def test_jsonl_error_after_good_records_in_same_part() -> None:
    dec = JsonLinesDecoder()
    assert dec.feed(b'{"a":1}\nnope\n') == [{"a": 1}]
    with pytest.raises(RecordError, match="line 2"):
        dec.close()


def test_jsonl_truncated_final_line_is_incomplete() -> None:
    dec = JsonLinesDecoder()
    assert dec.feed(b'{"a":1}\n{"b": [1, 2') == [{"a": 1}]
    with pytest.raises(IncompleteRecordError) as info:
        dec.close()
    assert info.value.leftover == b'{"b": [1, 2'


def test_jsonl_garbage_final_line_is_record_error() -> None:
    with pytest.raises(RecordError) as info:
        run(JsonLinesDecoder(), [b"{} oops"])
    assert not isinstance(info.value, IncompleteRecordError)


def test_jsonl_bom_and_crlf() -> None:
    assert run(JsonLinesDecoder(), [b'\xef\xbb\xbf{"a":1}\r\n{"b":2}\r\n']) == [{"a": 1}, {"b": 2}]


def test_jsonl_deep_nesting_is_a_record_error() -> None:
    with pytest.raises(RecordError):
        run(JsonLinesDecoder(), [b"[" * 100000 + b"]" * 100000 + b"\n"])


# ---------------------------------------------------------------------------- JSON document


def test_json_document_multiline_parsed_at_close() -> None:
    dec = JsonDocumentDecoder()
    assert dec.feed(b'[\n  {"generation": ') == []
    assert dec.feed(b'"hi"}\n]') == []
    assert dec.close() == [[{"generation": "hi"}]]


def test_json_document_empty_body_gives_nothing() -> None:
    assert run(JsonDocumentDecoder(), [b"", b" \n"]) == []


def test_json_document_truncated_and_extra_data() -> None:
    with pytest.raises(IncompleteRecordError) as info:
        run(JsonDocumentDecoder(), [b'[{"a": 1}', b", "])
    assert info.value.leftover == b'[{"a": 1}, '
    with pytest.raises(RecordError, match="extra data") as extra:
        run(JsonDocumentDecoder(), [b'{"a":1}\n{"b":2}\n'])
    assert not isinstance(extra.value, IncompleteRecordError)


def test_json_auto_modes() -> None:
    dec = JsonAutoDecoder()
    assert run(dec, [b'\n{"a":1}\n', b'{"a":2}\n']) == [{"a": 1}, {"a": 2}]
    assert dec.mode == "jsonl"

    dec = JsonAutoDecoder()
    assert run(dec, [b"[\n", b"1,\n2]"]) == [[1, 2]]
    assert dec.mode == "json-document"

    dec = JsonAutoDecoder()
    got = run(dec, [b'data:{"a":1}\n\n'])
    assert got == [SSEEvent('{"a":1}')]
    assert dec.mode == "sse"

    dec = JsonAutoDecoder()
    assert run(dec, [b'{"a":1}']) == [{"a": 1}]
    assert dec.mode == "json-document"

    dec = JsonAutoDecoder()  # values back to back, never a line end: all of them, at the end
    assert run(dec, [b'{"a":1}{"a"', b":2} [3]"]) == [{"a": 1}, {"a": 2}, [3]]
    assert dec.mode == "json-document"

    dec = JsonAutoDecoder()  # a pretty-printed document, then another
    assert run(dec, [b'{\n "a": 1\n}\n{"b": 2}\n']) == [{"a": 1}, {"b": 2}]
    assert dec.mode == "json-document"

    dec = JsonAutoDecoder()
    with pytest.raises(IncompleteRecordError):  # the last of them cut
        run(dec, [b'{"a":1}{"a":'])

    dec = JsonAutoDecoder()
    with pytest.raises(RecordError, match="not JSON"):
        run(dec, [b'{"a":1}garbage'])

    dec = JsonAutoDecoder()
    assert run(dec, [b"\n\n"]) == []
    assert dec.mode == "json-document"  # blank lines only: nothing told it otherwise


def test_json_auto_first_line_limit() -> None:
    dec = JsonAutoDecoder(max_record_bytes=8)
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"x" * 9)


# ------------------------------------------------------------------------------------- SSE


def sse(data: bytes, chunks: int = 0) -> list[SSEEvent]:
    parts = one_byte(data) if chunks == 1 else [data]
    return run(SSEDecoder(), parts)


def test_sse_fields_and_multiline_data() -> None:
    data = b"event: add\nid: 7\nretry: 1500\ndata: line1\ndata:line2\ndata\n\n"
    assert sse(data) == [SSEEvent("line1\nline2\n", "add", "7", 1500)]


def test_sse_strips_exactly_one_space() -> None:
    assert sse(b"data:  two\n\n") == [SSEEvent(" two")]
    assert sse(b"data:\n\n") == [SSEEvent("")]


def test_sse_line_ends_cr_lf_crlf_mixed() -> None:
    data = b"data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\n\n"
    expected = [SSEEvent("a"), SSEEvent("b"), SSEEvent("c"), SSEEvent("d")]
    assert sse(data) == expected
    assert sse(data, chunks=1) == expected
    for i in range(len(data) + 1):
        assert run(SSEDecoder(), [data[:i], b"", data[i:]]) == expected


def test_sse_cr_at_chunk_end_then_lf_is_one_line_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\r") == []
    assert dec.feed(b"") == []
    assert dec.feed(b"\n") == []  # not a blank line
    assert dec.feed(b"data: y\r\n\r\n") == [SSEEvent("x\ny")]


def test_sse_comments_counted_and_ignored() -> None:
    dec = SSEDecoder()
    assert dec.feed(b":\n\n: ping\n\ndata: a\n: inside\n\n") == [SSEEvent("a")]
    assert dec.comments == 3


def test_sse_event_without_data_is_not_dispatched() -> None:
    assert sse(b"event: ping\nid: 3\n\nretry: 10\n\n") == []


def test_sse_id_retry_rules() -> None:
    dec = SSEDecoder()
    got = dec.feed(b"id: 1\ndata: a\n\nid: bad\x00id\nretry: 5s\ndata: b\n\ndata: c\n\n")
    assert got == [SSEEvent("a", id="1"), SSEEvent("b"), SSEEvent("c")]
    assert dec.last_event_id == "1"
    assert dec.retry is None


def test_sse_unknown_fields_ignored_and_bom_stripped() -> None:
    assert sse(b"\xef\xbb\xbfdata: a\nfoo: bar\nDATA: no\n\n") == [SSEEvent("a")]


def test_sse_final_event_without_blank_line_delivered_at_close() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\ndata: b") == [SSEEvent("a")]
    assert dec.close() == [SSEEvent("b")]
    dec = SSEDecoder()
    assert dec.feed(b"data: c\n") == []
    assert dec.close() == [SSEEvent("c")]


def test_sse_incomplete_utf8_at_end() -> None:
    with pytest.raises(IncompleteRecordError) as info:
        run(SSEDecoder(), [b"data: caf\xc3"])
    assert info.value.leftover == b"data: caf\xc3"


def test_sse_done_sentinel() -> None:
    dec = SSEDecoder()
    events = run(dec, [b'data: {"a":1}\n\ndata: [DONE]\n\n'])
    assert [e.is_done for e in events] == [False, True]
    assert dec.done
    assert extract_text(events[1]) is None
    assert find_error(events[1]) is None


def test_sse_event_json_helper() -> None:
    assert SSEEvent('{"a": [1]}').json() == {"a": [1]}
    with pytest.raises(RecordError, match="not JSON"):
        SSEEvent("[DONE]").json()


def test_sse_many_events_in_one_part() -> None:
    data = b"".join(b"data:%d\n\n" % i for i in range(1000))
    assert [e.data for e in sse(data)] == [str(i) for i in range(1000)]


# ----------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "factory",
    [LineDecoder, JsonLinesDecoder, SSEDecoder, JsonDocumentDecoder, JsonAutoDecoder],
    ids=lambda f: f.__name__,
)
def test_limit_unterminated_record(factory: Any) -> None:
    dec = factory(max_record_bytes=16)
    dec.feed(b"x" * 10)
    with pytest.raises(RecordTooLargeError) as info:
        dec.feed(b"y" * 7)
    assert info.value.limit == 16
    assert "16" in str(info.value)
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"\n")


@pytest.mark.parametrize("factory", [LineDecoder, JsonLinesDecoder, SSEDecoder])
def test_limit_is_the_same_whatever_the_chunking(factory: Any) -> None:
    ok = b"1" * 16 + b"\n"
    too_big = b"1" * 17 + b"\n"
    assert run(factory(max_record_bytes=16), one_byte(ok)) == run(
        factory(max_record_bytes=16), [ok]
    )
    for parts in ([too_big], one_byte(too_big)):
        with pytest.raises(RecordTooLargeError):
            run(factory(max_record_bytes=16), parts)


def test_limit_counts_pending_bytes_only() -> None:
    dec = LineDecoder(max_record_bytes=8)
    for _ in range(1000):
        assert dec.feed(b"12345678\n") == ["12345678"]
    assert dec.pending == 0


def test_limit_sse_data_accumulated_over_lines() -> None:
    dec = SSEDecoder(max_record_bytes=20)
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"data: 0123456789\ndata: 0123456789\n")


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_record_bytes"):
        LineDecoder(max_record_bytes=0)


def test_one_mebibyte_line_in_one_byte_feeds_is_linear() -> None:
    # a quadratic decoder would copy ~5e11 bytes here and never finish
    size = 1024 * 1024
    dec = LineDecoder(max_record_bytes=size)
    feed = dec.feed
    x = b"x"
    for _ in range(size):
        feed(x)
    assert dec.pending == size
    out = dec.feed(b"\n")
    assert len(out) == 1
    assert len(out[0]) == size


def test_large_document_in_small_feeds() -> None:
    doc = json.dumps([{"generation": "y" * 100}] * 2000).encode()
    dec = JsonDocumentDecoder(max_record_bytes=len(doc))
    for i in range(0, len(doc), 7):
        dec.feed(doc[i : i + 7])
    assert dec.close() == [[{"generation": "y" * 100}] * 2000]


# --------------------------------------------------------------------------- choosing decoders


@pytest.mark.parametrize(
    ("content_type", "fmt", "cls"),
    [
        ("text/event-stream", "sse", SSEDecoder),
        ("text/event-stream; charset=utf-8", "sse", SSEDecoder),
        ("Text/Event-Stream ;charset=UTF-8", "sse", SSEDecoder),
        ("application/jsonlines", "jsonl", JsonLinesDecoder),
        ("application/x-jsonlines", "jsonl", JsonLinesDecoder),
        ("application/jsonl", "jsonl", JsonLinesDecoder),
        ("application/x-ndjson", "jsonl", JsonLinesDecoder),
        ("application/json", "json", JsonAutoDecoder),
        ("application/json; charset=utf-8", "json", JsonAutoDecoder),
        ("application/vnd.custom+json", "json", JsonAutoDecoder),
        ("text/plain", "lines", LineDecoder),
        ("text/csv", "lines", LineDecoder),
        ("application/octet-stream", "lines", LineDecoder),
        ("image/png", "lines", LineDecoder),
        ("", "lines", LineDecoder),
        (None, "lines", LineDecoder),
    ],
)
def test_decoder_for_table(content_type: Any, fmt: str, cls: type) -> None:
    assert format_for(content_type) == fmt
    assert type(decoder_for(content_type)) is cls


def test_decoder_for_default_and_limit() -> None:
    assert format_for(None, default="raw") == "raw"
    assert type(decoder_for("image/png", default="raw")) is RawDecoder
    assert format_for("application/octet-stream", default="ndjson") == "jsonl"
    dec = decoder_for("text/event-stream", max_record_bytes=4)
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"data: 12345")
    with pytest.raises(ValueError, match="unknown record format"):
        format_for(None, default="yaml")


@pytest.mark.parametrize(
    ("fmt", "cls"),
    [
        ("raw", RawDecoder),
        ("text", TextDecoder),
        ("lines", LineDecoder),
        ("jsonl", JsonLinesDecoder),
        ("jsonlines", JsonLinesDecoder),
        ("sse", SSEDecoder),
        ("json", JsonAutoDecoder),
        ("json-document", JsonDocumentDecoder),
        ("JSON_DOCUMENT", JsonDocumentDecoder),
    ],
)
def test_make_decoder(fmt: str, cls: type) -> None:
    assert type(make_decoder(fmt)) is cls
    assert records._canonical(fmt) in records.FORMATS


# ----------------------------------------------------------------------------- extract_text


@pytest.mark.parametrize(
    ("record", "text"),
    [
        ({"token": {"id": 1, "text": " Hi", "logprob": -0.1, "special": False}}, " Hi"),
        (
            {
                "token": {"id": 2, "text": "</s>", "special": True},
                "generated_text": "Hi there",
                "details": {"finish_reason": "eos_token"},
            },
            None,
        ),
        (
            {"token": {"id": 3, "text": " there", "special": False}, "generated_text": "Hi there"},
            " there",
        ),
        ({"token": {"id": 4, "text": "x", "log_prob": -1.0}}, "x"),
        ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Deep"}}]}, "Deep"),
        ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}, None),
        ({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, None),
        ({"choices": [{"index": 0, "delta": {"content": None}}]}, None),
        ({"choices": [], "usage": {"total_tokens": 3}}, None),
        ({"choices": [{"index": 0, "text": " upon"}]}, " upon"),
        ({"choices": [{"index": 0, "message": {"content": "whole"}}]}, "whole"),
        ({"outputs": [" problem"]}, " problem"),
        ({"outputs": []}, None),
        ({"generated_text": "The"}, "The"),
        ([{"generated_text": "a"}, {"generated_text": "b"}], "ab"),
        ([{"generation": {"role": "assistant", "content": "Sure"}}], "Sure"),
        ([{"generation": "plain"}], "plain"),
        ({"details": {"finish_reason": "length"}}, None),
        ({"error": "boom", "error_type": "generation"}, None),
        ("a line", "a line"),
        ("", None),
        (42, None),
        (None, None),
        (b"bytes", None),
        (SSEEvent('{"token":{"text":"t","special":false}}'), "t"),
        (SSEEvent("not json"), "not json"),
        (SSEEvent("[DONE]"), None),
        (SSEEvent('"quoted"'), "quoted"),
    ],
)
def test_extract_text(record: Any, text: Any) -> None:
    assert extract_text(record) == text


# ------------------------------------------------------------------------------- find_error


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        (
            {"error": "Request failed during generation: x", "error_type": "generation"},
            "generation: Request failed",
        ),
        ({"error": "Input validation error"}, "Input validation error"),
        ({"error": "<details>", "code": 424}, "code 424"),
        (
            {
                "error": {
                    "message": "too long",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                }
            },
            "BadRequestError: too long (code 400)",
        ),
        (
            {"object": "error", "message": "bad", "type": "invalid_request_error", "code": 400},
            "bad",
        ),
        ({"code": 424, "type": "ModelError", "message": "worker died"}, "worker died"),
        (
            {
                "token": {"id": -1, "text": "", "log_prob": -1, "special_token": True},
                "generated_text": "",
                "details": {"finish_reason": "error", "generated_tokens": None, "inputs": None},
            },
            "finish_reason=error",
        ),
        (SSEEvent('{"error":"oops","error_type":"generation"}'), "oops"),
        (SSEEvent("something broke", event="error"), "something broke"),
    ],
)
def test_find_error_detects(record: Any, needle: str) -> None:
    found = find_error(record)
    assert found is not None
    assert needle in found


@pytest.mark.parametrize(
    "record",
    [
        {"token": {"text": "x"}},
        {"choices": [{"delta": {"content": "x"}}], "error": None},
        {"code": 200, "message": "fine"},
        {"details": {"finish_reason": "length"}},
        {"error": ""},
        "error",
        [1, 2],
        None,
        SSEEvent("[DONE]"),
        SSEEvent("plain"),
    ],
)
def test_find_error_ignores_normal_records(record: Any) -> None:
    assert find_error(record) is None


def test_container_stream_error_carries_record_and_pickles() -> None:
    parts = [b'data:{"error":"boom","error_type":"generation"}\n\n']
    with pytest.raises(ContainerStreamError) as info:
        list(iter_text(parts, "sse"))
    assert isinstance(info.value.record, SSEEvent)
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


def test_iter_text_formats() -> None:
    assert "".join(iter_text([b"line one\nline", b" two"], "lines")) == "line one\nline two"
    assert "".join(iter_text([b"caf\xc3", b"\xa9"], "raw")) == "café"
    assert "".join(iter_text([b"caf\xc3", b"\xa9"], content_type="text/plain")) == "café"
    assert "".join(iter_text([b'{"outputs":["a"]}\n'], "jsonl")) == "a"
    with pytest.raises(ValueError, match="unknown record format"):
        list(iter_text([], "yaml"))


def test_decoders_count_records() -> None:
    dec = JsonLinesDecoder()
    run(dec, [b"1\n2\n3"])
    assert dec.records == 3


# ------------------------------------------------------------------------------- regressions


def test_sse_scalar_json_data_is_text() -> None:
    parts = [b"data: The answer is\n\n", b"data:  42\n\n", b"data: true\n\n", b"data: null\n\n"]
    parts += [b'data: "quoted"\n\n', b"data: .\n\n"]
    assert list(iter_text(parts, "sse")) == ["The answer is", " 42", "true", "null", "quoted", "."]
    assert extract_text(SSEEvent("1.5")) == "1.5"
    assert find_error(SSEEvent("null")) is None


@pytest.mark.parametrize("depth", [300, 400, 900, 5000])
def test_deep_nesting_never_raises_recursion_error(depth: int) -> None:
    nested = "[" * depth + '"x"' + "]" * depth
    try:
        value = json.loads(nested)
    except RecursionError:
        value = None
    if value is not None:
        assert extract_text(value) in (None, "x")
        assert find_error(value) is None
    deep_error: Any = {"message": "x"}
    for _ in range(depth):
        deep_error = {"error": deep_error}
    found = find_error(deep_error)
    assert found is not None
    assert extract_text(deep_error) is None
    for record in (SSEEvent(nested), SSEEvent(nested, event="error")):
        extract_text(record)
        find_error(record)
    line = ("[" * depth + "]" * depth + "\n").encode()
    try:
        assert list(iter_text([line], "jsonl")) == []
    except RecordError:
        pass  # too deep to parse: reported by the decoder


def test_error_record_fields_of_the_wrong_type_are_left_out() -> None:
    # a "type" that is not a string is no prefix; an "error" that is neither a string nor a
    # non-empty object is no error
    assert find_error({"error": "boom", "type": 5}) == "boom"
    assert find_error({"object": "error", "message": "m", "type": 5}) == "m"
    assert find_error({"error": 5}) is None
    assert find_error({"error": ["x"]}) is None
    assert find_error({"error": {}}) is None


def test_error_object_without_a_message_is_shown_with_sorted_keys() -> None:
    shown = find_error({"error": {"message": "", "z": 1, "a": 2}})
    assert shown == '{"a": 2, "message": "", "z": 1}'


def test_error_record_with_unprintable_details() -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    assert find_error({"error": cyclic}) is not None
    assert find_error({"object": "error", "message": "m", "code": [[[]]]}) == "m"


def test_json_auto_detects_bare_cr_line_ends() -> None:
    dec = JsonAutoDecoder(max_record_bytes=64)
    for _ in range(5):
        assert dec.feed(b'data: {"token":{"text":"x"}}\r\r') == [SSEEvent('{"token":{"text":"x"}}')]
    assert dec.mode == "sse"
    dec = JsonAutoDecoder()
    assert dec.feed(b'\r\n{"a":1}\r') == []  # JSON lines end with \n (or \r\n)
    assert dec.mode == "jsonl"
    assert dec.feed(b'\n{"b":2}\r\n') == [{"a": 1}, {"b": 2}]
    dec = JsonAutoDecoder(max_record_bytes=5)
    with pytest.raises(RecordTooLargeError, match="offset 2"):
        dec.feed(b"\r\n123456\r")


@pytest.mark.parametrize(
    "cls",
    [TextDecoder, LineDecoder, JsonLinesDecoder, SSEDecoder, JsonDocumentDecoder, JsonAutoDecoder],
)
def test_unknown_encoding_rejected_at_construction(cls: Any) -> None:
    with pytest.raises(ValueError, match="unknown encoding"):
        cls(encoding="no-such")
    with pytest.raises(ValueError, match="not a text encoding"):
        cls(encoding="rot13")
    with pytest.raises(ValueError, match="unknown error handler"):
        cls(errors="no-such")
    with pytest.raises(ValueError, match="unknown encoding"):
        make_decoder("json", encoding="no-such")


def test_text_and_error_agree_with_extract_text_and_find_error() -> None:
    from smruntime import records

    cases = [
        records.SSEEvent(data='{"token": {"text": "a"}}'),
        records.SSEEvent(data='{"error": "boom", "error_type": "generation"}'),
        records.SSEEvent(data="[DONE]"),
        records.SSEEvent(data="plain", event="error"),
        records.SSEEvent(data="42"),
        {"choices": [{"delta": {"content": "x"}}]},
        {"object": "error", "message": "m"},
        "text",
        None,
    ]
    for record in cases:
        assert records.text_and_error(record) == (
            records.extract_text(record),
            records.find_error(record),
        ), record


# -- a stream cut inside a record is an error, never text (found by a review) -------------------


def test_a_final_sse_event_whose_json_is_cut_is_incomplete() -> None:
    from smruntime.exceptions import IncompleteRecordError
    from smruntime.records import SSEDecoder, iter_text

    parts = [b'data:{"token":{"text":"Hello"}}\n\n', b'data:{"token":{"text":" wor']
    got: list[str] = []
    with pytest.raises(IncompleteRecordError, match="cut JSON"):
        for text in iter_text(parts, content_type="text/event-stream"):
            got.append(text)
    assert got == ["Hello"]
    for complete in (b"data: {not json}", b"data: hello", b'data: {"a": 1}'):
        decoder = SSEDecoder()  # without its blank line, but not cut JSON: delivered
        decoder.feed(complete)
        assert [e.data for e in decoder.close()] == [complete[6:].decode()]


@pytest.mark.parametrize(
    "cut",
    [b'{"a":"b', b'{"a":tr', b'{"a":nu', b'{"a":1', b'{"a":-', b'{"a":1.', b'{"a":1e', b'{"a":1E+'],
)
def test_a_json_line_cut_anywhere_is_incomplete(cut: bytes) -> None:
    from smruntime.exceptions import IncompleteRecordError
    from smruntime.records import JsonLinesDecoder

    decoder = JsonLinesDecoder()
    decoder.feed(cut)
    with pytest.raises(IncompleteRecordError):
        decoder.close()


@pytest.mark.parametrize("bad", [b'{"a" x}', b'{"a":xyz', b'{"a":1}x', b'{"a":x-', b'{"a":1x.'])
def test_a_json_line_that_more_bytes_cannot_mend_is_a_record_error(bad: bytes) -> None:
    from smruntime.exceptions import IncompleteRecordError, RecordError
    from smruntime.records import JsonLinesDecoder

    decoder = JsonLinesDecoder()
    decoder.feed(bad)
    with pytest.raises(RecordError) as info:
        decoder.close()
    assert not isinstance(info.value, IncompleteRecordError)


# --------------------------------------------------- iter_text of a body whose type names no format


def _text_auto(parts: Iterable[bytes], max_record_bytes: int = 1 << 20) -> tuple[str, list[Any]]:
    dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=max_record_bytes)
    got = run(dec, parts)
    return dec.mode, [records.extract_text(r) if not isinstance(r, str) else r for r in got]


@pytest.mark.parametrize(
    ("body", "mode", "texts"),
    [
        (b'data: {"token": {"text": "a"}}\n\ndata: [DONE]\n\n', "sse", ["a", None]),
        (b': ping\n\ndata: {"token": {"text": "a"}}\n\n', "sse", ["a"]),
        (b'event: token\ndata: {"token": {"text": "a"}}\n\n', "sse", ["a"]),
        (b'\r\n{"token": {"text": "a"}}\n{"token": {"text": "b"}}\n', "jsonl", ["a", "b"]),
        (b'{"generated_text": "whole"}', "json-document", ["whole"]),
        (b"\n\nHello\nworld", "lines", ["\n", "\n", "Hello\n", "world"]),
        (b" \n\t\r\nHi", "lines", [" \n", "\t\r\n", "Hi"]),
        (b"id: 7\nretry: no\n", "lines", ["id: 7\n", "retry: no\n"]),
        (b"  data: hello\n\nworld\n", "lines", ["  data: hello\n", "\n", "world\n"]),
        (b" :-) nice\nsecond\n", "lines", [" :-) nice\n", "second\n"]),
        (b"\tevent: x\ntext\n", "lines", ["\tevent: x\n", "text\n"]),
        (b'\xef\xbb\xbfdata: {"token": {"text": "a"}}\n\n', "sse", ["a"]),
        (b'  {"token": {"text": "a"}}\n', "jsonl", ["a"]),
        (b"42\nthen text\n", "lines", ["42\n", "then text\n"]),
        (b'"quoted"\n', "lines", ['"quoted"\n']),
        (b"{not json\n", "lines", ["{not json\n"]),
        (b"\n\n", "lines", ["\n", "\n"]),
        (b"  ", "lines", ["  "]),
        (b"", "lines", []),
    ],
)
def test_text_auto_decides_on_the_first_line(body: bytes, mode: str, texts: list[Any]) -> None:
    assert _text_auto([body]) == (mode, texts)
    assert _text_auto(one_byte(body)) == (mode, texts)  # whatever the chunking


def test_text_auto_is_chosen_only_when_the_content_type_names_no_format() -> None:
    for content_type in (None, "", "application/octet-stream", "image/png"):
        dec = records.text_decoder_for("auto", content_type=content_type)
        assert type(dec).__name__ == "_TextAutoDecoder"
    assert type(records.text_decoder_for("auto", content_type="text/plain")) is LineDecoder
    assert type(records.text_decoder_for("lines", content_type=None)) is LineDecoder


def test_text_auto_holds_no_more_blank_lines_than_the_record_limit() -> None:
    body = b"\n" * 20 + b"data: x\n\n"
    for parts in ([body], one_byte(body)):
        mode, texts = _text_auto(parts, max_record_bytes=8)
        assert mode == "lines"  # that many blank lines first: text
        assert "".join(texts) == body.decode()
    dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=8)
    for piece in one_byte(b"\n" * 100):
        dec.feed(piece)
        assert len(dec._seen) <= 9  # type: ignore[attr-defined]


def test_text_auto_first_line_over_the_limit() -> None:
    dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=8)
    dec.feed(b"\n\n1234")
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"56789")


def test_text_auto_hands_out_the_blank_lines_before_a_bad_first_line() -> None:
    dec = records.text_decoder_for("auto", content_type=None)
    assert dec.feed(b"\n\xc3\r\n") == ["\n"]  # the blank line first, then the error
    with pytest.raises(RecordError, match="invalid utf-8 in line 2 at byte offset 1"):
        dec.feed(b"x")


@pytest.mark.parametrize(("blank", "mode"), [(8, "sse"), (9, "lines")])
def test_text_auto_blank_line_bound_is_the_record_limit(blank: int, mode: str) -> None:
    body = b"\n" * blank + b"data:x\n\n"
    for parts in ([body], one_byte(body)):
        dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=8)
        run(dec, parts)
        assert dec.mode == mode


@pytest.mark.parametrize(("blank", "texts"), [(5, []), (6, ["\n"] * 6 + ["\r\n"])])
def test_text_auto_long_first_line_after_many_blank_lines_whatever_the_chunking(
    blank: int, texts: list[str]
) -> None:
    # 7 blank bytes (not over the limit: undecided) or 8 (over it: text), then a line over it
    body = b"\n" * blank + b"\r\ndata:data:"
    for parts in ([body], one_byte(body)):
        dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=7)
        got: list[Any] = []
        with pytest.raises(RecordTooLargeError):
            for piece in parts:
                got += dec.feed(piece)
            dec.close()
        assert got == texts  # text: the blank lines, then the error


def test_text_auto_long_first_line_is_refused_by_the_feed_that_brings_it() -> None:
    dec = records.text_decoder_for("auto", content_type=None, max_record_bytes=7)
    with pytest.raises(RecordTooLargeError):
        dec.feed(b"\n" * 5 + b"\r\ndata:data:")  # 7 blank bytes: not over the limit
