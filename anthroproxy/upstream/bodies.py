"""HTTP/1.1 framing for upstream requests (pure: no I/O): the request's head
written, the response's head and body read as bytes come.

``request_head`` writes a request head, refusing any header that could end
it early (a CR or LF smuggled into a value). ``ResponseHead.parse`` reads a
response head from a buffer, informational (1xx) answers skipped. These were
h11's work: writing and parsing a head with it cost about 80 us of a request
on the proxy's first-token path, these a tenth of that (bench/README.md).

``ChunkedBody`` decodes ``Transfer-Encoding: chunked``, ``LengthBody`` a
``Content-Length`` body or one that runs to the close. ``feed`` takes bytes in
any pieces and returns the payload they complete; ``done`` says the body is
over, and ``rest`` holds what came after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_SIZE_LINE = 1024  # a chunk-size line, extensions included
MAX_TRAILER_BYTES = 64 * 1024
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
# RFC 9110: a token (a header's name), a field value (no CR, LF, NUL or other controls; no space at its ends).
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_FIELDS = re.compile(rb"(?:%s: %s\r\n)*" % (_TOKEN.pattern, _VALUE.pattern))
_TARGET = re.compile(rb"[\x21-\x7e\x80-\xff]+")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_HEAD_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")


class FramingError(ValueError):
    """The framing is broken (a head or a body): the connection cannot be trusted."""


def request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HTTP/1.1 request head; FramingError for a target, name or value that is not allowed."""
    if not _TARGET.fullmatch(target):
        raise FramingError(f"illegal request target {target[:100]!r}")
    fields = b"".join([b"%s: %s\r\n" % pair for pair in headers])
    # One match for all (each name a token, each value a field value), and a line for each: no value hides a line.
    if not _FIELDS.fullmatch(fields) or fields.count(b"\n") != len(headers):
        for name, value in headers:
            if not _TOKEN.fullmatch(name):
                raise FramingError(f"illegal header name {name[:100]!r}")
            if not _VALUE.fullmatch(value):
                raise FramingError(f"illegal header value for {name.decode('latin-1')}")
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (method, target, fields)


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    http_version: bytes  # b"1.1", b"1.0"
    headers: list[tuple[bytes, bytes]]  # names in lower case, values without their surrounding spaces

    @classmethod
    def parse(cls, buffer: bytes, limit: int) -> tuple[ResponseHead, int] | None:
        """The first final (not 1xx) response head in ``buffer`` and where it
        ends; None while it is incomplete. FramingError for a malformed head,
        an upgrade, or one longer than ``limit`` bytes."""
        at = 0
        while True:
            end = _HEAD_END.search(buffer, at)
            if end is None:
                if len(buffer) - at > limit:
                    raise FramingError(f"the response head is longer than {limit} bytes")
                return None
            if end.start() - at > limit:
                raise FramingError(f"the response head is longer than {limit} bytes")
            head = cls._parse_head(buffer[at:end.start()])
            at = end.end()
            if head.status >= 200:
                return head, at
            if head.status == 101:
                raise FramingError("the upstream switched protocols, unasked")

    @classmethod
    def _parse_head(cls, data: bytes) -> ResponseHead:
        lines = _LINE_END.split(data[:-1] if data.endswith(b"\r") else data)  # (the head ends "\r\n\r\n")
        status = _STATUS_LINE.fullmatch(lines[0])
        if status is None:
            raise FramingError(f"malformed status line {lines[0][:100]!r}")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):  # (a folded line starts with a space: no token)
                raise FramingError(f"malformed header line {line[:100]!r}")
            value = value.strip(b" \t")
            if not _VALUE.fullmatch(value):
                raise FramingError(f"illegal header value for {name[:100].decode('latin-1')}")
            headers.append((name.lower(), value))
        _check_length(headers)
        return cls(int(status[3]), status[4] or b"", status[1] + b"." + status[2], headers)


def _check_length(headers: list[tuple[bytes, bytes]]) -> None:
    """Content-Length, if given, is one number (repeated, the same one), and the
    only transfer coding is chunked (as h11 checks)."""
    lengths = {value.strip() for name, value in headers if name == b"content-length" for value in value.split(b",")}
    if lengths and (len(lengths) > 1 or not next(iter(lengths)).isdigit() or len(next(iter(lengths))) > 19):
        raise FramingError("malformed Content-Length")
    codings = [value.strip().lower() for name, value in headers if name == b"transfer-encoding"]
    if codings and codings != [b"chunked"]:
        raise FramingError("only the chunked transfer coding is supported")


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
