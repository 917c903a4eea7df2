"""The proxy's command line run as a user runs it: a real process whose stderr is collected."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import trio

SCRIPT = Path(sys.executable).parent / "anthroproxy"


class CLI:
    """A running ``python -m anthroproxy`` whose stderr is collected."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.stderr = b""
        self.port: int | None = None
        self._listening = trio.Event()

    async def collect(self) -> None:
        async for data in self.process.stderr:
            self.stderr += data
            match = re.search(rb"listening on http://[^:]+:(\d+)", self.stderr)
            if match and not self._listening.is_set():
                self.port = int(match[1])
                self._listening.set()
        self._listening.set()

    @property
    def log(self) -> str:
        return self.stderr.decode()


async def start_cli(nursery, *args: str, cwd: Path | None = None, env: dict | None = None,
                    new_session: bool = False) -> CLI:
    """Start the proxy; ``new_session``: in a process group of its own (as a service manager starts it)."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "anthroproxy", *args], stderr=subprocess.PIPE, cwd=cwd, env={**os.environ, **(env or {})},
        start_new_session=new_session,
    )
    cli = CLI(process)
    nursery.start_soon(cli.collect)
    with trio.fail_after(20):
        await cli._listening.wait()
    if cli.port is None:
        await process.wait()
        raise AssertionError(f"the proxy did not start: {cli.log}")
    return cli


async def stop(cli: CLI) -> int:
    if cli.process.returncode is None:
        cli.process.send_signal(signal.SIGTERM)
    with trio.fail_after(20):
        return await cli.process.wait()


async def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return await trio.run_process(
        [*args], capture_stdout=True, capture_stderr=True, check=False, env={**os.environ, **(env or {})}
    )
