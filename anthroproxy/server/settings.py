"""What the HTTP shell needs to know: where to listen, and its limits (pure).

The composition root (proxy.py) fills it from the proxy's Config; the shell
knows nothing else of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class HTTPSettings:
    host: str
    port: int  # 0: the kernel picks one (Server.ports says which)
    max_body_bytes: int
    max_header_bytes: int
    max_connections: int
    header_timeout: float  # seconds for a whole request head, and for the first one on a connection
    body_timeout: float  # the longest silence while a body arrives
    keepalive_timeout: float  # how long an idle connection waits for its next request
    shutdown_grace: float  # how long requests in flight get to finish when draining
