"""Benchmark: sign a 1 KiB SageMaker Runtime POST with sigv4.sign vs botocore's SigV4Auth.

Run: python bench/bench_sigv4.py [--number N]

Prints microseconds per signature for our signer with the signing-key cache warm and cold, and
for botocore (a fresh AWSRequest per signature, as botocore does per attempt, and add_auth alone
on a reused request), then the speed ratios. The target is >= 8x botocore (warm cache).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from _rows import readme_row

from sigv4 import Credentials, sign
from sigv4._signer import clear_signing_key_cache

URL = "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/my-endpoint/invocations"
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
}
BODY = b'{"inputs":"' + b"x" * (1024 - 13) + b'"}'
NOW = dt.datetime(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "SESSIONTOKENEXAMPLE"


def best_of(fns: dict[str, Callable[[], Any]], number: int, repeat: int = 7) -> dict[str, float]:
    """Best mean seconds per call of each function over ``repeat`` rounds of ``number`` calls.

    The functions are timed in turn within each round, so background load hits them alike.
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=5000, help="signatures per timing run")
    args = parser.parse_args()
    n = args.number
    creds = Credentials(AKID, SECRET, session_token=TOKEN)
    assert len(BODY) == 1024

    def ours() -> None:
        sign(
            "POST",
            URL,
            HEADERS,
            BODY,
            credentials=creds,
            region="us-east-1",
            service="sagemaker",
            now=NOW,
        )

    tick = [NOW]

    def ours_ticking() -> None:
        # a new second on every call: no X-Amz-Date reuse
        tick[0] += dt.timedelta(seconds=1)
        sign(
            "POST",
            URL,
            HEADERS,
            BODY,
            credentials=creds,
            region="us-east-1",
            service="sagemaker",
            now=tick[0],
        )

    def ours_cold() -> None:
        clear_signing_key_cache()
        ours()

    try:
        from botocore import auth as bauth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as BotoCredentials
    except ImportError:
        t = best_of({"warm": ours, "cold": ours_cold}, n)
        print(f"sigv4.sign  1 KiB POST, key cache warm : {t['warm'] * 1e6:8.2f} us")
        print(f"sigv4.sign  1 KiB POST, key cache cold : {t['cold'] * 1e6:8.2f} us")
        print("botocore not installed: skipping the comparison")
        return

    bcreds = BotoCredentials(AKID, SECRET, TOKEN)
    signer = bauth.SigV4Auth(bcreds, "sagemaker", "us-east-1")

    def boto_fresh() -> None:
        req = AWSRequest(method="POST", url=URL, headers=HEADERS, data=BODY)
        signer.add_auth(req)

    reused = AWSRequest(method="POST", url=URL, headers=HEADERS, data=BODY)

    def boto_reused() -> None:
        signer.add_auth(reused)

    # Check both produce the same signature at the same instant before timing.
    orig_now = bauth.get_current_datetime
    bauth.get_current_datetime = lambda *a, **k: NOW.replace(tzinfo=None)  # type: ignore[assignment]
    try:
        check = AWSRequest(method="POST", url=URL, headers=HEADERS, data=BODY)
        signer.add_auth(check)
        mine = sign(
            "POST",
            URL,
            HEADERS,
            BODY,
            credentials=creds,
            region="us-east-1",
            service="sagemaker",
            now=NOW,
        )
        same = check.headers["Authorization"] == mine.authorization
    finally:
        bauth.get_current_datetime = orig_now  # type: ignore[assignment]
    print(f"same Authorization as botocore         : {same}")

    t = best_of(
        {
            "warm": ours,
            "tick": ours_ticking,
            "cold": ours_cold,
            "fresh": boto_fresh,
            "only": boto_reused,
        },
        n,
    )
    warm, tick_t, cold, fresh, only = t["warm"], t["tick"], t["cold"], t["fresh"], t["only"]
    print(f"sigv4.sign  1 KiB POST, key cache warm : {warm * 1e6:8.2f} us")
    print(f"  same, a new X-Amz-Date every call    : {tick_t * 1e6:8.2f} us")
    print(f"sigv4.sign  1 KiB POST, key cache cold : {cold * 1e6:8.2f} us")
    print(f"botocore SigV4Auth, fresh AWSRequest  : {fresh * 1e6:8.2f} us")
    print(f"botocore SigV4Auth.add_auth only       : {only * 1e6:8.2f} us")
    print(f"ratio (botocore fresh / ours warm)     : {fresh / warm:8.1f}x")
    print(f"ratio (botocore add_auth / ours warm)  : {only / warm:8.1f}x")
    print(f"ratio (botocore fresh / ours new date) : {fresh / tick_t:8.1f}x")
    print(f"ratio (botocore fresh / ours cold)     : {fresh / cold:8.1f}x")
    print(f"ratio (botocore add_auth / ours cold)  : {only / cold:8.1f}x")
    print("target: >= 8x (warm)")
    readme_row(
        "sign a 1 KiB POST (key cache warm)",
        f"{warm * 1e6:.1f} us",
        f"{fresh * 1e6:.0f} us",
        f"{fresh / warm:.1f}x",
    )
    readme_row(
        "  same, a new X-Amz-Date every call",
        f"{tick_t * 1e6:.1f} us",
        "",
        f"{fresh / tick_t:.1f}x",
    )


if __name__ == "__main__":
    main()
