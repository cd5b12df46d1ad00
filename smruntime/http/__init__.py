"""The wire: HTTP/1.1 protocol rules (pure) and the drivers that run them over sockets."""

from __future__ import annotations
