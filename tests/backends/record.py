"""Record real llama-server streams into tests/data/ as golden transcripts.

    python -m tests.backends.record

Each request is what the proxy sends for an Anthropic request (translate/
request.py); the bytes the server answered are kept as they came, under an
SSE comment saying where they came from. The .expected beside each is what
the proxy makes of it, to be checked by hand (and its meaning written into
MEANING in tests/unit/test_translate_stream.py) before it is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from anthroproxy.config.capabilities import Capabilities
from anthroproxy.translate.request import to_openai
from tests.backends import llamacpp

DATA = Path(__file__).parents[1] / "data"
WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                            "required": ["city"]}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
RECORDINGS = {  # name -> (model, Anthropic request)
    "llamacpp_real_text": ("tiny", {"messages": ASK}),
    "llamacpp_real_tool": ("tiny", {"messages": ASK, "tools": [WEATHER]}),
    "llamacpp_real_reasoning_tool": ("tiny-think", {"messages": ASK, "tools": [WEATHER]}),
}


def record(name: str, server: llamacpp.RunningServer, request: dict) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 300, "stream": True, **request}
    payload = to_openai(body, server.model, Capabilities()).payload
    with httpx.stream("POST", server.url + "/chat/completions", json=payload, timeout=60) as response:
        response.raise_for_status()
        answer = response.read()
    note = (f": recorded from llama.cpp's llama-server at commit {llamacpp.COMMIT} (llama-cpp-python "
            f"{llamacpp.LLAMA_CPP_PYTHON}'s sdist), serving tests/backends/tiny_model.py; by tests/backends/record.py"
            "\n\n").encode()
    (DATA / f"{name}.sse").write_bytes(note + answer)
    print(f"{name}: {len(answer)} bytes", file=sys.stderr)


def main() -> None:
    servers = {"tiny": llamacpp.start("tiny"),
               "tiny-think": llamacpp.start("tiny-think", extra=("--reasoning-format", "deepseek"))}
    try:
        for name, (model, request) in RECORDINGS.items():
            record(name, servers[model], request)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    main()
