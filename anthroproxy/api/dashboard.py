"""The live dashboard: its page and files (GET /dashboard, served from the
package, with a Content-Security-Policy that allows only them), the stream of
snapshots it draws from (GET /dashboard/events, one a second), and each Claude
Code session's totals for the status line (GET /v1/sessions/{id}).

A snapshot is made only while someone watches, once a second however many do
(``Board``); a client's key sees its own requests and usage only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from ..config.clients import ClientSpec
from ..core import jsonbytes
from ..core.errors import NotFound, ProxyError, ShuttingDown
from ..observe.live import charts, merge, session_key
from ..state import ClientState
from ..state.fleet import Fleet
from ..upstream.upstreams import Upstreams
from .context import RequestContext

STATIC = Path(__file__).resolve().parents[1] / "static" / "dashboard"
UPLOT = "vendor/uplot-1.6.32"
FILES = {  # path: (file under STATIC, content type)
    "/dashboard": ("index.html", "text/html; charset=utf-8"),
    "/dashboard/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    f"/dashboard/{UPLOT}/uPlot.iife.min.js": (f"{UPLOT}/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    f"/dashboard/{UPLOT}/uPlot.min.css": (f"{UPLOT}/uPlot.min.css", "text/css; charset=utf-8"),
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE_HEADERS = (("content-security-policy", CSP), ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"), ("cache-control", "no-cache"))
MAX_WATCHERS = 32
EVERY_S = 1.0


class TooManyWatchers(ProxyError):
    status = 503
    error_type = "overloaded_error"


@dataclass
class Board:
    """What every open dashboard of this process draws from."""

    fleet: Fleet
    watchers: int = 0
    _second: int = -1
    _shared: dict[str, Any] = field(default_factory=dict)
    _files: dict[str, bytes] = field(default_factory=dict)

    def file(self, path: str) -> tuple[bytes, str] | None:
        found = FILES.get(path)
        if found is None:
            return None
        name, content_type = found
        if name not in self._files:
            self._files[name] = (STATIC / name).read_bytes()
        return self._files[name], content_type

    async def snapshot(self, upstreams: Upstreams, clients: ClientState) -> dict[str, Any]:
        """Everyone's figures, made at most once a second."""
        now = time.time()
        if int(now) != self._second or not self._shared:
            self._second = int(now)  # (first: another watcher meanwhile takes the last second's, if there is one)
            self.fleet.watched()
            merged = merge(await self.fleet.parts(now))
            self._shared = {
                "time": round(now, 3), "processes": merged["processes"], "active_streams": merged["active_streams"],
                "upstreams": upstreams.board(trio.current_time()), **charts(merged), "recent": merged["recent"],
                "clients": await today(clients, now),
            }
        return self._shared


async def today(clients: ClientState, now: float) -> list[dict[str, Any]]:
    """Each configured client's usage today against its limits (every
    instance's with a state backend, else this process's)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    totals: dict[str, dict[str, int]] = {}
    for row in await clients.rows(None):
        if row["date"] == day:
            into = totals.setdefault(str(row["client"]), {})
            for name in ("requests", "input_tokens", "output_tokens", "cache_read_input_tokens",
                         "cache_creation_input_tokens"):
                into[name] = into.get(name, 0) + int(row[name])  # type: ignore[call-overload]
    known = clients.clients.by_name
    names = sorted(set(known) | {name for name in totals if name != "-"})
    return [{"client": name, **totals.get(name, {}), "rpm": getattr(known.get(name), "rpm", None),
             "tpm": getattr(known.get(name), "tpm", None), "daily_tokens": getattr(known.get(name), "daily_tokens",
                                                                                  None)}
            for name in names]


def seen_by(shared: dict[str, Any], client: ClientSpec | None) -> dict[str, Any]:
    """What a client's key may see: its own requests and usage (the
    --auth-token holder, or anyone without keys, sees everything)."""
    if client is None:
        return {**shared, "viewer": None}
    return {**shared, "viewer": client.name,
            "recent": [row for row in shared["recent"] if row["client"] == client.name],
            "clients": [row for row in shared["clients"] if row["client"] == client.name]}


async def page(ctx: RequestContext) -> None:
    """The page and its files: no figures in them, so no key is needed."""
    found = ctx.board.file(ctx.path)
    if found is None:
        raise NotFound(f"no dashboard file at {ctx.path}")
    body, content_type = found
    await ctx.responder.send_body(200, body, content_type, PAGE_HEADERS)


async def access(ctx: RequestContext) -> None:
    """Whether the figures need a key (the page asks for one before it tries)."""
    needed = ctx.config.auth_token is not None or bool(ctx.clients is not None and ctx.clients.clients)
    await ctx.send_json(200, {"key_needed": needed})


async def events(ctx: RequestContext) -> None:
    """A snapshot a second until the client leaves or the server drains."""
    board = ctx.board
    if board.watchers >= MAX_WATCHERS:
        raise TooManyWatchers(f"{MAX_WATCHERS} dashboards are open already; close one and retry")
    board.watchers += 1
    try:
        while True:
            shared = await board.snapshot(ctx.upstreams, ctx.clients)
            await ctx.responder.write(b"event: snapshot\ndata: " + jsonbytes.dump(seen_by(shared, ctx.client))
                                      + b"\n\n")
            try:
                with ctx.guard():
                    await trio.sleep(EVERY_S)
            except ShuttingDown:
                break
        await ctx.responder.end()
    finally:
        board.watchers -= 1


async def session(ctx: RequestContext) -> None:
    """A Claude Code session's totals over the last 24 hours (the status line)."""
    key = ctx.path.removeprefix("/v1/sessions/")
    found = await ctx.board.fleet.session(session_key(ctx.client and ctx.client.name, key), time.time())
    if found is None:
        raise NotFound(f"no requests of session {key[:80]!r} in the last 24 hours")
    await ctx.send_json(200, {"type": "session", "id": key, **found})
