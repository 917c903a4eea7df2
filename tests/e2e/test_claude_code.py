"""Claude Code itself, run as a user runs it (``claude -p ... --output-format
stream-json``), through the proxy to the scripted fake upstream.

Claude Code is installed from tests/clients/package-lock.json on first use
(tests/node_clients.py); a missing install fails these tests, it never skips them.
"""

from __future__ import annotations

import json

import pytest
import trio

from anthroproxy.testing.fake_upstream import Reply, chunk, reasoning_chunks, text_chunks, tool_call_chunks, usage
from tests.support.node import NodeClients, ensure_installed, run_claude

# Keys a Chat Completions request, message and tool may carry (openai-python types).
REQUEST_KEYS = {"model", "messages", "stream", "stream_options", "max_completion_tokens", "max_tokens", "temperature",
                "top_p", "stop", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort", "user"}
MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "reasoning_content"}
ANTHROPIC_ONLY = ("cache_control", "ephemeral", "defer_loading", "eager_input_streaming", "context_management",
                  "output_config", "clear_thinking", "adaptive", "input_schema", "tool_use", "tool_result")


@pytest.fixture(scope="session")
def clients() -> NodeClients:
    return ensure_installed()


def assert_nothing_anthropic_only(request) -> None:
    body = request.json
    assert set(body) <= REQUEST_KEYS, set(body) - REQUEST_KEYS
    for message in body["messages"]:
        assert set(message) <= MESSAGE_KEYS, message
    for tool in body.get("tools", ()):
        assert tool["type"] == "function" and set(tool["function"]) <= {"name", "description", "parameters"}
    text = json.dumps(body)
    for word in ANTHROPIC_ONLY:
        assert f'"{word}"' not in text, word


async def test_streamed_text_answer_arrives_whole(clients, proxy, fake, tmp_path):
    words = [f"word{i} " for i in range(60)]
    fake.default = lambda request: Reply.stream(text_chunks(words), delay=0.002)
    run = await run_claude(clients, proxy, tmp_path, "Say sixty words.")
    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "".join(words)
    assert run.blocks("assistant") == [{"type": "text", "text": "".join(words)}]
    assert_nothing_anthropic_only(fake.requests[0])


async def test_bash_tool_round_trip(clients, proxy, fake, tmp_path):
    def upstream(request):
        tool_messages = [m for m in request.json["messages"] if m["role"] == "tool"]
        if not tool_messages:  # first turn: ask for Bash, arguments in fragments
            return Reply.stream([chunk({"role": "assistant", "content": None}), chunk({"content": "Computing."}),
                                 *tool_call_chunks(0, "call_6x7", "Bash", ['{"command": "echo $((6', '*7))", ',
                                                                          '"description": "multiply"}']),
                                 chunk({}, "tool_calls"), chunk(usage=usage(200, 30))])
        output = tool_messages[-1]["content"].strip()
        return Reply.stream(text_chunks([f"The shell says {output}."]))

    fake.default = upstream
    run = await run_claude(clients, proxy, tmp_path, "What is 6*7? Use bash.")
    assert run.returncode == 0, run.stderr
    assert run.blocks("assistant") == [
        {"type": "text", "text": "Computing."},
        {"type": "tool_use", "id": "call_6x7", "name": "Bash",
         "input": {"command": "echo $((6*7))", "description": "multiply"}},
        {"type": "text", "text": "The shell says 42."},
    ]
    assert run.blocks("user") == [{"type": "tool_result", "tool_use_id": "call_6x7", "content": "42", "is_error": False}]
    assert run.result["result"] == "The shell says 42."

    first, second = fake.requests[:2]
    assistant = next(m for m in second.json["messages"] if m.get("tool_calls"))
    assert assistant["tool_calls"] == [{"id": "call_6x7", "type": "function", "function": {
        "name": "Bash", "arguments": json.dumps({"command": "echo $((6*7))", "description": "multiply"})}}]
    following = second.json["messages"][second.json["messages"].index(assistant) + 1]
    assert following["role"] == "tool" and following["tool_call_id"] == "call_6x7"
    assert following["content"].strip() == "42"
    for request in (first, second):
        assert_nothing_anthropic_only(request)


async def test_reasoning_shows_up_as_a_thinking_block(clients, proxy, fake, tmp_path):
    fake.default = lambda request: Reply.stream(
        [chunk({"role": "assistant", "content": None}), *reasoning_chunks(["The user greets; ", "greet back."]),
         *text_chunks(["Hello there."])[1:]])
    run = await run_claude(clients, proxy, tmp_path, "hi")
    assert run.returncode == 0, run.stderr
    thinking = [b for b in run.blocks("assistant") if b["type"] == "thinking"]
    assert [b["thinking"] for b in thinking] == ["The user greets; greet back."]
    assert run.result["result"] == "Hello there."


async def test_upstream_error_is_reported_with_its_message(clients, proxy, fake, tmp_path):
    fake.default = lambda request: Reply.error(429, "Slow down: 3 requests per minute on this key")
    run = await run_claude(clients, proxy, tmp_path, "hi", CLAUDE_CODE_MAX_RETRIES="0")
    assert run.returncode != 0
    assert run.result["is_error"] is True
    assert "Slow down: 3 requests per minute on this key" in run.result["result"]


async def test_start_up_probe_and_model_discovery(clients, nursery, fake, tmp_path, caplog):
    from tests.support.proxy import start_proxy

    proxy = await start_proxy(nursery, fake, model_mapping="claude-sonnet-4-5:gpt-4o,claude-*:mini,gpt-4o:gpt-4o")
    fake.default = lambda request: Reply.stream(text_chunks(["Hi."]))
    run = await run_claude(clients, proxy, tmp_path, "hi", CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY="1",
                           CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=None)
    assert run.returncode == 0, run.stderr
    with trio.fail_after(10):  # (the probe is fire-and-forget: it may end after the run)
        while not (served := {(r.access["method"], r.access["path"]): r.access["status"]
                              for r in caplog.records if getattr(r, "access", None)}).get(("HEAD", "/api/hello")):
            await trio.sleep(0.05)
    assert served[("HEAD", "/api/hello")] == 200
    assert served[("GET", "/v1/models")] == 200
    cache = json.loads((tmp_path / "home" / ".claude" / "cache" / "gateway-models.json").read_text())
    # Claude Code keeps the ids that begin with "claude" (or "anthropic"): gpt-4o is listed but dropped.
    assert cache["models"] == [{"id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5 (gpt-4o)"}]


@pytest.mark.parametrize("keep", [False, True])
async def test_the_attribution_block_is_left_out_unless_kept(clients, nursery, fake, tmp_path, keep):
    from tests.support.proxy import start_proxy

    proxy = await start_proxy(nursery, fake, attribution_block="keep" if keep else "drop")
    fake.default = lambda request: Reply.stream(text_chunks(["Hi."]))
    for prompt in ("hi", "hello there"):  # two conversations
        run = await run_claude(clients, proxy, tmp_path, prompt)
        assert run.returncode == 0, run.stderr
    systems = [r.json["messages"][0]["content"] for r in fake.requests if r.json["messages"][0]["role"] == "system"]
    assert len(systems) >= 2
    sent = ["x-anthropic-billing-header:" in system for system in systems]
    assert all(sent) if keep else not any(sent)
    # Kept, the line differs between the conversations (cc_version=2.1.331.49f, ...be8): each misses the backend's
    # prefix cache. Left out, what remains is the same for both, and the cache can serve it.
    assert len(set(systems)) == (2 if keep else 1), systems


async def test_a_tool_session_whose_upstream_fails_halfway_ends_on_the_fallback(clients, nursery, fake, tmp_path):
    """The primary answers the first turn with a tool call, then is overloaded
    (529): the next turn goes to the fallback, with the whole history, and
    Claude Code never sees the failure."""
    from anthroproxy.config.spec import UpstreamSpec
    from anthroproxy.testing.fake_upstream import FakeUpstream
    from tests.support.proxy import start_proxy

    spare = FakeUpstream()
    await nursery.start(spare.serve)
    proxy = await start_proxy(nursery, fake, model_mapping="claude-*:main-model|spare-model@spare",
                              upstreams=(UpstreamSpec(name="spare", urls=(spare.url,)),))

    def primary(request):
        if any(m["role"] == "tool" for m in request.json["messages"]):
            return Reply.error(529, "Overloaded", "overloaded_error")
        return Reply.stream([chunk({"role": "assistant", "content": None}),
                             *tool_call_chunks(0, "call_6x7", "Bash", ['{"command": "echo $((6*7))", ',
                                                                      '"description": "multiply"}']),
                             chunk({}, "tool_calls")])

    fake.default = primary
    spare.default = lambda request: Reply.stream(text_chunks(
        [f"The shell says {[m for m in request.json['messages'] if m['role'] == 'tool'][-1]['content'].strip()}."]))
    run = await run_claude(clients, proxy, tmp_path, "What is 6*7? Use bash.", CLAUDE_CODE_MAX_RETRIES="0")
    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "The shell says 42." and run.result["is_error"] is False
    assert [b["type"] for b in run.blocks("assistant")] == ["tool_use", "text"]
    assert [r.json["model"] for r in fake.requests] == ["main-model", "main-model"]  # the turn, then the 529
    (fallback,) = spare.requests
    assert fallback.json["model"] == "spare-model"
    assistant = next(m for m in fallback.json["messages"] if m.get("tool_calls"))
    assert assistant["tool_calls"][0]["function"]["arguments"] == json.dumps(
        {"command": "echo $((6*7))", "description": "multiply"})
    assert_nothing_anthropic_only(fallback)


async def test_the_readmes_multi_backend_recipe(clients, nursery, tmp_path):
    """The manual's Claude Code recipe (docs/upstreams.md), as written, with fake upstreams at its three URLs."""

    from anthroproxy import serve
    from anthroproxy.config import load_config
    from anthroproxy.testing.fake_upstream import FakeUpstream
    from tests.support.docs import blocks

    recipe = next(block for block in blocks("toml") if "[upstreams.openrouter]" in block)
    urls = {"deepseek": "https://api.deepseek.com/v1", "ollama": "http://127.0.0.1:11434/v1",
            "openrouter": "https://openrouter.ai/api/v1"}
    fakes = {name: FakeUpstream() for name in urls}
    for name, url in urls.items():
        await nursery.start(fakes[name].serve)
        fakes[name].default = lambda request: Reply.stream(text_chunks(["Hi."]))
        assert url in recipe
        recipe = recipe.replace(url, fakes[name].url)
    (tmp_path / "proxy.toml").write_text(recipe)
    keys = {"DEEPSEEK_API_KEY": "sk-ds", "OPENROUTER_KEY_1": "sk-or-1", "OPENROUTER_KEY_2": "sk-or-2"}
    proxy = await nursery.start(serve, load_config(["--config", str(tmp_path / "proxy.toml"), "--port", "0"], keys, None))

    assert (await run_claude(clients, proxy, tmp_path, "hi")).returncode == 0
    (main,) = fakes["deepseek"].requests  # (deepseek-reasoner when Claude Code turns thinking on)
    assert main.json["model"] in ("deepseek-chat", "deepseek-reasoner") and main.headers["authorization"] == "Bearer sk-ds"
    assert (await run_claude(clients, proxy, tmp_path, "hi", flags=("--model", "claude-haiku-4-5"))).returncode == 0
    (haiku,) = fakes["ollama"].requests
    assert haiku.json["model"] == "qwen3:8b"
    fakes["deepseek"].queue(Reply.error(503, "Service Unavailable"))
    run = await run_claude(clients, proxy, tmp_path, "hi", CLAUDE_CODE_MAX_RETRIES="0")
    assert run.returncode == 0 and run.result["result"] == "Hi."
    (fallback,) = fakes["openrouter"].requests
    assert fallback.json["model"] == fakes["deepseek"].requests[-1].json["model"].replace(
        "deepseek-chat", "deepseek/deepseek-chat-v3.1").replace("deepseek-reasoner", "deepseek/deepseek-r1")
    assert fallback.headers["authorization"] == "Bearer sk-or-1" and fallback.headers["x-title"] == "my-team"
