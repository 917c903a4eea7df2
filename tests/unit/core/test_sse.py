import pytest

from anthroproxy.core import sse
from anthroproxy.core.sse import Decoder, Event, SSEError

# CRLF, CR and LF framing; a comment; multi-line data; an event name; text with
# Unicode line separators (NOT SSE line breaks) and multi-byte characters.
STREAM = (
    ": OPENROUTER PROCESSING\r\n\r\n"
    'data: {"a": "caf\u00e9 \u2028 \u2029 \u0085 \U0001f600"}\r\n\r\n'
    "event: custom\rdata: line one\rdata: line two\r\r"
    "id: 7\ndata:no-space\n\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    Event(data='{"a": "caf\u00e9 \u2028 \u2029 \u0085 \U0001f600"}'),
    Event(data="line one\nline two", event="custom"),
    Event(data="no-space", id="7"),
    Event(data="[DONE]", id="7"),
]


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[Event]:
    decoder = Decoder()
    events, start = [], 0
    for cut in [*cuts, len(data)]:
        events += decoder.feed(data[start:cut])
        start = cut
    return events + decoder.flush()


def test_whole_stream():
    assert decode_in_pieces(STREAM, []) == EXPECTED


def test_every_split_point_gives_the_same_events():
    for cut in range(len(STREAM) + 1):
        assert decode_in_pieces(STREAM, [cut]) == EXPECTED, cut


def test_every_pair_of_split_points_gives_the_same_events():
    for first in range(0, len(STREAM), 3):
        for second in range(first, len(STREAM), 5):
            assert decode_in_pieces(STREAM, [first, second]) == EXPECTED, (first, second)


def test_byte_by_byte():
    assert decode_in_pieces(STREAM, list(range(1, len(STREAM)))) == EXPECTED


def test_cr_at_end_of_read_then_lf_is_one_line_break():
    decoder = Decoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\n") == []  # the LF of CRLF, not an empty line
    assert decoder.feed(b"\r\n") == [Event(data="x")]


def test_bom_is_stripped_only_at_the_start():
    assert decode_in_pieces(b"\xef\xbb\xbfdata: a\n\n", [1, 2]) == [Event(data="a")]
    assert decode_in_pieces(b"data: a\n\n\xef\xbb\xbfdata: b\n\n", []) == [Event(data="a")]


def test_event_without_blank_line_is_dropped_at_flush_and_empty_data_dispatches_nothing():
    assert decode_in_pieces(b"event: x\n\ndata: unterminated", []) == []


def test_invalid_utf8_is_replaced_not_fatal():
    assert decode_in_pieces(b"data: \xff\xfe\n\n", []) == [Event(data="\ufffd\ufffd")]


def test_oversized_event_is_an_error():
    decoder = Decoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 200)
    decoder = Decoder(max_event_bytes=100)
    with pytest.raises(SSEError):
        for _ in range(30):
            decoder.feed(b"data: xxxxxxx\n")


def test_encode_is_one_named_event_on_one_line():
    encoded = sse.encode("content_block_delta", {"text": "a\nb\r\u2028"})
    assert encoded.startswith(b"event: content_block_delta\ndata: {")
    assert encoded.endswith(b"}\n\n")
    assert encoded.count(b"\n") == 3
    assert decode_in_pieces(encoded, []) == [Event(data='{"text":"a\\nb\\r\u2028"}', event="content_block_delta")]
