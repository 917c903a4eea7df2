"""The dashboard's and the status line's figures from every process that
serves: this one alone (``Fleet``), or each worker of ``--workers`` through a
folder the master made (``FolderFleet``).

A worker writes its share (observe/live.py: ``Live.part``) into the folder
once a second, and only while someone watches: the worker serving a dashboard
touches WATCHING each second, and the others look at its time. So nobody
watching costs one ``stat`` a second. Claude Code sessions' totals are written
as they change (one small file per session and worker, at most once a second),
for the status line to add up whichever worker it reaches.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import trio

from ..observe.live import SESSION_LIFE_S, Live
from ..observe.logs import log

WORKERS_DIR = "ANTHROPROXY_WORKERS_DIR"  # set by the master of --workers (process/workers.py)
WATCHING = "watching"
FRESH_S = 3.0  # a share or a watch older than this is gone (its worker stopped, or nobody watches)
SWEEP_EVERY_S = 600.0


class Fleet:
    """One process: its own figures."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def watched(self) -> None:
        """Someone watches the dashboard now (called once a second while so)."""

    def parts(self, now: float) -> list[dict[str, Any]]:
        return [self.live.part(now)]

    def session(self, key: str, now: float) -> dict[str, Any] | None:
        found = self.live.session(key, now)
        return found.figures() if found is not None else None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()


class FolderFleet(Fleet):
    """Every worker of one master, through ``folder``."""

    def __init__(self, live: Live, folder: Path) -> None:
        super().__init__(live)
        self.folder = folder
        self.sessions_folder = folder / "sessions"
        self.sessions_folder.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()

    def watched(self) -> None:
        (self.folder / WATCHING).touch()

    def parts(self, now: float) -> list[dict[str, Any]]:
        found = [self.live.part(now)]
        for path in self.folder.glob("part-*.json"):
            if path.name != f"part-{self.pid}.json":
                share = _read_fresh(path, time.time())
                if share is not None:
                    found.append(share)
        return found

    def session(self, key: str, now: float) -> dict[str, Any] | None:
        shares = [figures for figures in (_read(path) for path in self.sessions_folder.glob(f"{_digest(key)}-*.json")
                                          if not path.name.endswith(f"-{self.pid}.json"))
                  if figures is not None and figures["updated"] >= now - SESSION_LIFE_S]
        own = super().session(key, now)
        if own is not None:
            shares.append(own)
        return add_sessions(shares) if shares else None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        swept = time.time()
        while True:
            await trio.sleep(1.0)
            try:
                self._write_share()
                if time.time() - swept > SWEEP_EVERY_S:
                    swept = time.time()
                    self._sweep(swept)
            except OSError as error:  # (a full disk, a folder removed: the dashboard shows this worker alone)
                log.debug("workers' folder: %s", error)

    def _write_share(self) -> None:
        now = time.time()
        try:
            watched = now - (self.folder / WATCHING).stat().st_mtime < FRESH_S
        except FileNotFoundError:
            watched = False
        if watched:
            _write(self.folder / f"part-{self.pid}.json", self.live.part(now))
        changed, self.live.changed_sessions = self.live.changed_sessions, set()
        for key in changed:
            found = self.live.sessions.get(key)
            if found is not None:
                _write(self.sessions_folder / f"{_digest(key)}-{self.pid}.json", found.figures())

    def _sweep(self, now: float) -> None:
        for path in self.sessions_folder.glob(f"*-{self.pid}.json"):
            if path.stat().st_mtime < now - SESSION_LIFE_S:
                path.unlink(missing_ok=True)


def add_sessions(shares: list[dict[str, Any]]) -> dict[str, Any]:
    """One session's totals from several processes' shares (the newest names its target)."""
    newest = max(shares, key=lambda share: share["updated"])
    total = dict(newest)
    for name in ("requests", "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                 "output_tokens", "failovers"):
        total[name] = sum(share[name] for share in shares)
    return total


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _write(path: Path, data: object) -> None:
    """Whole or not at all: readers never see half a file."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(scratch, path)


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_fresh(path: Path, now: float) -> Any:
    try:
        if now - path.stat().st_mtime > FRESH_S:
            return None
    except OSError:
        return None
    return _read(path)


def fleet_of(environ: dict[str, str] | os._Environ[str]) -> Fleet:
    """A worker of --workers shares through the master's folder; a lone process has only itself."""
    folder = environ.get(WORKERS_DIR)
    return FolderFleet(Live(), Path(folder)) if folder else Fleet(Live())
