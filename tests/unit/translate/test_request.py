import json

import pytest

from anthroproxy.config.capabilities import Capabilities, CapabilitiesError, CapabilityTable
from anthroproxy.translate.messages import NO_RESULT
from anthroproxy.translate.request import reasoning_effort, to_openai
from anthroproxy.translate.tools import ToolNames

# Every key a Chat Completions request may carry (openai-python, completion_create_params.py).
OPENAI_REQUEST_KEYS = {
    "model", "messages", "stream", "stream_options", "max_completion_tokens", "max_tokens", "temperature",
    "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
    "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "verbosity",
    "user", "safety_identifier", "prompt_cache_key", "service_tier", "metadata", "store", "modalities",
}
OPENAI_MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content"}


def request(**fields):
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def translate(body, target="m", **caps):
    """The payload, with the target's capabilities from the table (or as given)."""
    capabilities = Capabilities(**caps) if caps else CapabilityTable().lookup(target)
    return to_openai(body, target, capabilities).payload


def test_minimal():
    assert translate(request(), "gpt-4o") == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
    }


def test_system_string_and_blocks_become_one_leading_system_message():
    assert translate(request(system="be brief"))["messages"][0] == {"role": "system", "content": "be brief"}
    blocks = [
        {"type": "text", "text": "attribution", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "You are Claude Code."},
    ]
    messages = translate(request(system=blocks))["messages"]
    assert messages[0] == {"role": "system", "content": "attribution\n\nYou are Claude Code."}
    assert messages[1]["role"] == "user"


def test_empty_system_is_omitted():
    assert translate(request(system=""))["messages"] == [{"role": "user", "content": "hi"}]
    assert translate(request(system=[]))["messages"] == [{"role": "user", "content": "hi"}]


def test_system_role_messages_stay_in_place():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "<reminder>"}, {"type": "text", "text": "question"}]},
        {"role": "system", "content": [{"type": "text", "text": "mid-conversation note", "cache_control": {}}]},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "more"},
    ]
    assert translate(request(system="top", messages=messages))["messages"] == [
        {"role": "system", "content": "top"},
        {"role": "user", "content": "<reminder>\n\nquestion"},
        {"role": "system", "content": "mid-conversation note"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "more"},
    ]


def test_consecutive_same_role_turns_are_merged():
    messages = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The answer is "}, {"type": "text", "text": "42."}]},
        {"role": "assistant", "content": " Really."},
    ]
    assert translate(request(messages=messages))["messages"] == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "The answer is 42. Really."},
    ]


def test_sampling_stop_and_user_fields():
    out = translate(request(temperature=0.2, top_p=0.9, stop_sequences=["END", "###"], metadata={"user_id": "u-1"}))
    assert (out["temperature"], out["top_p"], out["stop"], out["user"]) == (0.2, 0.9, ["END", "###"], "u-1")


def test_nulls_and_empty_lists_are_not_forwarded():
    out = translate(request(temperature=None, stop_sequences=[], metadata={"user_id": None}, tools=[]))
    assert set(out) == {"model", "messages", "max_tokens"}


def test_stream_asks_for_usage():
    out = translate(request(stream=True))
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert "stream" not in translate(request(stream=False))


ANTHROPIC_ONLY = dict(
    top_k=5,
    thinking={"type": "adaptive", "display": "omitted"},
    context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    output_config={"effort": "medium"},
    service_tier="auto",
    container="c-1",
    mcp_servers=[{"type": "url", "name": "x", "url": "https://x"}],
    cache_control={"type": "ephemeral"},
    inference_geo="us",
    speed="fast",
    diagnostics={},
    betas=["x"],
)

CLAUDE_CODE_TOOLS = [
    {"name": "Bash", "description": "Run a command", "cache_control": {"type": "ephemeral"},
     "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                      "properties": {"command": {"type": "string"}}, "required": ["command"],
                      "additionalProperties": False}},
    {"name": "ExitPlanMode", "input_schema": {"type": "object", "properties": {}, "required": None,
                                               "additionalProperties": {}},
     "defer_loading": True, "eager_input_streaming": True, "input_examples": [{}], "strict": True,
     "allowed_callers": ["direct"], "type": "custom"},
]


def test_anthropic_only_fields_never_reach_the_upstream():
    body = request(
        system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}],
        metadata={"user_id": '{"device_id":"d"}'},
        stream=True,
        tools=CLAUDE_CODE_TOOLS,
        **ANTHROPIC_ONLY,
    )
    out = translate(body)
    assert set(out) <= OPENAI_REQUEST_KEYS
    text = repr(out)
    for needle in ("cache_control", "ephemeral", "thinking", "clear_thinking", "effort", "mcp", "top_k", "speed",
                   "defer_loading", "eager_input", "input_examples", "allowed_callers", "strict", "custom"):
        assert needle not in text


def test_input_is_not_mutated():
    body = request(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], tools=CLAUDE_CODE_TOOLS)
    snapshot = repr(body)
    translate(body)
    assert repr(body) == snapshot


# ---- capabilities ------------------------------------------------------------------


@pytest.mark.parametrize("target", ["gpt-5", "gpt-5.1-mini", "o1", "o3-mini", "o4-mini-2025-04-16"])
def test_openai_reasoning_models_get_max_completion_tokens_and_no_sampling_or_stop(target):
    out = translate(request(temperature=0.5, top_p=0.9, stop_sequences=["END"]), target)
    assert out["max_completion_tokens"] == 100
    assert not {"max_tokens", "temperature", "top_p", "stop"} & set(out)


@pytest.mark.parametrize("target", ["gpt-4o", "gpt-4.1-mini", "deepseek-chat", "qwen3:32b", "openai/gpt-5"])
def test_other_models_get_the_classic_fields(target):
    out = translate(request(temperature=0.5, stop_sequences=["END"]), target)
    assert (out["max_tokens"], out["temperature"], out["stop"]) == (100, 0.5, ["END"])
    assert "max_completion_tokens" not in out


def test_every_matching_entry_contributes_and_the_first_wins_a_field():
    table = CapabilityTable.parse('{"qwen3-8b": {"vision": false, "max_output_tokens": 8192}, '
                                  '"qwen3*": {"reasoning_param": "reasoning_effort", "max_output_tokens": 16384}, '
                                  '"gpt-5-chat*": {"token_limit_field": "max_tokens", "sampling": true}, '
                                  '"gpt-5*": {"max_output_tokens": 128000}}')
    assert table.lookup("qwen3:32b") == Capabilities(reasoning_param="reasoning_effort", max_output_tokens=16384)
    assert table.lookup("qwen3-8b") == Capabilities(reasoning_param="reasoning_effort", max_output_tokens=8192,
                                                    vision=False)
    chat = table.lookup("gpt-5-chat-latest")  # built-in gpt-5* fields, two of them overridden
    assert (chat.token_limit_field, chat.sampling, chat.stop, chat.system_role) == ("max_tokens", True, False,
                                                                                   "developer")
    assert table.lookup("gpt-5").token_limit_field == "max_completion_tokens"
    assert table.lookup("gpt-5").max_output_tokens == 128000  # a user entry on top of the built-in one
    assert table.lookup("deepseek-reasoner").reasoning_on_tool_calls is True


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not valid JSON"), ('["x"]', "an object of objects"), ('{"a": {"nope": 1}}', "a: unknown field nope"),
     ('{"a": {"token_limit_field": "max"}}', "a.token_limit_field"), ('{"a": {"stop": "yes"}}', "a.stop")],
)
def test_bad_capability_entries_name_the_problem(text, message):
    with pytest.raises(CapabilitiesError, match=message):
        CapabilityTable.parse(text)


@pytest.mark.parametrize(
    ("fields", "effort"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 31999}}, "high"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}, "low"),
        ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}}, "high"),
        ({"output_config": {"effort": "max"}}, "high"),
        ({"thinking": {"type": "adaptive"}}, None),
        ({}, None),
    ],
)
def test_reasoning_effort_from_budget_or_effort(fields, effort):
    assert reasoning_effort(request(**fields)) == effort
    out = translate(request(**fields), "o3")
    assert out.get("reasoning_effort") == effort
    assert "reasoning_effort" not in translate(request(**fields), "gpt-4o")  # not configured to take it


# ---- tools ---------------------------------------------------------------------------


def test_tools_become_functions():
    out = translate(request(tools=CLAUDE_CODE_TOOLS))
    bash, plan = out["tools"]
    assert bash == {"type": "function", "function": {
        "name": "Bash", "description": "Run a command",
        "parameters": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                       "properties": {"command": {"type": "string"}}, "required": ["command"],
                       "additionalProperties": False}}}
    assert plan == {"type": "function", "function": {
        "name": "ExitPlanMode", "parameters": {"type": "object", "properties": {}, "additionalProperties": {}}}}


def test_nested_required_null_is_omitted():
    tool = {"name": "t", "input_schema": {"type": "object", "properties": {
        "a": {"type": "object", "properties": {}, "required": None}, "b": {"anyOf": [{"required": None}]}}}}
    parameters = translate(request(tools=[tool]))["tools"][0]["function"]["parameters"]
    assert "required" not in parameters["properties"]["a"] and parameters["properties"]["b"] == {"anyOf": [{}]}


SERVER_TOOLS = [
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    {"type": "web_fetch_20250910", "name": "web_fetch"},
    {"type": "code_execution_20250825", "name": "code_execution"},
    {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    {"type": "computer_20250124", "name": "computer", "display_width_px": 1, "display_height_px": 1},
    {"type": "memory_20250818", "name": "memory"},
    {"type": "mcp_toolset", "name": "mcp"},
]


def test_server_tools_are_left_out_and_named():
    translation = to_openai(request(tools=[*SERVER_TOOLS, CLAUDE_CODE_TOOLS[0]], tool_choice={"type": "auto"}), "m")
    assert [t["function"]["name"] for t in translation.payload["tools"]] == ["Bash"]
    assert translation.dropped_tools[0] == "web_search (web_search_20250305)"
    assert len(translation.dropped_tools) == len(SERVER_TOOLS)


def test_only_server_tools_means_no_tools_and_no_tool_choice():
    out = translate(request(tools=SERVER_TOOLS, tool_choice={"type": "any", "disable_parallel_tool_use": True}))
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(out)


@pytest.mark.parametrize(
    ("choice", "fields"),
    [
        ({"type": "auto"}, {"tool_choice": "auto"}),
        ({"type": "any"}, {"tool_choice": "required"}),
        ({"type": "tool", "name": "Bash"}, {"tool_choice": {"type": "function", "function": {"name": "Bash"}}}),
        ({"type": "none"}, {"tool_choice": "none"}),
        ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"tool_choice": "required", "parallel_tool_calls": False}),
        (None, {}),
    ],
)
def test_tool_choice(choice, fields):
    out = translate(request(tools=CLAUDE_CODE_TOOLS[:1], tool_choice=choice))
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == fields
    assert not {"tool_choice", "parallel_tool_calls"} & set(translate(request(tool_choice=choice)))


LONG = "mcp__my-server.example__" + "really_long_tool_name_" * 4


def test_long_or_illegal_tool_names_are_shortened_deterministically_and_mapped_back():
    names = ToolNames()
    short = names.upstream(LONG)
    assert len(short) <= 64 and short.replace("_", "").replace("-", "").isalnum()
    assert ToolNames().upstream(LONG) == short  # the same in every request
    assert names.client(short) == LONG and names.client("Bash") == "Bash"
    assert ToolNames().upstream("a.b") != ToolNames().upstream("a_b")
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": LONG, "input": {}}
    translation = to_openai(request(
        tools=[{"name": LONG, "input_schema": {"type": "object"}}], tool_choice={"type": "tool", "name": LONG},
        messages=[{"role": "user", "content": "go"}, {"role": "assistant", "content": [tool_use]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]}],
    ), "m")
    payload = translation.payload
    assert payload["tools"][0]["function"]["name"] == short
    assert payload["tool_choice"]["function"]["name"] == short
    assert payload["messages"][1]["tool_calls"][0]["function"]["name"] == short
    assert translation.names.client(short) == LONG


# ---- tool calls and results in the history ---------------------------------------------


def tool_use(call_id, name="Bash", **inputs):
    return {"type": "tool_use", "id": call_id, "name": name, "input": inputs}


def tool_result(call_id, content="out", **extra):
    return {"type": "tool_result", "tool_use_id": call_id, "content": content, **extra}


PNG = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}


def test_tool_round_trip():
    messages = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}, tool_use("toolu_a", command="ls"),
                                          tool_use("toolu_b", command="pwd")]},
        {"role": "user", "content": [tool_result("toolu_a", "a.txt"),
                                     tool_result("toolu_b", [{"type": "text", "text": "/home"}, {"type": "text", "text": "x"}]),
                                     {"type": "text", "text": "thanks"}]},
    ]
    assert translate(request(messages=messages))["messages"] == [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "toolu_a", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}},
            {"id": "toolu_b", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "pwd"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_a", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "toolu_b", "content": "/home\n\nx"},
        {"role": "user", "content": "thanks"},
    ]


def test_tool_call_without_text_has_null_content_and_errors_are_visible():
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [tool_use("t1", command="false")]},
        {"role": "user", "content": [tool_result("t1", "exit 1", is_error=True)]},
        {"role": "assistant", "content": [tool_use("t2")]},
        {"role": "user", "content": [tool_result("t2", None, is_error=True)]},
    ]
    out = translate(request(messages=messages))["messages"]
    assert out[1]["content"] is None
    assert out[2] == {"role": "tool", "tool_call_id": "t1", "content": "Error: exit 1"}
    assert out[4]["content"] == "Error: the tool failed without a message."


def test_images_of_a_tool_result_follow_the_tool_messages_then_the_users_text():
    messages = [
        {"role": "user", "content": "screenshot"},
        {"role": "assistant", "content": [tool_use("t1")]},
        {"role": "user", "content": [{"type": "text", "text": "here you go"},
                                     tool_result("t1", [{"type": "text", "text": "took it"}, PNG])]},
    ]
    out = translate(request(messages=messages))["messages"]
    assert out[2] == {"role": "tool", "tool_call_id": "t1",
                      "content": "took it\n\n[1 attachment(s) of this result follow in the next user message]"}
    assert out[3] == {"role": "user", "content": [
        {"type": "text", "text": "here you go"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
    ]}


def test_missing_results_are_filled_and_orphan_results_become_text():
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [tool_use("t1"), tool_use("t2")]},
        {"role": "user", "content": [tool_result("t2", "two"), tool_result("ghost", "boo")]},
        {"role": "assistant", "content": [tool_use("t3")]},  # the conversation ends on an unanswered call
    ]
    out = translate(request(messages=messages))["messages"]
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user", "assistant", "tool"]
    assert out[2] == {"role": "tool", "tool_call_id": "t2", "content": "two"}
    assert out[3] == {"role": "tool", "tool_call_id": "t1", "content": NO_RESULT}
    assert out[4]["content"] == "[result of tool call ghost, which matches no call]\n\nboo"
    assert out[6] == {"role": "tool", "tool_call_id": "t3", "content": NO_RESULT}


def test_system_messages_between_a_call_and_its_result_move_after_the_results():
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [tool_use("t1")]},
        {"role": "system", "content": "reminder"},
        {"role": "user", "content": [tool_result("t1", "done")]},
    ]
    out = translate(request(messages=messages))["messages"]
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "system"]


def test_every_tool_call_is_answered_right_after_its_message_in_any_history():
    """The property upstreams enforce, over a messy history."""
    messages = [
        {"role": "user", "content": [tool_result("early", "?")]},
        {"role": "assistant", "content": [tool_use("a"), tool_use("b")]},
        {"role": "assistant", "content": [{"type": "text", "text": "more"}, tool_use("c")]},
        {"role": "system", "content": "s"},
        {"role": "user", "content": [tool_result("c"), tool_result("a"), tool_result("a")]},
        {"role": "assistant", "content": "done"},
    ]
    out = translate(request(messages=messages))["messages"]
    for i, message in enumerate(out):
        if message.get("tool_calls"):
            ids = [call["id"] for call in message["tool_calls"]]
            following = [m["tool_call_id"] for m in out[i + 1:i + 1 + len(ids)]]
            assert sorted(following) == sorted(ids)
        assert set(message) <= OPENAI_MESSAGE_KEYS
    assert sum(1 for m in out if m["role"] == "tool") == 3  # a, b, c once each


# ---- images and documents ----------------------------------------------------------------


def test_images_and_documents():
    content = [
        {"type": "text", "text": "compare"},
        PNG,
        {"type": "image", "source": {"type": "url", "url": "https://x/y.jpg"}},
        {"type": "document", "title": "Spec", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBF"}},
        {"type": "document", "title": "Notes", "source": {"type": "text", "media_type": "text/plain", "data": "n1"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "c1"}, PNG]}},
        {"type": "document", "source": {"type": "url", "url": "https://x/doc.pdf"}},
        {"type": "search_result", "source": "https://s", "title": "T", "content": [{"type": "text", "text": "r"}]},
    ]
    parts = translate(request(messages=[{"role": "user", "content": content}]))["messages"][0]["content"]
    assert parts == [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}},
        {"type": "file", "file": {"filename": "Spec", "file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBF"}},
        {"type": "text", "text": "Notes\n\nn1"},
        {"type": "text", "text": "c1"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "text", "text": "[document: https://x/doc.pdf]"},
        {"type": "text", "text": "T (https://s)\n\nr"},
    ]


# ---- thinking ---------------------------------------------------------------------------------


def thinking(text):
    return {"type": "thinking", "thinking": text, "signature": "sig"}


def test_thinking_travels_as_reasoning_content_and_redacted_thinking_is_dropped():
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [thinking("plan"), {"type": "redacted_thinking", "data": "enc"},
                                          tool_use("t1")]},
        {"role": "user", "content": [tool_result("t1")]},
        {"role": "assistant", "content": [thinking("conclude"), {"type": "text", "text": "ok"}]},
    ]
    out = translate(request(messages=messages))["messages"]
    assert out[1]["reasoning_content"] == "plan" and "enc" not in repr(out)
    assert out[3] == {"role": "assistant", "content": "ok", "reasoning_content": "conclude"}
    vllm = translate(request(messages=messages), reasoning_field="reasoning")["messages"]
    assert vllm[1]["reasoning"] == "plan" and "reasoning_content" not in vllm[1]
    assert "reasoning" not in repr(translate(request(messages=messages), reasoning_field="none"))


def test_deepseek_gets_reasoning_on_every_tool_call_turn():
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": [tool_use("t1")]},
                {"role": "user", "content": [tool_result("t1")]}, {"role": "assistant", "content": "plain"}]
    out = translate(request(messages=messages), "deepseek-chat")["messages"]
    assert out[1]["reasoning_content"] == ""
    assert "reasoning_content" not in out[3]
    assert "reasoning_content" not in translate(request(messages=messages), "gpt-4o")["messages"][1]


def test_max_output_tokens_lowers_max_tokens_and_never_raises_it():
    assert translate(request(max_tokens=32000), max_output_tokens=16384)["max_tokens"] == 16384
    assert translate(request(max_tokens=100), max_output_tokens=16384)["max_tokens"] == 100


def test_reasoning_param_styles():
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 20000}}
    assert translate(request(**thinking), reasoning_param="reasoning_effort")["reasoning_effort"] == "high"
    openrouter = translate(request(**thinking), reasoning_param="reasoning")
    assert openrouter["reasoning"] == {"effort": "high"} and "reasoning_effort" not in openrouter
    assert not {"reasoning", "reasoning_effort"} & set(translate(request(**thinking)))


def test_system_role_and_vision():
    messages = [{"role": "user", "content": [PNG, {"type": "text", "text": "what is it?"}]},
                {"role": "system", "content": "mid"}]
    out = translate(request(system="top", messages=messages), system_role="developer", vision=False)["messages"]
    assert [m["role"] for m in out] == ["developer", "user", "developer"]
    assert out[1]["content"] == "[an image was here; this model cannot see images]\n\nwhat is it?"
    assert translate(request(system="s"), "gpt-5")["messages"][0]["role"] == "developer"


# ---- thinking turned off -------------------------------------------------------------------

DISABLED = {"thinking": {"type": "disabled"}, "output_config": {"effort": "medium"}}  # a Claude Code subagent


@pytest.mark.parametrize(
    ("target", "caps", "fields"),
    [
        ("o3", {}, {"reasoning_effort": "low"}),
        ("gpt-5-mini", {}, {"reasoning_effort": "minimal"}),
        ("gpt-5.1", {}, {"reasoning_effort": "none"}),
        ("deepseek-reasoner", {}, {"thinking": {"type": "disabled"}}),
        ("qwen3:8b", {"reasoning_param": "reasoning_effort", "reasoning_off": "reasoning_effort"},
         {"reasoning_effort": "none"}),
        ("Qwen/Qwen3-32B", {"reasoning_off": "chat_template_kwargs"}, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("qwen3:32b", {"reasoning_off": "think"}, {"think": False}),
        ("openrouter/x", {"reasoning_param": "reasoning", "reasoning_off": "reasoning"}, {"reasoning": {"effort": "none"}}),
        ("llama", {"reasoning_param": "reasoning_effort"}, {}),  # reasoning_off "none": nothing, and no effort either
    ],
)
def test_a_request_that_disables_thinking_gets_the_targets_off_switch_and_no_effort(target, caps, fields):
    out = translate(request(**DISABLED), target, **caps)
    switches = {"reasoning_effort", "reasoning", "thinking", "chat_template_kwargs", "think"}
    assert {key: out[key] for key in switches & set(out)} == fields


def test_the_off_switch_is_sent_only_when_thinking_is_disabled():
    caps = {"reasoning_param": "reasoning_effort", "reasoning_off": "chat_template_kwargs"}
    assert translate(request(thinking={"type": "enabled", "budget_tokens": 2000}), "q", **caps) == {
        **translate(request(), "q", **caps), "reasoning_effort": "low"}
    assert "chat_template_kwargs" not in translate(request(), "q", **caps)


# ---- Claude Code's attribution block -------------------------------------------------------

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.332.abc; cc_entrypoint=cli; cch=5f3a1;"


@pytest.mark.parametrize(
    ("system", "sent"),
    [
        ([{"type": "text", "text": ATTRIBUTION}, {"type": "text", "text": "You are Claude Code."}],
         "You are Claude Code."),
        ([{"type": "text", "text": ATTRIBUTION + "\nYou are Claude Code."}, {"type": "text", "text": "Rules."}],
         "You are Claude Code.\n\nRules."),
        (ATTRIBUTION + "\n\nBe brief.", "Be brief."),
        ([{"type": "text", "text": ATTRIBUTION}], None),
        ([{"type": "text", "text": "Be brief."}, {"type": "text", "text": ATTRIBUTION}], "Be brief.\n\n" + ATTRIBUTION),
    ],
)
def test_the_attribution_line_opening_the_system_prompt_is_left_out(system, sent):
    messages = translate(request(system=system))["messages"]
    assert (messages[0]["content"] if messages[0]["role"] == "system" else None) == sent


def test_the_attribution_line_is_kept_when_asked():
    system = [{"type": "text", "text": ATTRIBUTION}, {"type": "text", "text": "You are Claude Code."}]
    payload = to_openai(request(system=system), "m", keep_attribution=True).payload
    assert payload["messages"][0]["content"] == ATTRIBUTION + "\n\nYou are Claude Code."


# ---- strict tools --------------------------------------------------------------------------

STRICT_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                 "additionalProperties": False}
LOOSE_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"], "additionalProperties": False}


@pytest.mark.parametrize(
    ("target", "schema", "strict"),
    [("gpt-4.1", STRICT_SCHEMA, True), ("gpt-5", STRICT_SCHEMA, True), ("o3", STRICT_SCHEMA, True),
     ("gpt-4.1", LOOSE_SCHEMA, False),  # an optional property: OpenAI would refuse it as strict
     ("qwen3:32b", STRICT_SCHEMA, False), ("deepseek-chat", STRICT_SCHEMA, False)],
)
def test_strict_tools_stay_strict_only_where_the_backend_enforces_it(target, schema, strict):
    function = translate(request(tools=[{"name": "w", "input_schema": schema, "strict": True}]), target)["tools"][0]
    assert function["function"].get("strict") is (True if strict else None)
    assert function["function"]["parameters"] == schema  # as the client wrote it
    plain = translate(request(tools=[{"name": "w", "input_schema": schema}]), target)["tools"][0]
    assert "strict" not in plain["function"]


# ---- structured outputs --------------------------------------------------------------------

PYDANTIC_SCHEMA = {"type": "object", "title": "Weather", "properties": {
    "city": {"type": "string", "title": "City"}, "days": {"type": "integer", "title": "Days",
                                                         "description": "{default: 3}"}},
    "additionalProperties": False, "required": ["city"]}


def structured(schema=PYDANTIC_SCHEMA, beta=False, **fields):
    form = {"type": "json_schema", "schema": schema}
    return request(**({"output_format": form} if beta else {"output_config": {"format": form}}), **fields)


@pytest.mark.parametrize("beta", [False, True])
@pytest.mark.parametrize("stream", [False, True])
def test_an_output_schema_becomes_a_json_schema_response_format_as_written(beta, stream):
    body = structured(beta=beta, stream=stream)
    out = translate(body, "qwen3:32b")
    assert out["response_format"] == {"type": "json_schema", "json_schema": {"name": "Weather",
                                                                              "schema": PYDANTIC_SCHEMA}}
    assert out["response_format"]["json_schema"]["schema"]["required"] == ["city"]  # "days" stays optional
    assert out["messages"] == [{"role": "user", "content": "hi"}]  # nothing said in words
    assert out.get("stream") is (True if stream else None)


@pytest.mark.parametrize(
    ("target", "schema", "strict"),
    [("gpt-4o", STRICT_SCHEMA, True), ("gpt-5.1", STRICT_SCHEMA, True), ("gpt-4o", PYDANTIC_SCHEMA, False),
     ("qwen3:32b", STRICT_SCHEMA, False)],
)
def test_strict_only_where_the_schema_is_in_the_strict_subset_and_the_backend_enforces_it(target, schema, strict):
    spec = translate(structured(schema), target)["response_format"]["json_schema"]
    assert spec.get("strict") is (True if strict else None)
    assert spec["name"] == ("Weather" if schema is PYDANTIC_SCHEMA else "response")


def test_json_object_mode_states_the_schema_after_the_system_prompt():
    out = translate(structured(system="Be brief."), "deepseek-chat")  # built in: json_object
    assert out["response_format"] == {"type": "json_object"}
    system = out["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.\n\nAnswer with a single JSON value")
    assert system["content"].endswith(json.dumps(PYDANTIC_SCHEMA))


def test_none_mode_states_the_schema_only():
    translation = to_openai(structured(), "llama", Capabilities(structured_output="none"))
    assert "response_format" not in translation.payload
    assert translation.payload["messages"][0]["content"].startswith("Answer with a single JSON value")
    assert translation.unfence
    assert not to_openai(structured(), "llama").unfence  # json_schema: the backend enforces it


def test_the_output_schema_is_not_changed_or_shared():
    body = structured()
    snapshot = json.dumps(body)
    out = translate(body, "gpt-4o")
    assert json.dumps(body) == snapshot and out["response_format"]["json_schema"]["schema"] == PYDANTIC_SCHEMA
