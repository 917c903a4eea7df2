"""The local token estimate and the /tokenize forms (translate/tokens.py)."""

from __future__ import annotations

import base64
import struct

import pytest

from anthroproxy.translate.tokens import (
    PER_MESSAGE,
    REPLY_PRIMING,
    chat_tokenize_body,
    estimate_payload,
    estimate_text,
    image_size,
    image_tokens,
    text_tokenize_body,
    tokenized_count,
)


def data_url(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 1920, 1080) + b"\x08\x02\x00\x00\x00"
GIF = b"GIF89a" + struct.pack("<HH", 300, 200) + b"\x00" * 10
# SOI, an APP0 segment to skip, then a baseline start-of-frame: height 600, width 800.
JPEG = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 \
    + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 600, 800) + b"\x03" + b"\x00" * 9
WEBP_VP8X = b"RIFF" + b"\x00" * 4 + b"WEBP" + b"VP8X" + b"\x00" * 8 + (639).to_bytes(3, "little") \
    + (479).to_bytes(3, "little")


@pytest.mark.parametrize(("data", "size"), [(PNG, (1920, 1080)), (GIF, (300, 200)), (JPEG, (800, 600)),
                                            (WEBP_VP8X, (640, 480))])
def test_image_size_comes_from_the_image_header(data, size):
    assert image_size(data_url(data)) == size


ZERO_WIDE = PNG[:16] + struct.pack(">II", 0, 10) + PNG[24:]
JPEG_HEIGHT_LATER = JPEG.replace(struct.pack(">HH", 600, 800), struct.pack(">HH", 0, 800))


@pytest.mark.parametrize("url", ["https://example.com/cat.png", data_url(b"not an image"), "data:image/png;base64,@@",
                                 data_url(ZERO_WIDE), data_url(JPEG_HEIGHT_LATER, "image/jpeg")])
def test_an_image_whose_size_is_unknown_counts_as_1024_square(url):
    assert image_size(url) == (1024, 1024)


@pytest.mark.parametrize(("size", "tokens"), [((1024, 1024), 765), ((2048, 4096), 1105), ((512, 512), 255),
                                              ((100, 100), 255)])
def test_image_tokens_follow_openais_tile_arithmetic(size, tokens):
    assert image_tokens(0, 0) == image_tokens(1, 1)  # never a division by zero
    # The worked examples of OpenAI's vision guide: 1024x1024 is 765 tokens, 2048x4096 is 1105.
    assert image_tokens(*size) == tokens


def test_text_estimates_grow_with_the_text_and_empty_is_zero():
    assert estimate_text("") == 0
    one = estimate_text("The quick brown fox jumps over the lazy dog. ")
    assert 8 <= one <= 14  # o200k: 11
    assert estimate_text("The quick brown fox jumps over the lazy dog. " * 10) >= 9 * one
    assert estimate_text("日本語のテキストです。") > estimate_text("abc")
    assert estimate_text("\ud800 lone surrogate") > 0  # counted, not an error


def payload(*messages, tools=None) -> dict:
    body = {"model": "m", "messages": list(messages)}
    if tools:
        body["tools"] = tools
    return body


def test_a_payload_counts_messages_their_parts_and_tools():
    text = {"role": "user", "content": "hello there"}
    base = estimate_payload(payload(text))
    assert base == REPLY_PRIMING + PER_MESSAGE + estimate_text("user") + estimate_text("hello there")
    image = {"type": "image_url", "image_url": {"url": data_url(PNG)}}
    with_image = payload({"role": "user", "content": [{"type": "text", "text": "hello there"}, image]})
    assert estimate_payload(with_image) == base + image_tokens(1920, 1080)
    tool = {"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}
    assert estimate_payload(payload(text, tools=[tool])) > base
    call = {"role": "assistant", "content": None, "reasoning_content": "think first",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "read", "arguments": "{}"}}]}
    assert estimate_payload(payload(text, call)) > base + PER_MESSAGE + estimate_text("think first")


def test_pdf_pages_are_counted_from_the_document():
    pdf = b"%PDF-1.4 /Type /Pages /Kids [] /Type /Page /Type /Page /Type /Page"
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": data_url(pdf, "application/pdf")}}
    empty = estimate_payload(payload({"role": "user", "content": []}))
    assert estimate_payload(payload({"role": "user", "content": [part]})) == empty + 3000


def test_tokenize_bodies_carry_the_chat_or_its_text():
    tool = {"type": "function", "function": {"name": "read", "parameters": {}}}
    request = payload({"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, tools=[tool])
    assert chat_tokenize_body(request) == {"model": "m", "messages": request["messages"],
                                           "add_generation_prompt": True, "tools": [tool]}
    text = text_tokenize_body(request)["content"]
    assert "be brief" in text and "hi" in text and '"read"' in text


def test_tokenized_counts_vllm_and_llama_cpp_answers():
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    request = payload({"role": "user", "content": [{"type": "text", "text": "hi"}, image]})
    assert tokenized_count({"count": 42, "max_model_len": 8192, "tokens": [1] * 42}, request, chat=True) == 42
    assert tokenized_count({"count": 42}, request, chat=True) == 42
    # llama.cpp tokenizes plain text: the chat format and the image are added as estimates.
    assert tokenized_count({"tokens": [1] * 10}, request, chat=False) == 10 + REPLY_PRIMING + PER_MESSAGE + 765
    for answer in ({"tokens": []}, {}, [], {"count": True}, {"count": "9"}, None):
        assert tokenized_count(answer, request, chat=True) is None
