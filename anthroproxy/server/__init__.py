"""A generic HTTP/1.1 shell on h11 and trio. It takes an application (app.py:
Request, Application, ErrorResponse), knows no route and renders no body of
its own; what it refuses itself it raises as errors.py's HTTPErrors, for the
application to render.

    serve.py        serve_http: listeners, the keep-alive loop, limits, the drain
    connection.py   one h11 connection: reads, writes, the watcher beside a request
    responder.py    what a handler answers through: a body, or a stream of events
    interrupter.py  cutting a request's waits for the upstream, and only those
    state.py        the Server handle, and what the drain works on
    listeners.py    listening sockets (SO_REUSEPORT for workers), batched accepts
    settings.py     where to listen, and the limits
    errors.py       what the shell refuses
"""

from .app import Application, ErrorResponse, Request
from .connection import Timer
from .errors import (
    BadRequest,
    ContentTooLarge,
    HeadersTooLarge,
    HTTPError,
    Overloaded,
    RequestTimeout,
    ShuttingDown,
)
from .interrupter import Interrupter, InterruptScope
from .listeners import reuse_port_sockets
from .responder import Responder
from .serve import serve_http
from .settings import HTTPSettings
from .state import Server

__all__ = [
    "Application", "BadRequest", "ContentTooLarge", "ErrorResponse", "HTTPError", "HTTPSettings", "HeadersTooLarge",
    "InterruptScope", "Interrupter", "Overloaded", "Request", "RequestTimeout", "Responder", "Server", "ShuttingDown",
    "Timer", "reuse_port_sockets", "serve_http",
]
