"""``smruntime serve``: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from smruntime.cli._errors import EXIT_OK, PROG, CLIError, UsageError
from smruntime.cli._output import err

SERVE_ENDPOINT = "my-endpoint"


def cmd_serve(args: argparse.Namespace) -> int:
    """``smruntime serve``: run the emulator in the foreground until Ctrl-C."""
    import shlex
    import signal
    import threading

    from sigv4 import Credentials
    from smruntime.emulator import Emulator

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0-65535")
    creds = Credentials(args.access_key_id, args.secret_access_key)
    endpoints = _serve_endpoints(args)
    emu = Emulator(
        endpoints=endpoints, host=args.host, port=args.port, credentials=creds, region=args.region
    )

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def announce() -> None:
        for _ in range(500):
            try:
                url = emu.url
                break
            except RuntimeError:
                time.sleep(0.01)
        else:
            return
        name = (args.endpoint or [SERVE_ENDPOINT])[0]
        body = '{"inputs": "Hello", "parameters": {"max_new_tokens": 20}}'
        err(
            f"{PROG} serve: emulator listening on {url} (region {emu.region}); endpoints: "
            f"{', '.join(sorted(endpoints))}; Ctrl-C to stop"
        )
        # The emulator knows no session token: blank any the user's shell has (the credential
        # chain reads AWS_SECURITY_TOKEN first, then AWS_SESSION_TOKEN; empty means none).
        blank = "AWS_SESSION_TOKEN= " + (
            "AWS_SECURITY_TOKEN= " if os.environ.get("AWS_SECURITY_TOKEN") else ""
        )
        err(
            f"try: AWS_ACCESS_KEY_ID={shlex.quote(args.access_key_id)} "
            f"AWS_SECRET_ACCESS_KEY=<the --secret-access-key above> {blank}"
            f"{PROG} invoke {shlex.quote(name)} --stream --endpoint-url {url} "
            f"--region {shlex.quote(emu.region)} --content-type application/json "
            f"--body {shlex.quote(body)}"
        )

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        # serve_forever binds first, so the URL is known only from inside it: announce it from
        # a short-lived thread that waits for the port.
        threading.Thread(target=announce, name="smruntime-serve-announce", daemon=True).start()
        try:
            emu.serve_forever()
        except KeyboardInterrupt:
            pass  # serve_forever() closes the server on its way out
        except OSError as exc:
            if _listening(emu):
                raise
            host = f"[{args.host}]" if ":" in args.host else args.host
            raise CLIError(f"cannot listen on {host}:{args.port}: {exc.strerror or exc}") from None
        err(f"{PROG} serve: stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _listening(emu: Any) -> bool:
    """Whether the emulator got as far as binding its port."""
    try:
        return int(emu.port) >= 0
    except RuntimeError:
        return False


def _serve_endpoints(args: argparse.Namespace) -> dict[str, Any]:
    from smruntime.emulator import Echo, Tokens

    def model() -> Any:
        if args.model == "echo":
            return Echo(delay=args.delay)
        fmt = "jsonl" if args.model == "tokens-jsonl" else "sse"
        return Tokens(format=fmt, delay=args.delay)

    endpoints: dict[str, Any] = {"echo": Echo(), "tokens": Tokens()}
    for name in args.endpoint or [SERVE_ENDPOINT]:
        endpoints[name] = model()
    return endpoints
