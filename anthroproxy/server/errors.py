"""What the HTTP shell refuses on its own, before or around the application.

The shell raises these; the application maps each to the error its clients
expect (the app's ``failed``: api/app.py turns them into Anthropic errors), as
httpcore maps its exceptions at each boundary. ``status`` is the HTTP status a
plain HTTP server would answer with.
"""

from __future__ import annotations


class HTTPError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):
    """A malformed request head, or a body whose framing is broken."""

    status = 400


class RequestTimeout(HTTPError):
    """The head, or a silence in the body, took longer than its timeout."""

    status = 408


class ContentTooLarge(HTTPError):
    status = 413


class HeadersTooLarge(HTTPError):
    status = 431


class Overloaded(HTTPError):
    """The connection limit is reached and no idle connection could make room."""

    status = 503


class ShuttingDown(HTTPError):
    """The drain's grace period is over: what the Interrupter cuts a wait with."""

    status = 503
