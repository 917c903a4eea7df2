"""HTTP/1.1 framing: request heads written, response heads read, and bodies decoded (any split of the bytes gives the same payload)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anthroproxy.upstream.bodies import ChunkedBody, FramingError, LengthBody, ResponseHead, request_head


def chunked(pieces: list[bytes], *, extension: bytes = b"", trailers: bytes = b"") -> bytes:
    framed = b"".join(b"%x%b\r\n%b\r\n" % (len(piece), extension, piece) for piece in pieces if piece)
    return framed + b"0\r\n" + trailers + b"\r\n"


def feed_split(decoder, data: bytes, cuts: list[int]) -> bytes:
    out, at = [], 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out.append(decoder.feed(data[at:cut]))
        at = cut
    return b"".join(out)


SSE = [b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n', b"data: [DONE]\n\n"]


@pytest.mark.parametrize("extension", [b"", b";name=value", b" ; x"])
@pytest.mark.parametrize("trailers", [b"", b"x-trailer: 1\r\n"])
def test_every_split_point_gives_the_payload(extension, trailers):
    data = chunked(SSE, extension=extension, trailers=trailers) + b"HTTP/1.1 200 OK\r\n"
    for cut in range(len(data) + 1):
        decoder = ChunkedBody()
        assert feed_split(decoder, data, [cut]) == b"".join(SSE)
        assert decoder.done and decoder.rest == b"HTTP/1.1 200 OK\r\n"


@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(min_value=0, max_value=3000)))
def test_any_chunking_of_any_body(pieces, cuts):
    data = chunked(pieces)
    decoder = ChunkedBody()
    assert feed_split(decoder, data, [c for c in cuts if c <= len(data)]) == b"".join(pieces)
    assert decoder.done and decoder.rest == b""


def test_not_done_until_the_last_chunk_and_its_crlf():
    decoder = ChunkedBody()
    assert decoder.feed(b"5\r\nhello\r\n0\r\n") == b"hello" and not decoder.done
    assert decoder.feed(b"\r\n") == b"" and decoder.done


@pytest.mark.parametrize("data", [b"zz\r\n", b"0x5\r\nhello\r\n", b"-5\r\n", b"+5\r\n", b"5\r\nhelloXX",
                                  b"5" * 2000, b"\r\n"])
def test_broken_framing_is_an_error(data):
    with pytest.raises(FramingError):
        ChunkedBody().feed(data)


def test_a_length_body_ends_at_its_length():
    decoder = LengthBody(5)
    assert decoder.feed(b"hel") == b"hel" and not decoder.done
    assert decoder.feed(b"lo, extra") == b"lo" and decoder.done and decoder.rest == b", extra"
    to_close = LengthBody(None)
    assert to_close.feed(b"anything") == b"anything" and not to_close.done


# ---- heads

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
        b"request-id:  req_1 \r\n\r\n")


def test_a_response_head_any_split_and_what_follows_it():
    data = HEAD + b"5\r\nhello"
    for cut in range(len(HEAD)):
        assert ResponseHead.parse(data[:cut], 1024) is None
    head, end = ResponseHead.parse(data, 1024)
    assert (head.status, head.reason, head.http_version) == (200, b"OK", b"1.1")
    assert head.headers == [(b"content-type", b"text/event-stream"), (b"transfer-encoding", b"chunked"),
                            (b"request-id", b"req_1")]
    assert data[end:] == b"5\r\nhello"


def test_informational_answers_are_skipped_and_bare_lf_lines_read():
    head, end = ResponseHead.parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 \nContent-Length: 3\n\nabc", 1024)
    assert (head.status, head.reason, head.http_version, head.headers) == (404, b"", b"1.0",
                                                                          [(b"content-length", b"3")])


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 OK\r\n\r\n", b"HTTP/2 200\r\n\r\n", b"ICY 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", b"HTTP/1.1 200 OK\r\nbad name: v\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nx: a\r\n folded\r\n\r\n", b"HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
])
def test_a_malformed_head_is_a_framing_error(data):
    with pytest.raises(FramingError):
        ResponseHead.parse(data, 1024)


def test_a_head_longer_than_the_limit_is_a_framing_error_complete_or_not():
    long = b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"p" * 2000 + b"\r\n"
    with pytest.raises(FramingError):
        ResponseHead.parse(long, 1024)
    with pytest.raises(FramingError):
        ResponseHead.parse(long + b"\r\n", 1024)


def test_a_request_head_as_written():
    head = request_head(b"POST", b"/v1/messages?beta=true", [(b"Host", b"api.example.com"), (b"x-api-key", b"k"),
                                                            (b"Content-Length", b"2")])
    assert head == (b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.example.com\r\nx-api-key: k\r\n"
                    b"Content-Length: 2\r\n\r\n")


@pytest.mark.parametrize(("target", "headers"), [
    (b"/ok", [(b"x-a", b"v\r\nInjected: 1")]), (b"/ok", [(b"x-a", b"v\nInjected: 1")]),
    (b"/ok", [(b"bad name", b"v")]), (b"/ok", [(b"x:y", b"v")]), (b"/ok", [(b"x", b" lead")]),
    (b"/ok", [(b"x", b"nul\x00")]), (b"/a b", []), (b"/a\r\nX: y", []),
])
def test_a_request_head_refuses_what_could_end_a_line_early(target, headers):
    with pytest.raises(FramingError):
        request_head(b"POST", target, headers)
