"""Command line: ``python -m anthroproxy`` or ``anthroproxy``.

Exit status: 0 after a clean shutdown (SIGINT/SIGTERM drain), 2 for a bad
setting (one line naming it, no traceback), 1 when the port cannot be bound.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from typing import Sequence

import trio

from .config import Config, ConfigError, load_config
from .logs import configure_logging, log
from .server.serve import Server, serve


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv, os.environ)
    except ConfigError as exc:
        print(f"anthroproxy: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    raise_open_files_limit()
    failure: list[OSError] = []
    trio.run(run, config, failure)
    if failure:
        print(f"anthroproxy: cannot listen on {config.host}:{config.port}: {failure[0].strerror or failure[0]}",
              file=sys.stderr)
        return 1
    return 0


async def run(config: Config, failure: list[OSError]) -> None:
    # Signals are caught before the port opens, so an early SIGTERM still drains.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            try:
                server: Server = await nursery.start(serve, config)
            except OSError as exc:
                failure.append(exc)
                return
            log_startup(config, server)
            nursery.start_soon(stop_on_signals, signals, server, nursery.cancel_scope)
            await server.closed.wait()
            nursery.cancel_scope.cancel()


async def stop_on_signals(signals, server: Server, everything: trio.CancelScope) -> None:
    """First signal: graceful drain. A second one: stop at once."""
    async for signum in signals:
        if server.shutting_down:
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            everything.cancel()
            return
        log.info("%s received: draining", signal.Signals(signum).name)
        server.shutdown()


def raise_open_files_limit() -> None:
    """Each stream holds two sockets (client and upstream); the usual soft limit
    of 1024 open files would cap the proxy near 500 streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.debug("open files limit raised from %d to %d", soft, hard)


def log_startup(config: Config, server: Server) -> None:
    ports = ", ".join(str(port) for port in server.ports)
    log.info("anthroproxy listening on http://%s:%s", config.host if ":" not in config.host else f"[{config.host}]", ports)
    log.info(
        "upstream %s, default model %s, mapping %s, upstream key %s",
        config.chat_completions_url,
        config.default_model,
        str(config.model_mapping) or "(none)",
        "configured" if config.api_key else "not set (the client's key is passed through)",
    )


if __name__ == "__main__":
    sys.exit(main())
