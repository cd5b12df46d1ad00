"""Rows and tables for the README, handed from a benchmark to ``bench/report.py``.

A benchmark calls :func:`readme_row` for each figure of the README's speed table, and
:func:`readme_table` for a table of its own (the wire, AsyncClient and HTTP/2 tables). Run
alone, both do nothing (the benchmark prints its own output); under ``bench/report.py`` (which
sets ``SMRUNTIME_BENCH_ROWS`` to a file) each is appended to that file as one JSON line, and
the report prints them in the README's form.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

ENV = "SMRUNTIME_BENCH_ROWS"


def _append(record: dict[str, object]) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def readme_row(what: str, ours: str, peer: str = "", ratio: str = "") -> None:
    """One row: what is measured, smruntime's figure, the peer's (or floor's), their ratio."""
    _append({"what": what, "ours": ours, "peer": peer, "ratio": ratio})


def readme_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A whole table, printed by the report under ``title`` as it is given."""
    widths = {len(row) for row in rows}
    if widths - {len(header)}:
        raise ValueError(f"table {title!r}: rows of {sorted(widths)} cells, header {len(header)}")
    _append({"table": title, "header": list(header), "rows": [list(row) for row in rows]})
