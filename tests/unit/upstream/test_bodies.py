"""Body framing decoders: any split of the bytes gives the same payload."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anthroproxy.upstream.bodies import ChunkedBody, FramingError, LengthBody


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
