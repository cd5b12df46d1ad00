"""The ``ssl.SSLContext`` recipe both drivers use (imported when the first HTTPS connection is
made, not at start-up: loading the CA store costs tens of milliseconds)."""

from __future__ import annotations

import os
import ssl

from smruntime.http._config import TLSConfig

__all__ = ["check_tls", "ssl_context"]


def check_tls(tls: TLSConfig) -> None:
    """Fail early (``ValueError``) for a CA bundle path that does not exist."""
    verify = tls.verify
    if isinstance(verify, str) and not os.path.exists(verify):
        raise ValueError(f"CA bundle not found: {verify}")


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """A client context: certificate and host name verification on unless ``verify`` is False;
    HTTP/1.1 offered by ALPN; the client certificate loaded if given (``ValueError`` naming a
    missing file)."""
    verify = tls.verify
    if isinstance(verify, str):
        if os.path.isdir(verify):
            ctx = ssl.create_default_context(capath=verify)
        else:
            ctx = ssl.create_default_context(cafile=verify)
    else:
        ctx = ssl.create_default_context()
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    cert = tls.client_cert
    if cert is not None:
        # Loaded here, on the first TLS connection only: boto3 ignores client_cert for http://.
        files = (cert,) if isinstance(cert, str) else tuple(cert)
        for path in files:
            if not os.path.isfile(path):
                raise ValueError(f"client certificate file not found: {path} (Config.client_cert)")
        ctx.load_cert_chain(*files)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
