import json

import pytest

from anthroproxy.translate.messages import NO_VISION
from anthroproxy.translate.refusals import (
    IMAGES,
    MAX_RETRIES,
    REASONING_HISTORY,
    Refusal,
    Refusals,
    leave_out,
    leave_out_remembered,
    refused_field,
)
from anthroproxy.translate.request import Translation
from anthroproxy.translate.responses.request import OPTIONAL_FIELDS as RESPONSES_FIELDS
from anthroproxy.translate.tools import ToolNames


def payload(**fields):
    messages = [{"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "reasoning_content": "r", "tool_calls": []}]
    return {"model": "m", "messages": messages, "max_tokens": 5, **fields}


@pytest.mark.parametrize(
    ("status", "message", "fields", "refused"),
    [
        (400, "Additional properties are not allowed ('reasoning_content' was unexpected) - 'messages.1'", {},
         REASONING_HISTORY),
        (400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
         {"reasoning_effort": "high"}, "reasoning_effort"),
        (400, "Unrecognized request argument supplied: user", {"user": "u"}, "user"),
        (400, "Unsupported value: 'temperature' does not support 0.0 with this model.", {"temperature": 0.0},
         ("temperature", "0.0")),
        (422, '[{"loc": ["body", "parallel_tool_calls"], "msg": "Extra inputs are not permitted"}]',
         {"parallel_tool_calls": False}, "parallel_tool_calls"),
        # not refusals:
        (400, "The reasoning_content in the thinking mode must be passed back to the API.", {}, None),
        (400, "Missing `reasoning_content` field in the assistant message at message index 1", {}, None),
        (400, "This reasoning model does not support images", {}, None),
        (400, "Unsupported parameter: 'reasoning_effort'", {}, None),  # not in the payload
        (500, "Unsupported parameter: 'user'", {"user": "u"}, None),
        (400, "model not found", {"user": "u"}, None),
        # pydantic (vLLM, SGLang, FastAPI servers), as a 400 or a 422:
        (400, "1 validation error for ChatCompletionRequest\nmessages.1.assistant.reasoning_content\n  Extra inputs "
              "are not permitted [type=extra_forbidden, input_value='r', input_type=str]", {}, REASONING_HISTORY),
        (422, "1 validation error for ChatCompletionRequest\nchat_template_kwargs\n  Extra inputs are not permitted "
              "[type=extra_forbidden, input_value={'enable_thinking': False}, input_type=dict]",
         {"chat_template_kwargs": {"enable_thinking": False}}, "chat_template_kwargs"),
        (422, "2 validation errors for ChatCompletionRequest\nthink\n  Extra inputs are not permitted "
              "[type=extra_forbidden, input_value=False, input_type=bool]\nmax_tokens\n  Field required",
         {"think": False}, "think"),
        (400, "1 validation error for Request\nbody.user\n  extra fields not permitted (type=value_error.extra)",
         {"user": "u"}, "user"),
        # prose that names the field unquoted:
        (400, "The reasoning_content is an intermediate result and must not be passed in the input messages", {},
         REASONING_HISTORY),
        (400, "Unknown field reasoning_effort in request", {"reasoning_effort": "low"}, "reasoning_effort"),
        (400, "reasoning_effort is not supported by this model", {"reasoning_effort": "low"}, "reasoning_effort"),
        (400, "unrecognized field: stream_options", {"stream_options": {}}, "stream_options"),
        (400, "parallel_tool_calls: this server does not support it", {"parallel_tool_calls": False},
         "parallel_tool_calls"),
        (400, "This response_format type is unavailable now", {"response_format": {"type": "json_schema"}},
         "response_format"),
        (400, "The parameter `thinking` is not supported for this model", {"thinking": {"type": "disabled"}},
         "thinking"),
        # asking for more, or naming an English word that is no field here:
        (400, "reasoning_content is required on every assistant message with tool calls", {}, None),
        (400, "The reasoning_content field must be provided, even if empty", {}, None),
        (400, "This reasoning model does not support images", {}, None),
        (400, "The user is not allowed to use this model", {"user": "u"}, None),
        (400, "Unknown model: stop-gap-7b", {"stop": ["x"]}, None),
        (422, "1 validation error for ChatCompletionRequest\nmax_tokens\n  Input should be less than 4096", {}, None),
        (400, "messages.1.reasoning_content must not be empty", {}, None),
        # of several fields named, the one the refusal is about:
        (400, "unknown field `think`, expected one of `model`, `messages`, `temperature`, `top_p`, `stop`, "
              "`stream_options`", {"think": False, "temperature": 1, "stop": ["x"], "stream_options": {}}, "think"),
        (400, "1 validation error for ChatCompletionRequest\nmessages.1.assistant.reasoning\n  Extra inputs are not "
              "permitted [type=extra_forbidden]", {"reasoning": {"effort": "low"}}, REASONING_HISTORY),
        (422, '[{"loc": ["body", "messages", 1, "reasoning"], "msg": "Extra inputs are not permitted"}]',
         {"reasoning": {"effort": "low"}}, REASONING_HISTORY),
        (400, "messages.1.user: Extra inputs are not permitted", {"user": "u"}, None),
        (422, '[{"loc": ["body", "user"], "msg": "Extra inputs are not permitted"}]', {"user": "u"}, "user"),
        # a value refused, not the field: only this request goes without it
        (400, "'reasoning_effort' does not support 'minimal' with this model.", {"reasoning_effort": "minimal"},
         ("reasoning_effort", '"minimal"')),
        (400, "Invalid value for 'reasoning_effort': unknown value 'none'", {"reasoning_effort": "none"},
         ("reasoning_effort", '"none"')),
        # a complaint about the client's value: the client's field is not dropped
        (400, "Invalid parameter stop: expected at most 4 sequences", {"stop": ["a", "b", "c", "d", "e"]}, None),
        # a refusal and a request for more in one statement: not retried
        (400, "Unknown field: reasoning_content is required", {}, None),
        # fields the server lists as what it would take are not refused
        (400, "unknown field `max_completion_tokens`, expected one of `temperature`, `top_p`", {"temperature": 1},
         None),
        # vLLM's location tuples
        (400, "Value error, ('body', 'messages', 1, 'assistant', 'reasoning'): extra fields not permitted",
         {"reasoning": {"effort": "low"}}, REASONING_HISTORY),
        # the client's own schema: its error, never a refusal
        (400, "Invalid schema for response_format 'Weather': In context=('properties', 'days'), 'default' is not "
              "permitted.", {"response_format": {"type": "json_schema"}}, None),
    ],
)
def test_refused_field(status, message, fields, refused):
    found = refused_field(status, message, payload(**fields))
    field, value = refused if isinstance(refused, tuple) else (refused, None)
    assert (found.field, found.value) == (field, value) if field else found is None, found


def test_reasoning_history_is_refused_only_when_it_was_sent():
    bare = payload()
    del bare["messages"][1]["reasoning_content"]
    assert refused_field(400, "'reasoning_content' was unexpected", bare) is None
    assert refused_field(400, "'reasoning_content' was unexpected", payload()) == Refusal(REASONING_HISTORY)


def test_leave_out():
    body = payload(reasoning_effort="low")
    body["messages"][1]["reasoning"] = "r2"
    leave_out(body, REASONING_HISTORY)
    assert body["messages"][1] == {"role": "assistant", "content": "y", "tool_calls": []}
    leave_out(body, "reasoning_effort")
    assert "reasoning_effort" not in body


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}


def with_image():
    return {"model": "m", "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "What is it?"}, IMAGE]},
        {"role": "assistant", "content": "A cat."},
        {"role": "user", "content": [IMAGE, {"type": "file", "file": {"file_data": "data:application/pdf;base64,"}}]}]}


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (500, "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"),
        (400, "Multimodal data provided, but model does not support multimodal requests."),
        (400, "facebook/opt-125m is not a multimodal model None"),
        (400, "At most 0 image(s) may be provided in one prompt. (parameter=image)"),
        (500, "this model is missing data required for image input"),
        (400, "this model does not support image input"),
        (400, "Model does not support images. Please use a model that does."),
        (400, "Failed to deserialize the JSON body into the target type: messages[1]: unknown variant `image_url`, "
              "expected `text` at line 1 column 120"),
        (400, "Invalid content type. image_url is only supported by certain models."),
        (404, "No endpoints found that support image input"),
    ],
)
def test_a_server_without_vision_refuses_the_images(status, message):
    assert refused_field(status, message, with_image()) == Refusal(IMAGES)
    assert refused_field(status, message, payload()) is None  # (no image was sent)


@pytest.mark.parametrize("message", ["The image is not supported: SVG images are not supported",
                                     "Animated GIF image is not supported",
                                     "vision is not supported for image sizes above 2048px"])
def test_a_complaint_about_one_image_is_not_a_model_without_vision(message):
    assert refused_field(400, message, with_image()) is None


def test_other_5xx_are_not_refusals_of_images():
    assert refused_field(500, "CUDA out of memory", with_image()) is None
    assert refused_field(503, "image input is not supported", with_image()) is None


def test_a_remembered_value_is_left_out_only_when_the_field_has_it():
    refusal = refused_field(400, "'reasoning_effort' does not support 'minimal' with this model.",
                            payload(reasoning_effort="minimal"))
    assert refusal.key == 'reasoning_effort="minimal"'
    low, minimal = payload(reasoning_effort="low"), payload(reasoning_effort="minimal")
    leave_out_remembered(low, refusal.key)
    leave_out_remembered(minimal, refusal.key)
    assert low["reasoning_effort"] == "low" and "reasoning_effort" not in minimal
    plain = payload(user="u")
    leave_out_remembered(plain, "user")
    assert "user" not in plain


def test_leaving_out_the_images_puts_the_note_in_their_place():
    body = with_image()
    leave_out(body, IMAGES)
    assert body["messages"][1]["content"] == "What is it?\n\n" + NO_VISION["text"]
    assert body["messages"][3]["content"][0] == NO_VISION and body["messages"][3]["content"][1]["type"] == "file"
    assert body["messages"][2] == {"role": "assistant", "content": "A cat."}


def test_leaving_out_response_format_states_the_schema_in_the_system_prompt():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}
    leave_out(body, "response_format")
    assert "response_format" not in body
    assert body["messages"][0]["role"] == "system" and json.dumps(schema) in body["messages"][0]["content"]
    body = {"model": "m", "messages": [{"role": "developer", "content": "Be brief."}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}}
    leave_out(body, "response_format")
    assert body["messages"][0]["content"].startswith("Be brief.\n\nAnswer with a single JSON value")


# ---- the retry and the memory: what a request does after a refusal, and what the next one is spared ----

WHERE = ("local", "qwen3:8b")
EFFORT = "Unsupported parameter: 'reasoning_effort' is not supported with this model."
USER = "Unrecognized request argument supplied: user"


def translation(**fields):
    return Translation(payload(**fields), ToolNames())


def test_a_refusal_is_left_out_and_remembered_once_the_retry_works():
    refusals = Refusals()
    sent = translation(reasoning_effort="high", user="u")
    retry = refusals.retry(WHERE, sent)
    assert retry.after(400, EFFORT) == Refusal("reasoning_effort")
    assert "reasoning_effort" not in sent.payload and sent.left_out == ["reasoning_effort"]
    assert refusals.of(WHERE) == frozenset()  # (not until the retry went through)
    assert retry.succeeded() == [Refusal("reasoning_effort")]
    assert refusals.of(WHERE) == {"reasoning_effort"} and refusals.of(("local", "other")) == frozenset()
    again = translation(reasoning_effort="high", user="u")
    refusals.apply(WHERE, again.payload)  # the next request to that model never sends it
    assert "reasoning_effort" not in again.payload and again.payload["user"] == "u"
    assert refusals.retry(WHERE, again).succeeded() == []  # (remembered already: said once)


def test_a_retry_refused_with_the_same_message_is_the_answer_and_nothing_is_remembered():
    refusals = Refusals()
    retry = refusals.retry(WHERE, translation(reasoning_effort="high"))
    assert retry.after(400, EFFORT) is not None
    assert retry.after(400, EFFORT) is None  # the guess was wrong: the error is the answer
    assert refusals.of(WHERE) == frozenset()


def test_at_most_max_retries_a_request():
    assert MAX_RETRIES == 2
    sent = translation(reasoning_effort="high", user="u", parallel_tool_calls=False)
    retry = Refusals().retry(WHERE, sent)
    assert retry.after(400, EFFORT) == Refusal("reasoning_effort")
    assert retry.after(400, USER) == Refusal("user")
    third = "Unrecognized request argument supplied: parallel_tool_calls"
    assert refused_field(400, third, sent.payload) == Refusal("parallel_tool_calls")  # (a refusal it could act on)
    assert retry.after(400, third) is None and sent.payload["parallel_tool_calls"] is False


def test_an_error_that_refuses_nothing_optional_is_the_answer():
    sent = translation(user="u")
    retry = Refusals().retry(WHERE, sent)
    assert retry.after(400, "model not found") is None and retry.after(500, USER) is None
    assert sent.payload["user"] == "u" and sent.left_out == []


# ---- the Responses API's request -------------------------------------------------------------

def test_a_quoted_path_into_a_responses_field_refuses_that_field():
    payload = {"model": "m", "input": [], "reasoning": {"effort": "low", "summary": "auto"}, "text": {"format": {}}}
    refusal = refused_field(400, "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                            payload, RESPONSES_FIELDS)
    assert refusal == Refusal("reasoning")
    assert refused_field(400, "Unsupported parameter: 'text.format' is not supported with this model.", payload,
                         RESPONSES_FIELDS) == Refusal("text")
    assert refused_field(400, "Unsupported parameter: 'reasoning.effort'.", {"input": []}, RESPONSES_FIELDS) is None


def test_a_responses_output_schema_left_out_is_stated_in_the_instructions():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    payload = {"input": [], "instructions": "Be brief.",
               "text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}
    leave_out(payload, "text")
    assert "text" not in payload and payload["instructions"].startswith("Be brief.\n\n")
    assert json.dumps(schema) in payload["instructions"]
