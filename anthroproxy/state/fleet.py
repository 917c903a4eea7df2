"""The dashboard's and the status line's figures from every process that
serves: this one alone (``Fleet``), each worker of ``--workers`` through a
folder the master made (``FolderFleet``), or every instance (and worker) on
one state backend (``StoreFleet``, over one of the others for when the store
is away).

A worker writes its share (observe/live.py: ``Live.part``) into the folder
once a second, and only while someone watches: the worker serving a dashboard
touches WATCHING each second, and the others look at its time. So nobody
watching costs one ``stat`` a second. Claude Code sessions' totals are written
as they change (one small file per session and worker, at most once a second),
for the status line to add up whichever worker it reaches.

On a state backend the same goes through the store (shared.py): the instance
serving a dashboard says so on the store's channel once a second, and while
told so in the last FRESH_S the others write their share into one hash each
second; each session's totals go into a hash per session, one field per
instance. Nobody watching costs the store nothing but the sessions' writes.
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
from .shared import SharedState

WORKERS_DIR = "ANTHROPROXY_WORKERS_DIR"  # set by the master of --workers (process/workers.py)
WATCHING = "watching"
FRESH_S = 3.0  # a share or a watch older than this is gone (its worker stopped, or nobody watches)
SWEEP_EVERY_S = 600.0
FORGET_S = 60.0  # an instance whose share has not changed for this long is taken out of the store's hash
SHARES_PER_CALL = 256  # sessions' totals written by one script call at most
PART_FIELDS = {"at": float, "active_streams": int, "seconds": list, "minutes": list, "recent": list}


class Fleet:
    """One process: its own figures."""

    def __init__(self, live: Live) -> None:
        self.live = live

    def watched(self) -> None:
        """Someone watches the dashboard now (called once a second while so)."""

    async def parts(self, now: float) -> list[dict[str, Any]]:
        return [self.live.part(now)]

    async def session(self, key: str, now: float) -> dict[str, Any] | None:
        return self.own_session(key, now)

    def own_session(self, key: str, now: float) -> dict[str, Any] | None:
        found = self.live.session(key, now)
        return found.figures() if found is not None else None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Share what changed, once a second, until cancelled."""
        task_status.started()
        while True:
            await trio.sleep(1.0)
            changed, self.live.changed_sessions = self.live.changed_sessions, set()
            await self.tick(time.time(), changed)

    async def tick(self, now: float, changed: set[str]) -> None:
        """A second went by; ``changed`` names the sessions that changed in it."""


class FolderFleet(Fleet):
    """Every worker of one master, through ``folder``."""

    def __init__(self, live: Live, folder: Path) -> None:
        super().__init__(live)
        self.folder = folder
        self.sessions_folder = folder / "sessions"
        self.sessions_folder.mkdir(parents=True, exist_ok=True)
        self.pid = os.getpid()
        self.swept = time.time()

    def watched(self) -> None:
        (self.folder / WATCHING).touch()

    async def parts(self, now: float) -> list[dict[str, Any]]:
        found = [self.live.part(now)]
        for path in self.folder.glob("part-*.json"):
            if path.name != f"part-{self.pid}.json":
                share = _read_fresh(path, time.time())
                if share is not None:
                    found.append(share)
        return found

    async def session(self, key: str, now: float) -> dict[str, Any] | None:
        shares = [_read(path) for path in self.sessions_folder.glob(f"{_digest(key)}-*.json")
                  if not path.name.endswith(f"-{self.pid}.json")]
        return with_own(self.own_session(key, now), shares, now)

    async def tick(self, now: float, changed: set[str]) -> None:
        try:
            self._write_share(now, changed)
            if now - self.swept > SWEEP_EVERY_S:
                self.swept = now
                self._sweep(now)
        except OSError as error:  # (a full disk, a folder removed: the dashboard shows this worker alone)
            log.debug("workers' folder: %s", error)

    def _write_share(self, now: float, changed: set[str]) -> None:
        try:
            watched = now - (self.folder / WATCHING).stat().st_mtime < FRESH_S
        except FileNotFoundError:
            watched = False
        if watched:
            _write(self.folder / f"part-{self.pid}.json", self.live.part(now))
        for key in changed:
            found = self.live.sessions.get(key)
            if found is not None:
                _write(self.sessions_folder / f"{_digest(key)}-{self.pid}.json", found.figures())

    def _sweep(self, now: float) -> None:
        for path in self.sessions_folder.glob(f"*-{self.pid}.json"):
            if path.stat().st_mtime < now - SESSION_LIFE_S:
                path.unlink(missing_ok=True)


class StoreFleet(Fleet):
    """Every instance on one state backend; ``local`` (this process, or the
    workers' folder) while the store is away or slow."""

    def __init__(self, local: Fleet, store: SharedState) -> None:
        super().__init__(local.live)
        self.local, self.store = local, store
        self.asked_until = 0.0  # (another instance's dashboard wants this one's share until then)
        self.unsent: set[str] = set()  # (sessions whose totals the store has not had yet)
        # Each instance's share as last read: its "at", and when (here) that changed. Freshness is judged
        # on this clock alone, so instances' clocks need not agree.
        self.seen: dict[str, tuple[float, float]] = {}
        store.watch_listener = self._asked

    def _asked(self, instance: str) -> None:
        self.asked_until = time.time() + FRESH_S

    def watched(self) -> None:
        self.local.watched()  # (read when the store cannot be: the workers' shares are there too, then)
        self.store.watching()

    async def parts(self, now: float) -> list[dict[str, Any]]:
        try:
            shares = await self.store.live_parts()
        except Exception:  # (away, slow, or lost meanwhile, in whichever shape coredis says so: ours alone)
            return await self.local.parts(now)
        found, gone = [self.live.part(now)], []
        for instance, text in shares.items():
            part = _decoded(text)
            if instance == self.store.instance or not _is_part(part):
                continue
            at, changed = self.seen.get(instance, (None, now))
            if part["at"] != at:
                self.seen[instance] = (part["at"], now)
                changed = now
            if now - changed <= FRESH_S:
                found.append(part)
            elif now - changed > FORGET_S:
                gone.append(instance)
        for instance in gone:
            del self.seen[instance]
        self.store.forget_parts(gone)
        return found

    async def session(self, key: str, now: float) -> dict[str, Any] | None:
        try:
            shares = await self.store.session_shares(_digest(key))
        except Exception:  # (as in parts)
            return await self.local.session(key, now)
        own = self.own_session(key, now)
        if own is not None:  # (fresher than what this instance last wrote; else that, if it was let go here)
            shares.pop(self.store.instance, None)
        return with_own(own, [_decoded(share) for share in shares.values()], now)

    async def tick(self, now: float, changed: set[str]) -> None:
        await self.local.tick(now, changed)
        kept = self.live.sessions
        self.unsent = {key for key in (self.unsent | changed if self.unsent else changed) if key in kept}
        asked = now < self.asked_until
        if not (asked or self.unsent) or not self.store.available:
            return
        part = json.dumps(self.live.part(now), separators=(",", ":")) if asked else ""
        waiting = list(self.unsent)
        try:
            for start in range(0, max(len(waiting), 1), SHARES_PER_CALL):
                keys = waiting[start:start + SHARES_PER_CALL]
                await self.store.share_live(part if start == 0 else "", {
                    _digest(key): json.dumps(kept[key].figures(), separators=(",", ":")) for key in keys})
                self.unsent.difference_update(keys)
        except Exception as error:  # (as in parts; what was not sent goes at the next tick)
            log.debug("state backend: the dashboard's figures not shared: %s", error)


def with_own(own: dict[str, Any] | None, shares: list[Any], now: float) -> dict[str, Any] | None:
    """A session's totals: this process's own and the others' shares of the last 24 hours."""
    found = [share for share in shares if share is not None and share["updated"] >= now - SESSION_LIFE_S]
    if own is not None:
        found.append(own)
    return add_sessions(found) if found else None


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


def _is_part(part: Any) -> bool:
    """Whether a stored share has the shape observe/live.py makes (another version's may not)."""
    return isinstance(part, dict) and all(isinstance(part.get(name), kind) for name, kind in PART_FIELDS.items())


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


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


def fleet_of(environ: dict[str, str] | os._Environ[str], store: SharedState | None = None) -> Fleet:
    """Instances on a state backend share through it (and the workers' folder
    while it is away); a worker of --workers shares through the master's
    folder; a lone process has only itself."""
    folder = environ.get(WORKERS_DIR)
    local = FolderFleet(Live(), Path(folder)) if folder else Fleet(Live())
    return StoreFleet(local, store) if store is not None else local
