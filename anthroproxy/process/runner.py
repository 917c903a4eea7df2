"""Running the proxy as a process: signals, the start-up log, failure to bind.

Used by the command line (one process) and by each worker of ``--workers``.
It runs the whole proxy, as proxy.py wires it.
"""

from __future__ import annotations

import signal
import sys
from functools import partial
from typing import Callable, Iterable

import trio

from ..config.settings import Config, ConfigError
from ..config.spec import display_url
from ..observe.logs import log
from ..proxy import serve
from ..server import Server

# A lone server: the first SIGINT or SIGTERM drains, a second one stops at once.
LONE = {signal.SIGINT: "drain", signal.SIGTERM: "drain"}
# A worker (workers.py): SIGTERM drains, and a repeated one changes nothing, because a whole process group
# may be signalled (systemd, kill -TERM -PGID) and the master passes the signal on as well; SIGUSR1, sent
# by the master on a second signal, stops at once. SIGINT is the master's alone.
WORKER = {signal.SIGTERM: "drain_once", signal.SIGUSR1: "stop"}


async def run(config: Config, failure: list[OSError | ConfigError], *, signals: dict[int, str] = LONE,
              reuse_port: bool = False, on_started: Callable[[Server, trio.Nursery], None] | None = None) -> None:
    """Serve until a signal has drained the server; a bind error, or a setting
    found wrong as the proxy is put together, lands in ``failure``."""
    # Signals are caught before the port opens, so an early SIGTERM still drains.
    with trio.open_signal_receiver(*signals) as received:
        async with trio.open_nursery() as nursery:
            try:
                server: Server = await nursery.start(partial(serve, config, reuse_port=reuse_port))
            except (OSError, ConfigError) as exc:
                failure.append(exc)
                return
            if on_started is None:
                log_startup(config, server.ports)
            else:
                on_started(server, nursery)
            nursery.start_soon(stop_on_signals, received, signals, server, nursery.cancel_scope)
            await server.closed.wait()
            nursery.cancel_scope.cancel()


async def stop_on_signals(received, meanings: dict[int, str], server: Server, everything: trio.CancelScope) -> None:
    """Drain, or stop at once, as ``meanings`` says for each signal."""
    async for signum in received:
        name, meaning = signal.Signals(signum).name, meanings[signum]
        if meaning == "stop" or (meaning == "drain" and server.shutting_down):
            log.warning("%s%s: stopping now", "second " if meaning == "drain" else "", name)
            everything.cancel()
            return
        if not server.shutting_down:
            log.info("%s received: draining", name)
            server.shutdown()


def log_startup(config: Config, ports: Iterable[int], *, workers: int = 1) -> None:
    host = config.host if ":" not in config.host else f"[{config.host}]"
    ports = ", ".join(str(port) for port in ports)
    log.info("anthroproxy listening on http://%s:%s%s", host, ports, f" ({workers} workers)" if workers > 1 else "")
    log.info("default model %s, mapping %s", config.default_model, str(config.model_mapping) or "(none)")
    for spec in config.upstream_specs().values():
        log.info("upstream %s at %s, %s", spec.name, ", ".join(display_url(url) for url in spec.urls),
                 f"{len(spec.keys)} upstream keys" if len(spec.keys) > 1 else "upstream key configured"
                 if spec.own_credential else "upstream key not set (the client's key is passed through)")


def cannot_start(host: str, port: int, error: OSError | ConfigError) -> int:
    """Say why the proxy cannot start; the exit status for it (2 for a
    setting, as a bad flag is; 1 for a port that cannot be had)."""
    if isinstance(error, ConfigError):
        print(f"anthroproxy: error: {error}", file=sys.stderr)
        return 2
    print(f"anthroproxy: cannot listen on {host}:{port}: {error.strerror or error}", file=sys.stderr)
    return 1
