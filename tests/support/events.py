"""Shared test helpers: parse an Anthropic event stream and check its grammar."""

from __future__ import annotations

import json

from anthroproxy.core.sse import Decoder

BLOCK_DELTAS = {"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}


def parse_events(data: bytes) -> list[tuple[str, dict]]:
    """(event name, payload) pairs; the event name must match the payload's type."""
    decoder = Decoder()
    events = decoder.feed(data) + decoder.flush()
    out = []
    for event in events:
        payload = json.loads(event.data)
        assert event.event == payload["type"], (event.event, payload)
        out.append((event.event, payload))
    return out


def check_grammar(events: list[tuple[str, dict]]) -> None:
    """Assert the Anthropic stream grammar: message_start, ping anywhere, blocks
    one at a time with indexes 0, 1, 2..., deltas matching their block type, then
    message_delta and message_stop — or an error event that ends the stream."""
    names = [name for name, _ in events if name != "ping"]
    assert names and names[0] == "message_start", names
    open_block, expected_index, signed = None, 0, False
    body = [(n, p) for n, p in events if n != "ping"][1:]
    for position, (name, payload) in enumerate(body):
        if name == "error":
            assert position == len(body) - 1, "events after an error"
            return
        if name == "content_block_start":
            assert open_block is None, "a block started while another is open"
            assert payload["index"] == expected_index
            open_block, signed = payload["content_block"]["type"], False
        elif name == "content_block_delta":
            assert open_block is not None and payload["index"] == expected_index
            allowed = {BLOCK_DELTAS.get(open_block)} | ({"signature_delta"} if open_block == "thinking" else set())
            assert payload["delta"]["type"] in allowed, (open_block, payload)
            assert not signed, "a delta after the signature"
            signed = payload["delta"]["type"] == "signature_delta" and isinstance(payload["delta"]["signature"], str)
        elif name == "content_block_stop":
            assert open_block is not None and payload["index"] == expected_index
            assert open_block != "thinking" or signed, "a thinking block closed without its signature_delta"
            open_block, expected_index = None, expected_index + 1
        elif name == "message_delta":
            assert open_block is None, "message_delta with a block open"
            assert payload["delta"]["stop_reason"] is not None
            assert isinstance(payload["usage"]["output_tokens"], int)
            assert [n for n, _ in body[position + 1:]] == ["message_stop"], "message_stop must follow message_delta"
            return
        else:
            raise AssertionError(f"unexpected event {name}")
    raise AssertionError("stream ended without message_stop or error")


def text_of(events: list[tuple[str, dict]]) -> str:
    return "".join(p["delta"]["text"] for n, p in events if n == "content_block_delta" and p["delta"]["type"] == "text_delta")
