"""Rows for the README's speed table, handed from a benchmark to ``bench/report.py``.

A benchmark calls :func:`readme_row` for each figure the README shows. Run alone, that does
nothing (the benchmark prints its own table); under ``bench/report.py`` (which sets
``SMRUNTIME_BENCH_ROWS`` to a file) each row is appended to that file as one JSON line.
"""

from __future__ import annotations

import json
import os

ENV = "SMRUNTIME_BENCH_ROWS"


def readme_row(what: str, ours: str, peer: str = "", ratio: str = "") -> None:
    """One row: what is measured, smruntime's figure, the peer's (or floor's), their ratio."""
    path = os.environ.get(ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"what": what, "ours": ours, "peer": peer, "ratio": ratio}) + "\n")
