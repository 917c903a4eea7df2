"""Which handler serves a request: a pure table of paths and methods.

The query string plays no part (Claude Code posts to
``/v1/messages?beta=true``). HEAD is answered wherever GET is.
"""

from __future__ import annotations

from ..core.errors import MethodNotAllowed, NotFound

ROUTES: dict[str, dict[str, str]] = {
    "/v1/messages": {"POST": "messages"},
    "/v1/messages/count_tokens": {"POST": "count_tokens"},
    "/v1/models": {"GET": "list_models"},
    "/v1/usage": {"GET": "usage"},
    "/": {"GET": "root"},
    "/api/hello": {"GET": "root"},  # Claude Code's start-up probe of the base URL
    "/health": {"GET": "health"},
    "/metrics": {"GET": "metrics"},
    "/dashboard": {"GET": "dashboard"},
    "/dashboard/events": {"GET": "dashboard_events"},
    "/dashboard/access": {"GET": "dashboard_access"},
}
# Paths that end in a parameter: the handler reads it from the path.
PREFIXES: dict[str, dict[str, str]] = {
    "/v1/models/": {"GET": "get_model"},
    "/v1/sessions/": {"GET": "session"},
    "/dashboard/": {"GET": "dashboard"},  # (its files)
}


def route(method: str, path: str) -> str:
    """The handler name for a request (its path: the server has taken the
    query string off), or NotFound / MethodNotAllowed."""
    methods = ROUTES.get(path) or next(
        (table for prefix, table in PREFIXES.items() if path.startswith(prefix) and len(path) > len(prefix)), None)
    if methods is None:
        raise NotFound(f"no route for {path}")
    handler = methods.get("GET" if method == "HEAD" else method)
    if handler is None:
        allowed = tuple(methods)
        raise MethodNotAllowed(method, path, (*allowed, "HEAD") if "GET" in allowed else allowed)
    return handler
