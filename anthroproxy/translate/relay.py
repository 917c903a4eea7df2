"""Upstream SSE bytes -> Anthropic SSE bytes: the SSE decoder and JSON parsing
in front of the StreamTranslator (pure). Any chunking of the input gives the
same output. A StreamRelay is what the streaming handler sees of a chat
stream (upstream/protocols/base.py: Relay)."""

from __future__ import annotations

import json

from ..core import sse
from ..core.errors import ProxyError, UpstreamProtocolError
from .stream import StreamTranslator


class StreamRelay:
    """Upstream SSE bytes -> Anthropic SSE bytes.

    ``feed`` and ``finish`` return what to write to the client (possibly b"").
    They never raise for what the upstream sent: a fault sets ``error`` (a
    ProxyError) after returning any output that came before it, so nothing
    already translated is lost. ``done`` turns true at ``data: [DONE]`` or on an
    error; the caller then stops reading. ``finish`` at end of input reports an
    error if the upstream never said it was done (no [DONE], no finish_reason):
    a cut stream is a failure, not a short answer.
    """

    def __init__(self, translator: StreamTranslator) -> None:
        self.translator = translator
        self.done = False
        self.error: ProxyError | None = None
        self._decoder = sse.Decoder()

    @property
    def started(self) -> bool:
        """message_start went out."""
        return self.translator.started

    @property
    def committed(self) -> bool:
        """Content went out: no other candidate may take over this answer."""
        return self.translator.blocks > 0

    @property
    def blocks(self) -> int:
        return self.translator.blocks

    @property
    def stop_reason(self) -> str | None:
        return self.translator.stop_reason

    @property
    def usage(self) -> dict[str, int]:
        return self.translator.usage or {}

    @property
    def usage_estimated(self) -> bool:
        """The usage is the proxy's estimate: the upstream reported none."""
        return bool(self.translator.usage) and not self.translator.usage_reported

    def answered(self) -> None:
        """The upstream's answer began (what was sent is final)."""

    def keepalive(self) -> bytes:
        """A ping, or message_start if nothing went out yet."""
        return self.translator.keepalive()

    def warnings(self) -> list[str]:
        """What went wrong without failing the stream, for the log."""
        dropped = self.translator.dropped_fragments
        return [f"{dropped} tool-call argument fragment(s) arrived after their block had to close"] if dropped else []

    def feed(self, data: bytes) -> bytes:
        if self.done:
            return b""
        out: list[bytes] = []
        try:
            self._events(self._decoder.feed(data), out)
        except sse.SSEError as exc:
            self._fault(UpstreamProtocolError(f"the upstream stream is malformed: {exc}"))
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def finish(self) -> bytes:
        out: list[bytes] = []
        try:
            if not self.done:
                self._events(self._decoder.flush(), out)
            if self.error is None and not self.done and not self.translator.saw_finish:
                raise UpstreamProtocolError("the upstream stream ended before [DONE] or a finish_reason")
            if self.error is None:
                self.translator.finish_into(out)
        except ProxyError as exc:
            self._fault(exc)
        return b"".join(out)

    def fail(self, error: ProxyError) -> bytes:
        return self.translator.fail(error)

    def _fault(self, error: ProxyError) -> None:
        self.error = error
        self.done = True

    def _events(self, events: list[sse.Event], out: list[bytes]) -> None:
        for event in events:
            if event.data == "[DONE]":
                self.done = True
                return
            try:
                chunk = json.loads(event.data)
            except ValueError:
                raise UpstreamProtocolError(
                    f"the upstream sent a stream chunk that is not JSON: {event.data[:200]!r}"
                ) from None
            if event.event == "error" and isinstance(chunk, dict) and not chunk.get("error"):
                chunk = {"error": chunk}
            self.translator.feed_into(chunk, out)
