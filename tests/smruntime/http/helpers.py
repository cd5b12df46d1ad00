"""Drive a ClientConnection over a response cut into pieces, as a driver would."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from smruntime.http import NEED_DATA, ClientConnection, Data, EndOfMessage, Event, Limits, Response


def connection(method: str = "GET", limits: Limits | None = None) -> ClientConnection:
    """A connection with one request sent."""
    conn = ClientConnection(limits)
    conn.send_request(method, "/", [("Host", "example.com")])
    return conn


def pieces(raw: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``raw`` cut at the given offsets (empty pieces dropped)."""
    bounds = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def events(conn: ClientConnection, chunks: Iterable[bytes], *, eof: bool = True) -> list[Event]:
    """Every event up to EndOfMessage (or until the chunks, then the EOF if ``eof``, run out)."""
    out: list[Event] = []
    feed = list(chunks)
    if eof:
        feed.append(b"")
    for chunk in feed:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            out.append(ev)
            if isinstance(ev, EndOfMessage):
                return out
    return out


def parse(
    raw: bytes,
    cuts: Iterable[int] = (),
    *,
    eof: bool = True,
    method: str = "GET",
    limits: Limits | None = None,
) -> tuple[ClientConnection, list[Event]]:
    """Feed ``raw`` cut at ``cuts``; return the connection and the events."""
    conn = connection(method, limits)
    return conn, events(conn, pieces(raw, cuts), eof=eof)


def summary(evs: Sequence[Event]) -> tuple[Response, bytes, list[tuple[str, str]]]:
    """(the Response, the joined body, the trailers) of a complete event list."""
    assert isinstance(evs[0], Response)
    assert isinstance(evs[-1], EndOfMessage)
    body = b"".join(ev.data for ev in evs if isinstance(ev, Data))
    assert all(isinstance(ev, Data) and ev.data for ev in evs[1:-1])
    return evs[0], body, evs[-1].trailers


def splits(raw: bytes, limit: int = 400) -> Iterator[list[int]]:
    """Cuts to try: every single cut for short inputs, byte-at-a-time, and a few pairs."""
    n = len(raw)
    if n <= limit:
        for i in range(n + 1):
            yield [i]
        yield list(range(1, n))
    step = max(1, n // 40)
    for i in range(0, n, step):
        yield [i, i + step // 2 + 1]
