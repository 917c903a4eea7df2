"""An Anthropic request as the Responses API gets it (pure)."""

import copy
import json

import pytest

from anthroproxy.config.capabilities import Capabilities, CapabilityTable
from anthroproxy.translate.messages import NO_RESULT
from anthroproxy.translate.responses.reasoning import ReasoningItem
from anthroproxy.translate.responses.request import to_responses

ATTRIBUTION = "x-anthropic-billing-header: cc_version=2.1.331.49f; cc_entrypoint=cli; cch=5f3a1;"
PNG = "iVBORw0KGgo="
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
           "additionalProperties": False}


def request(**fields):
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def translate(body, target="gpt-5-codex", **caps):
    capabilities = Capabilities(**caps) if caps else CapabilityTable().lookup(target)
    return to_responses(body, target, capabilities).payload


def test_minimal_request_is_stateless_and_asks_for_the_encrypted_reasoning():
    assert translate(request()) == {
        "model": "gpt-5-codex",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "max_output_tokens": 100, "store": False, "include": ["reasoning.encrypted_content"]}
    assert translate(request(stream=True))["stream"] is True


def test_system_becomes_instructions_without_the_attribution_line():
    system = [{"type": "text", "text": ATTRIBUTION}, {"type": "text", "text": "Be brief.", "cache_control": {}}]
    assert translate(request(system=system))["instructions"] == "Be brief."
    assert translate(request(system="Be brief."))["instructions"] == "Be brief."
    assert "instructions" not in translate(request(system=ATTRIBUTION))
    kept = to_responses(request(system=ATTRIBUTION + "\nBe brief."), "m", Capabilities(), keep_attribution=True)
    assert kept.payload["instructions"].startswith(ATTRIBUTION)


def test_sampling_where_the_target_takes_it():
    body = request(temperature=0.2, top_p=0.9, top_k=5)
    assert {k: v for k, v in translate(body, "gpt-4.1").items() if k in ("temperature", "top_p", "top_k")} == {
        "temperature": 0.2, "top_p": 0.9}
    assert not {"temperature", "top_p", "top_k"} & set(translate(body, "o3"))  # a reasoning model takes none
    assert "stop" not in translate(request(stop_sequences=["END"]))  # the proxy cuts there itself


def test_text_images_and_documents_are_input_parts():
    content = [{"type": "text", "text": "look"},
               {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
               {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
               {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}},
               {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}}]
    [message] = translate(request(messages=[{"role": "user", "content": content}]), "gpt-4.1")["input"]
    parts = message["content"]
    assert parts[0] == {"type": "input_text", "text": "look"}
    assert parts[1] == {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}
    assert parts[2] == {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"}
    assert parts[3]["type"] == "input_file" and parts[3]["file_data"] == "data:application/pdf;base64,JVBER"
    assert any(part["type"] == "input_text" and "plain words" in part["text"] for part in parts[4:])


def test_a_target_without_vision_gets_words_for_an_image():
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]
    [message] = translate(request(messages=[{"role": "user", "content": content}]), "m", vision=False)["input"]
    assert [part["type"] for part in message["content"]] == ["input_text"]


CALL = {"type": "tool_use", "id": "call_abc", "name": "Read", "input": {"file_path": "/a"}}


def test_a_tool_round_trip_is_a_function_call_and_its_output():
    messages = [{"role": "user", "content": "read /a"},
                {"role": "assistant", "content": [{"type": "text", "text": "Reading."}, CALL]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "one"},
                                             {"type": "text", "text": "and?"}]}]
    items = translate(request(messages=messages))["input"]
    assert items[1:] == [
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Reading.", "annotations": []}]},
        {"type": "function_call", "call_id": "call_abc", "name": "Read", "arguments": '{"file_path": "/a"}'},
        {"type": "function_call_output", "call_id": "call_abc", "output": "one"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and?"}]}]


def test_a_tool_results_images_and_error_travel_in_its_output():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    messages = [{"role": "user", "content": "shoot"}, {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "is_error": True,
                                              "content": [{"type": "text", "text": "no such file"}, image]}]}]
    output = translate(request(messages=messages), "gpt-4.1")["input"][-1]["output"]
    assert output[0] == {"type": "input_text", "text": "Error: no such file"}
    assert output[1]["type"] == "input_image"


def test_every_call_is_answered_and_an_orphan_result_goes_as_text():
    messages = [{"role": "user", "content": "go"}, {"role": "assistant", "content": [CALL]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_other", "content": "x"}]}]
    items = translate(request(messages=messages))["input"]
    assert items[2] == {"type": "function_call_output", "call_id": "call_abc", "output": NO_RESULT}
    assert items[3]["role"] == "user" and "call_other" in items[3]["content"][0]["text"]


TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER},
         {"name": "web_search", "type": "web_search_20250305"}]


def test_tools_are_flat_functions_strict_only_where_the_client_set_it():
    translation = to_responses(request(tools=TOOLS), "gpt-5", CapabilityTable().lookup("gpt-5"))
    assert translation.payload["tools"] == [{"type": "function", "name": "get_weather", "description": "Weather",
                                             "parameters": WEATHER, "strict": False}]
    assert translation.dropped_tools == ["web_search (web_search_20250305)"]
    strict = translate(request(tools=[{**TOOLS[0], "strict": True}]), "gpt-5")["tools"][0]
    assert strict["strict"] is True


@pytest.mark.parametrize(
    ("choice", "fields"),
    [({"type": "auto"}, {"tool_choice": "auto"}),
     ({"type": "any"}, {"tool_choice": "required"}),
     ({"type": "tool", "name": "get_weather"}, {"tool_choice": {"type": "function", "name": "get_weather"}}),
     ({"type": "none"}, {"tool_choice": "none"}),
     ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
     (None, {})],
)
def test_tool_choice(choice, fields):
    out = translate(request(tools=TOOLS[:1], tool_choice=choice))
    assert {k: out[k] for k in ("tool_choice", "parallel_tool_calls") if k in out} == fields


@pytest.mark.parametrize(
    ("fields", "reasoning"),
    [({"thinking": {"type": "enabled", "budget_tokens": 2000}}, {"effort": "low", "summary": "auto"}),
     ({"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}}, {"effort": "high", "summary": "auto"}),
     ({"output_config": {"effort": "medium"}}, {"effort": "medium", "summary": "auto"}),
     ({"thinking": {"type": "adaptive"}}, {"summary": "auto"}),
     ({}, None)],
)
def test_thinking_and_effort_become_reasoning_with_a_summary(fields, reasoning):
    assert translate(request(**fields), "gpt-5-codex").get("reasoning") == reasoning


def test_thinking_disabled_asks_for_the_lowest_effort():
    assert translate(request(thinking={"type": "disabled"}), "m", lowest_effort="minimal",
                     reasoning_off="reasoning_effort")["reasoning"] == {"effort": "minimal"}


def test_max_tokens_is_capped_by_the_targets_limit():
    assert translate(request(max_tokens=9000), "m", max_output_tokens=4096)["max_output_tokens"] == 4096


def test_an_output_schema_becomes_text_format_as_written():
    form = {"type": "json_schema", "schema": WEATHER}
    out = translate(request(output_config={"format": form}), "gpt-5")
    assert out["text"] == {"format": {"type": "json_schema", "name": "response", "schema": WEATHER, "strict": True}}
    translation = to_responses(request(output_config={"format": form}), "m", Capabilities(structured_output="none"))
    assert "text" not in translation.payload and translation.unfence
    assert json.dumps(WEATHER) in translation.payload["instructions"]


def test_a_thinking_block_from_a_responses_upstream_goes_back_as_its_reasoning_item():
    ours = ReasoningItem("rs_1", "ENCRYPTED").signature()
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "plan", "signature": ours}, CALL]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "ok"}]}]
    items = translate(request(messages=messages))["input"]
    assert items[1] == {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "plan"}],
                        "encrypted_content": "ENCRYPTED"}
    assert items[2]["type"] == "function_call"


def test_thinking_from_elsewhere_is_left_out():
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "EqQBCkYIB"},
                                                  {"type": "redacted_thinking", "data": "xyz"},
                                                  {"type": "text", "text": "done"}]},
                {"role": "user", "content": "again"}]
    items = translate(request(messages=messages))["input"]
    assert [item.get("type") for item in items] == ["message", "message", "message"]
    assert items[1]["content"] == [{"type": "output_text", "text": "done", "annotations": []}]


def test_long_tool_names_are_shortened_and_mapped_back():
    long = "mcp__my-server.example__" + "really_long_tool_name_" * 4
    translation = to_responses(request(tools=[{"name": long, "input_schema": WEATHER}]), "m", Capabilities())
    sent = translation.payload["tools"][0]["name"]
    assert len(sent) <= 64 and translation.names.client(sent) == long


def test_input_is_not_mutated():
    body = request(system="s", tools=TOOLS, messages=[{"role": "user", "content": "go"},
                                                      {"role": "assistant", "content": [CALL]}])
    before = copy.deepcopy(body)
    translate(body)
    assert body == before


@pytest.mark.parametrize(("item", "thinking", "sent"), [
    (ReasoningItem("rs_a"), "a summary", False),  # (the API would look it up by id: 404 with store false)
    (ReasoningItem("rs_b", raw=True), "", False),
    (ReasoningItem("rs_c", raw=True), "its own words", True),  # (an open-weight server's, text and all)
    (ReasoningItem("rs_d", "ENC"), "", True),
])
def test_a_reasoning_item_goes_back_only_with_what_the_api_can_take(item, thinking, sent):
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking,
                                                   "signature": item.signature()}, {"type": "text", "text": "ok"}]},
                {"role": "user", "content": "again"}]
    items = translate(request(messages=messages))["input"]
    assert [i["type"] for i in items] == ["message", *(["reasoning"] if sent else []), "message", "message"]


@pytest.mark.parametrize(("origin", "sent"), [
    ("openai/gpt-5-codex", True),  # (the upstream and model that made it)
    ("openai/gpt-5", False),  # another model: its encrypted content is not this one's
    ("local/gpt-oss", False),  # another upstream (llama.cpp refuses an item without its own text)
    (None, True),  # a signature from before the origin was kept
])
def test_a_reasoning_item_goes_back_only_to_the_upstream_and_model_that_made_it(origin, sent):
    ours = ReasoningItem("rs_1", "ENC", origin=origin).signature()
    messages = [{"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "plan", "signature": ours}, CALL]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_abc", "content": "ok"}]}]
    payload = to_responses(request(messages=messages), "gpt-5-codex", Capabilities(),
                           origin="openai/gpt-5-codex").payload
    assert ("reasoning" in [item["type"] for item in payload["input"]]) is sent
