"""Response body framing, decoded as bytes come (pure: no I/O).

``ChunkedBody`` decodes ``Transfer-Encoding: chunked``, ``LengthBody`` a
``Content-Length`` body or one that runs to the close. ``feed`` takes bytes in
any pieces and returns the payload they complete; ``done`` says the body is
over, and ``rest`` holds what came after it.
"""

from __future__ import annotations

import re

MAX_SIZE_LINE = 1024  # a chunk-size line, extensions included
MAX_TRAILER_BYTES = 64 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class FramingError(ValueError):
    """The body's framing is broken: the connection cannot be trusted."""


class ChunkedBody:
    """The decoder of a chunked body (pure): ``feed`` bytes as they come, get
    the payload back; ``done`` once the last chunk and its trailers are in.
    Bytes after the end are left in ``rest``."""

    __slots__ = ("buffer", "remaining", "state", "rest")
    SIZE, DATA, DATA_END, TRAILERS, DONE = range(5)

    def __init__(self) -> None:
        self.buffer = b""
        self.remaining = 0
        self.state = self.SIZE
        self.rest = b""

    @property
    def done(self) -> bool:
        return self.state == self.DONE

    def feed(self, data: bytes) -> bytes:
        buffer = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        at, end = 0, len(buffer)
        while at < end:
            if self.state == self.DATA:
                take = min(self.remaining, end - at)
                out.append(buffer[at:at + take])
                at += take
                self.remaining -= take
                if self.remaining == 0:
                    self.state = self.DATA_END
            elif self.state == self.DATA_END:
                if end - at < 2:
                    break
                if buffer[at:at + 2] != b"\r\n":
                    raise FramingError("malformed chunked body: no CRLF after a chunk's data")
                at += 2
                self.state = self.SIZE
            elif self.state == self.SIZE:
                line_end = buffer.find(b"\r\n", at)
                if line_end < 0:
                    if end - at > MAX_SIZE_LINE:
                        raise FramingError("malformed chunked body: a chunk-size line is too long")
                    break
                size = buffer[at:line_end].split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size):
                    raise FramingError("malformed chunked body: a chunk size is not hexadecimal")
                at = line_end + 2
                self.remaining = int(size, 16)
                self.state = self.DATA if self.remaining else self.TRAILERS
            elif self.state == self.TRAILERS:  # none (a bare CRLF), or header lines up to an empty one
                if buffer.startswith(b"\r\n", at):
                    at += 2
                else:
                    trailers_end = buffer.find(b"\r\n\r\n", at)
                    if trailers_end < 0:
                        if end - at > MAX_TRAILER_BYTES:
                            raise FramingError("malformed chunked body: trailers too large")
                        break
                    at = trailers_end + 4
                self.state = self.DONE
            else:
                break
        if self.state == self.DONE:
            self.rest, self.buffer = self.rest + buffer[at:], b""
        else:
            self.buffer = buffer[at:] if at < end else b""
        return b"".join(out) if len(out) != 1 else out[0]


class LengthBody:
    """A body of ``Content-Length`` bytes (or, with None, up to the close)."""

    __slots__ = ("remaining", "rest")

    def __init__(self, length: int | None) -> None:
        self.remaining = length
        self.rest = b""

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def feed(self, data: bytes) -> bytes:
        if self.remaining is None:
            return data
        if len(data) > self.remaining:
            data, self.rest = data[:self.remaining], self.rest + data[self.remaining:]
        self.remaining -= len(data)
        return data
