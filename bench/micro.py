"""Translation timings, in process: what the proxy's pure core costs per
request and per streamed chunk, without sockets.

    python bench/micro.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from anthroproxy.api.validate import parse_body, validate_request
from anthroproxy.config.capabilities import CapabilityTable
from anthroproxy.observe.logs import AccessRecord
from anthroproxy.observe.metrics import MULTIPROCESS_DIR, Metrics
from anthroproxy.testing.fake_upstream import chunk, sse_frames, text_chunks, tool_call_chunks
from anthroproxy.translate.relay import StreamRelay
from anthroproxy.translate.request import to_openai
from anthroproxy.translate.stream import StreamTranslator
from anthroproxy.translate.tokens import estimate_payload

TOOL_NAMES = ["Bash", "Read", "Write", "Edit", "Glob", "Grep", "Task", "WebFetch", "TodoWrite", "NotebookEdit",
              "mcp__github__create_pull_request", "mcp__linear.app__search_issues"]


def claude_code_request(size: int = 1 << 20) -> bytes:
    """A body shaped like Claude Code's after a long session: system blocks,
    12 tools, and a history of tool calls with large results, about ``size`` bytes."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
              "properties": {f"p{i}": {"type": "string", "description": "a parameter " * 20} for i in range(8)},
              "required": ["p0"]}
    tools = [{"name": name, "description": f"{name}: " + "does things. " * 60, "input_schema": schema}
             for name in TOOL_NAMES]
    body = {
        "model": "claude-opus-5-5", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.331;"},
                   {"type": "text", "text": "You are Claude Code. " * 1500, "cache_control": {"type": "ephemeral"}}],
        "tools": tools, "thinking": {"type": "adaptive"}, "metadata": {"user_id": "u"}, "messages": [],
    }
    output = "line of command output with some text in it\n" * 400
    turn = 0
    while len(json.dumps(body)) < size:
        call_id = f"toolu_{turn:04d}"
        body["messages"] += [
            {"role": "user", "content": [{"type": "text", "text": "<system-reminder>keep going</system-reminder>"},
                                         {"type": "text", "text": f"step {turn}: look at the next file"}]}
            if turn == 0 else
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{turn - 1:04d}",
                                          "content": output, "is_error": False}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should read it. " * 10, "signature": "sig"},
                {"type": "text", "text": "Reading the next file."},
                {"type": "tool_use", "id": call_id, "name": TOOL_NAMES[turn % 12], "input": {"p0": f"file{turn}.py"}}]},
        ]
        turn += 1
    body["messages"].append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{turn - 1:04d}",
                                                          "content": output}]})
    return json.dumps(body).encode()


def median_ms(action, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def per_chunk_us(frames: list[bytes], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        relay = StreamRelay(StreamTranslator(message_id="msg_bench", model="claude"))
        started = time.perf_counter()
        for frame in frames:
            relay.feed(frame)
        relay.finish()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) / len(frames) * 1e6, 2)


def translation_timings() -> dict:
    raw = claude_code_request()
    body = json.loads(raw)
    caps = CapabilityTable().lookup("gpt-5")
    payload = to_openai(body, "gpt-5", caps).payload

    def whole() -> None:
        parsed = parse_body(raw)
        validate_request(parsed)
        json.dumps(to_openai(parsed, "gpt-5", caps).payload, ensure_ascii=False).encode()

    text_frames = sse_frames(text_chunks(["tok "] * 10_000))
    tool_frames = sse_frames([chunk({"role": "assistant"}), *tool_call_chunks(0, "c", "Write", ['"x' * 4] * 2_000),
                              chunk({}, "tool_calls")])
    return {
        "request_bytes": len(raw),
        "request_messages": len(body["messages"]),
        "parse_ms": median_ms(lambda: parse_body(raw)),
        "validate_ms": median_ms(lambda: validate_request(body)),
        "translate_ms": median_ms(lambda: to_openai(body, "gpt-5", caps)),
        "serialize_ms": median_ms(lambda: json.dumps(payload, ensure_ascii=False).encode()),
        "request_total_ms": median_ms(whole),
        "text_stream_us_per_chunk": per_chunk_us(text_frames),
        "tool_stream_us_per_chunk": per_chunk_us(tool_frames),
        "count_tokens_estimate_ms": median_ms(lambda: estimate_payload(to_openai(body, "gpt-5", caps).payload)),
        "metrics_us_per_request": metrics_us_per_request(),
        "metrics_us_per_request_workers": metrics_in_multiprocess_mode(),
    }


def metrics_in_multiprocess_mode() -> float:
    """The same in the mode --workers uses (values in shared files): it is chosen
    when prometheus_client is imported, so it runs in a fresh interpreter."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, "-c", "from micro import metrics_us_per_request as m; print(m())"],
                              cwd=Path(__file__).parent, env={**os.environ, MULTIPROCESS_DIR: folder},
                              capture_output=True, text=True, check=True)
    return float(done.stdout)


def metrics_us_per_request(requests: int = 20_000) -> float:
    """What the metrics cost a finished stream: the active-streams gauge up and
    down, and the record of route, status, tokens, durations."""
    metrics = Metrics()
    access = AccessRecord(method="POST", path="/v1/messages", request_id="req_bench", route="messages",
                          target="gpt-5", stream=True, status=200, first_event_s=0.2,
                          usage={"input_tokens": 1200, "output_tokens": 300, "cache_read_input_tokens": 800})
    started = time.perf_counter()
    for _ in range(requests):
        metrics.active_streams.inc()
        metrics.active_streams.dec()
        metrics.record(access, 1.5)
    return round((time.perf_counter() - started) / requests * 1e6, 1)


if __name__ == "__main__":
    for key, value in translation_timings().items():
        print(f"{key}: {value}")
