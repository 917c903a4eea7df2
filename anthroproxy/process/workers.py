"""``--workers N``: N processes serving one port, each a whole trio server.

The master binds the port first (SO_REUSEPORT; port 0 picks one for all) and
holds it, without listening, for as long as it runs, so a restarted worker gets
the same port back. Each worker binds it too, listens, and the kernel spreads
new connections across the listening workers. A worker reports when it
listens; the master logs the address once all have.

SIGINT or SIGTERM to the master: each worker gets SIGTERM and drains as a lone
server does (its requests in flight finish within --shutdown-grace); a second
signal to the master sends SIGUSR1, which stops them at once. A worker drains
on its first SIGTERM and ignores any more, and ignores SIGINT, so signals sent
to the whole process group (Ctrl-C in a terminal, systemd's stop, kill -TERM
-PGID) drain rather than cut the requests in flight. A worker that
exits on its own is replaced, at most once a second per worker; one that exits
before it ever listened (the port is taken) stops them all. A worker whose
master is gone drains and exits.

Metrics: workers count into files under PROMETHEUS_MULTIPROC_DIR, a fresh
directory the master makes and removes (observe/metrics.py).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import signal
import tempfile
from functools import partial
from multiprocessing.connection import Connection as Pipe

import trio
from prometheus_client.multiprocess import mark_process_dead

from ..config.settings import Config, ConfigError
from ..observe.logs import configure_logging, log
from ..observe.metrics import MULTIPROCESS_DIR
from ..server import Server, reuse_port_sockets
from ..state.fleet import WORKERS_DIR
from .runner import WORKER, cannot_start, log_startup, run

RESTART_INTERVAL_S = 1.0
_spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no trio state copied by a fork


def run_workers(config: Config, count: int) -> int:
    """The master: serve ``config`` with ``count`` workers until signalled."""
    try:
        reserved = reuse_port_sockets(config.host, config.port)
    except OSError as exc:
        return cannot_start(config.host, config.port, exc)
    port = reserved[0].getsockname()[1]
    metrics_dir = tempfile.mkdtemp(prefix="anthroproxy-metrics-")
    # Read by the workers when they start: where they count metrics, and share the dashboard's figures.
    shared = {MULTIPROCESS_DIR: metrics_dir, WORKERS_DIR: os.path.join(metrics_dir, "live")}
    before = {name: os.environ.get(name) for name in shared}
    os.environ.update(shared)
    try:
        pool = WorkerPool(dataclasses.replace(config, port=port, workers=1), count, metrics_dir)
        return trio.run(pool.run)
    finally:
        for sock in reserved:
            sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class WorkerPool:
    def __init__(self, config: Config, count: int, metrics_dir: str) -> None:
        self.config = config
        self.count = count
        self.metrics_dir = metrics_dir
        self.processes: dict[int, multiprocessing.Process] = {}
        self.listening: set[int] = set()  # slots whose first worker has listened
        self.all_listening = trio.Event()
        self.stopping = False
        self.failed = False

    async def run(self) -> int:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as outer:
                outer.start_soon(self.forward_signals, signals)
                outer.start_soon(self.announce)
                async with trio.open_nursery() as slots:
                    for slot in range(self.count):
                        slots.start_soon(self.keep, slot)
                outer.cancel_scope.cancel()
        return 1 if self.failed else 0

    async def announce(self) -> None:
        await self.all_listening.wait()
        log_startup(self.config, (self.config.port,), workers=self.count)

    async def keep(self, slot: int) -> None:
        """Keep one worker running until the pool stops."""
        while not self.stopping:
            reader, writer = _spawn.Pipe(duplex=False)
            process = _spawn.Process(target=worker_main, args=(self.config, writer),
                                     name=f"anthroproxy-worker-{slot}")
            born = trio.current_time()
            process.start()
            writer.close()  # the worker holds the only copy: its exit reads as end-of-file
            self.processes[slot] = process
            if await listened(reader):
                self.listening.add(slot)
                if len(self.listening) == self.count:
                    self.all_listening.set()
            elif slot not in self.listening and not self.stopping:
                log.error("worker %d exited before it could listen: stopping", slot)
                self.failed = True
                self.stop()
            reader.close()
            await trio.lowlevel.wait_readable(process.sentinel)
            process.join()
            mark_process_dead(process.pid, self.metrics_dir)
            if self.stopping:
                return
            log.error("worker %d (pid %d) exited with status %s: starting another", slot, process.pid,
                      process.exitcode)
            await trio.sleep_until(born + RESTART_INTERVAL_S)

    async def forward_signals(self, signals) -> None:
        async for signum in signals:
            log.info("%s received: %s %d workers", signal.Signals(signum).name,
                     "stopping" if self.stopping else "draining", self.count)
            self.stop()

    def stop(self) -> None:
        """The first time, SIGTERM to every worker: a drain; after that, SIGUSR1: stop at once."""
        signum = signal.SIGUSR1 if self.stopping else signal.SIGTERM
        self.stopping = True
        for process in self.processes.values():
            if process.exitcode is None:
                os.kill(process.pid, signum)


async def listened(reader: Pipe) -> bool:
    """Whether the worker reported that it listens (rather than exiting first)."""
    await trio.lowlevel.wait_readable(reader.fileno())
    try:
        return reader.recv_bytes() == b"listening"
    except (EOFError, OSError):
        return False


# ---- in the worker process --------------------------------------------------


def worker_main(config: Config, ready: Pipe) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the master turns Ctrl-C into SIGTERM
    configure_logging(config.log_level, config.log_format)
    failure: list[OSError | ConfigError] = []

    def started(server: Server, nursery: trio.Nursery) -> None:
        ready.send_bytes(b"listening")
        ready.close()
        nursery.start_soon(drain_when_orphaned, server)

    trio.run(partial(run, config, failure, signals=WORKER, reuse_port=True, on_started=started))
    if failure:
        raise SystemExit(cannot_start(config.host, config.port, failure[0]))


async def drain_when_orphaned(server: Server) -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    await trio.lowlevel.wait_readable(parent.sentinel)
    log.warning("the master process is gone: draining")
    server.shutdown()
