"""The composition root: the one place that knows every part.

    config -> upstreams (pools, protocols, failover state) -> the application
    (api/) -> the HTTP server (server/), which knows only the application.
"""

from __future__ import annotations

import ipaddress
import os

import trio

from .api.app import ProxyApp
from .config.settings import Config
from .observe.logs import log
from .server import HTTPSettings, Server, serve_http
from .state import SharedState
from .state.fleet import fleet_of
from .upstream.upstreams import Upstreams


async def serve(config: Config, *, reuse_port: bool = False,
                task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the proxy until ``Server.shutdown()`` is called (graceful) or the
    caller's scope is cancelled (immediate). Reports a ``Server`` with the
    bound port(s), so ``config.port`` may be 0. With ``reuse_port``, other
    processes may listen on the same port (process/workers.py)."""

    def check(addresses: list[str]) -> None:
        if config.auth_token is None and not all(is_loopback(address) for address in addresses):
            keyed = any(spec.own_credential for spec in config.upstream_specs().values())
            log.warning("listening on %s without --auth-token: anyone who can reach it can use the upstream%s",
                        config.host, " keys" if keyed else "")

    try:
        async with Upstreams(config) as upstreams, trio.open_nursery() as nursery:
            store = SharedState(config.state_url, upstreams) if config.state_url is not None else None
            app = ProxyApp(config, upstreams, fleet=fleet_of(os.environ, store))
            await nursery.start(app.board.fleet.run)
            if store is not None:
                app.clients.store = store
                await nursery.start(store.run)
            await serve_http(http_settings(config), app, reuse_port=reuse_port, on_listening=check,
                             task_status=task_status)
            nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # A port that cannot be had reaches the caller as the OSError itself, not wrapped by the nursery
        # the state backend runs in: the command line names it in one line, and embedders catch OSError.
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], OSError):
            raise group.exceptions[0] from None
        raise


def http_settings(config: Config) -> HTTPSettings:
    """What the HTTP shell takes of the proxy's settings."""
    return HTTPSettings(
        host=config.host, port=config.port, max_body_bytes=config.max_body_bytes,
        max_header_bytes=config.max_header_bytes, max_connections=config.max_connections,
        header_timeout=config.header_timeout, body_timeout=config.body_timeout,
        keepalive_timeout=config.keepalive_timeout, shutdown_grace=config.shutdown_grace,
    )


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback
