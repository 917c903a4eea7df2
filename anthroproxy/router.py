"""Which handler serves a request: a pure table of paths and methods.

The query string is ignored (Claude Code posts to ``/v1/messages?beta=true``).
"""

from __future__ import annotations

from .errors import MethodNotAllowed, NotFound

ROUTES: dict[str, dict[str, str]] = {
    "/v1/messages": {"POST": "messages"},
    "/health": {"GET": "health"},
}


def route(method: str, target: str) -> str:
    """The handler name for a request, or NotFound / MethodNotAllowed."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    methods = ROUTES.get(path)
    if methods is None:
        raise NotFound(f"no route for {path}")
    handler = methods.get(method)
    if handler is None:
        raise MethodNotAllowed(method, path, tuple(methods))
    return handler
