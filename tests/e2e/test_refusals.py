"""A backend that refuses something the proxy added (a field, the reasoning
history, images) in its own words: retried without it, then left out for that
model, over real sockets through the official Python SDK."""

from __future__ import annotations

import logging

import anthropic
import httpx
import pytest

from anthroproxy.testing.fake_upstream import Reply, completion, text_chunks
from anthroproxy.translate.messages import NO_VISION
from tests.support.proxy import in_thread, sdk, start_proxy

HISTORY = [{"role": "user", "content": "x"},
           {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                             {"type": "text", "text": "y"}]},
           {"role": "user", "content": "z"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
TOOL = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
WITH_IMAGE = [{"role": "user", "content": [
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    {"type": "text", "text": "What is this?"}]}]


def sent_reasoning(request) -> bool:
    return "reasoning_content" in request.json["messages"][1]


def sent_switch(request) -> bool:
    return "chat_template_kwargs" in request.json or "think" in request.json


@pytest.mark.parametrize(
    ("status", "message", "capabilities", "ask", "sent"),
    [
        (400, "1 validation error for ChatCompletionRequest\nmessages.1.assistant.reasoning_content\n  Extra inputs "
              "are not permitted [type=extra_forbidden, input_value='t', input_type=str]",
         "", {"messages": HISTORY}, sent_reasoning),
        (422, "1 validation error for ChatCompletionRequest\nchat_template_kwargs\n  Extra inputs are not permitted "
              "[type=extra_forbidden, input_value={'enable_thinking': False}, input_type=dict]",
         '{"*": {"reasoning_off": "chat_template_kwargs"}}',
         {"messages": HISTORY[:1], "thinking": {"type": "disabled"}}, sent_switch),
        (400, "The reasoning_content is an intermediate result and must not be passed in the input messages",
         "", {"messages": HISTORY}, sent_reasoning),
        (400, "Unknown field: think", '{"*": {"reasoning_off": "think"}}',
         {"messages": HISTORY[:1], "thinking": {"type": "disabled"}}, sent_switch),
        (400, "reasoning_content is not supported by this server", "", {"messages": HISTORY}, sent_reasoning),
        (422, "unrecognized field chat_template_kwargs in the request body",
         '{"*": {"reasoning_off": "chat_template_kwargs"}}',
         {"messages": HISTORY[:1], "thinking": {"type": "disabled"}}, sent_switch),
    ],
)
async def test_a_refusal_in_each_form_is_retried_without_the_field_then_remembered(
        nursery, fake, caplog, status, message, capabilities, ask, sent):
    proxy = await start_proxy(nursery, fake, default_model="picky", model_capabilities=capabilities)
    fake.queue(Reply.error(status, message), Reply.json(completion("fine")), Reply.stream(text_chunks(["again"])))
    create = lambda **more: sdk(proxy).messages.create(model="claude-x", max_tokens=20, **ask, **more)  # noqa: E731
    assert (await in_thread(create)).content[0].text == "fine"
    first, retry = fake.requests
    assert sent(first) and not sent(retry)

    def stream():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=20, **ask) as events:
            return events.get_final_message()

    assert (await in_thread(stream)).content[0].text == "again"
    assert len(fake.requests) == 3 and not sent(fake.requests[2])  # no first try this time
    assert sum("refused" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records) == 1


@pytest.mark.parametrize(
    "message",
    ["The reasoning_content in the thinking mode must be passed back to the API.",
     "1 validation error for ChatCompletionRequest\nmessages.1.assistant.reasoning_content\n  Field required"],
)
async def test_a_message_asking_for_more_is_not_retried(proxy, fake, message):
    fake.queue(Reply.error(400, message))
    with pytest.raises(anthropic.BadRequestError):
        await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=HISTORY))
    assert len(fake.requests) == 1


# ---- images to a text-only backend -------------------------------------------------------------

LLAMA_CPP = "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"


@pytest.mark.parametrize("stream", [False, True])
async def test_an_image_refused_with_a_500_is_replaced_by_the_note_and_remembered(nursery, fake, caplog, stream):
    proxy = await start_proxy(nursery, fake, default_model="text-only")
    fake.default = lambda request: (
        Reply.json({"error": {"code": 500, "message": LLAMA_CPP, "type": "server_error"}}, status=500)
        if any(isinstance(m["content"], list) for m in request.json["messages"])
        else (Reply.stream(text_chunks(["A dot."])) if request.json.get("stream") else Reply.json(completion("A dot."))))

    def ask():
        if not stream:
            return sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=WITH_IMAGE)
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=20, messages=WITH_IMAGE) as events:
            return events.get_final_message()

    assert (await in_thread(ask)).content[0].text == "A dot."
    first, retry = fake.requests
    assert first.json["messages"][0]["content"][0]["type"] == "image_url"
    assert retry.json["messages"][0]["content"] == NO_VISION["text"] + "\n\nWhat is this?"
    assert (await in_thread(ask)).content[0].text == "A dot."
    assert len(fake.requests) == 3 and fake.requests[2].json == retry.json  # straight to the note
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and '"vision": false' in warnings[0] and "text-only" in warnings[0]

    async with httpx.AsyncClient() as client:  # counted as it is now sent: a note, not an image
        counted = await client.post(f"http://127.0.0.1:{proxy.port}/v1/messages/count_tokens",
                                    json={"model": "claude-x", "messages": WITH_IMAGE})
    assert counted.json()["input_tokens"] < 85  # an image would count 85 tokens at least


async def test_a_500_that_is_not_about_images_is_passed_on(nursery, fake):
    proxy = await start_proxy(nursery, fake)
    fake.queue(Reply.json({"error": {"code": 500, "message": "out of memory"}}, status=500))
    with pytest.raises(anthropic.InternalServerError):
        await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=WITH_IMAGE))
    assert len(fake.requests) == 1


async def test_a_refused_value_is_left_out_when_the_field_has_it_and_kept_otherwise(nursery, fake, caplog):
    proxy = await start_proxy(nursery, fake, default_model="gpt-5-pro")
    fake.queue(Reply.error(400, "'reasoning_effort' does not support 'minimal' with this model."))
    fake.default = lambda request: Reply.json(completion("ok"))
    quick = lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=20, messages=HISTORY[:1],  # noqa: E731
                                               thinking={"type": "disabled"})
    await in_thread(quick)
    await in_thread(lambda: sdk(proxy).messages.create(model="claude-x", max_tokens=2000, messages=HISTORY[:1],
                                                       thinking={"type": "enabled", "budget_tokens": 1024}))
    await in_thread(quick)
    assert [r.json.get("reasoning_effort") for r in fake.requests] == ["minimal", None, "low", None]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'reasoning_effort "minimal"' in warnings[0], warnings


async def test_a_retry_refused_the_same_way_ends_there_and_nothing_is_remembered(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="picky")
    # Two fields named: the first guess (stream_options, nearest) is left out, and the same answer comes back.
    rejection = Reply.error(400, "Unknown field: stream_options; unknown field: parallel_tool_calls")
    fake.queue(rejection, rejection, Reply.stream(text_chunks(["ok"])))

    def stream():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=20, messages=HISTORY, tools=[TOOL],
                                        tool_choice={"type": "auto", "disable_parallel_tool_use": True}) as events:
            return events.get_final_message()

    with pytest.raises(anthropic.BadRequestError, match="Unknown field: stream_options"):
        await in_thread(stream)
    first, retry = fake.requests  # (no third try without the other field)
    assert len(set(first.json) - set(retry.json)) == 1
    await in_thread(stream)
    assert set(fake.requests[2].json) == set(first.json)  # nothing remembered


async def test_at_most_two_retries_per_request(nursery, fake):
    proxy = await start_proxy(nursery, fake, default_model="very-picky",
                              model_capabilities='{"*": {"reasoning_off": "think"}}')
    fake.queue(Reply.error(400, "'reasoning_content' was unexpected"), Reply.error(400, "Unknown field: think"),
               Reply.error(400, "Unknown field: stream_options"))

    def stream():
        with sdk(proxy).messages.stream(model="claude-x", max_tokens=20, messages=HISTORY,
                                        thinking={"type": "disabled"}) as events:
            return events.get_final_message()

    with pytest.raises(anthropic.BadRequestError, match="stream_options"):
        await in_thread(stream)
    assert len(fake.requests) == 3
