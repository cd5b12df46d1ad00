"""Which of our modules compile regular expressions while the client starts (docs/design.md).

Compiling costs start-up time, so the client's import path defers it: sigv4's canonicalisation
leaves its patterns to ``re``'s cache on first use. The few modules that still compile at import
are listed here, so that a new one is a deliberate choice (and the design notes stay true).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Small patterns, a few microseconds each: the endpoint's region check and the log redaction.
COMPILED_AT_IMPORT = ["smruntime._endpoints", "smruntime._redact"]

SPY = """
import json, re, sys
compiled = []
real = re.compile
def spy(pattern, flags=0):
    compiled.append(sys._getframe(1).f_globals.get("__name__", "?"))
    return real(pattern, flags)
re.compile = spy
import smruntime
smruntime.Client(region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                 aws_access_key_id="AKID", aws_secret_access_key="secret", transport="stdlib")
ours = ("eventstream", "sigv4", "smruntime")
print(json.dumps(sorted({m for m in compiled if m.split(".")[0] in ours})))
"""


def test_only_the_listed_modules_compile_regexes_on_the_client_path() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, "-c", SPY], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == COMPILED_AT_IMPORT
