"""The one place that knows every part: config -> upstreams -> the application
-> the HTTP server."""

from __future__ import annotations

import trio

from .api.app import ProxyApp
from .config import Config
from .logs import log
from .server.serve import is_loopback, serve_http
from .server.state import Server
from .upstream.upstreams import Upstreams


async def serve(config: Config, *, reuse_port: bool = False,
                task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the proxy until ``Server.shutdown()`` is called (graceful) or the
    caller's scope is cancelled (immediate). Reports a ``Server`` with the
    bound port(s), so ``config.port`` may be 0. With ``reuse_port``, other
    processes may listen on the same port (server/workers.py)."""

    def check(addresses: list[str]) -> None:
        if config.auth_token is None and not all(is_loopback(address) for address in addresses):
            keyed = any(spec.own_credential for spec in config.upstream_specs().values())
            log.warning("listening on %s without --auth-token: anyone who can reach it can use the upstream%s",
                        config.host, " keys" if keyed else "")

    async with Upstreams(config) as upstreams:
        await serve_http(config, ProxyApp(config, upstreams), reuse_port=reuse_port, on_listening=check,
                         task_status=task_status)
