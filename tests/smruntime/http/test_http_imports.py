"""``import smruntime.http`` stays cheap: only the package's own modules and typing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ALLOWED_OUTSIDE = {"typing", "_typing", "typing.io", "typing.re", "collections.abc", "abc"}


def test_import_pulls_in_nothing_else() -> None:
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import smruntime.http\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print(__import__('json').dumps(new))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    new = json.loads(out.strip().splitlines()[-1])
    assert "smruntime.http._parser" in new
    others = [m for m in new if not m.startswith("smruntime") and m not in ALLOWED_OUTSIDE]
    assert others == []
    assert "smruntime._client" not in new
