"""Guarding the OpenAI Responses API (``client.responses.create``) and embeddings with ``guard.wrap``: the prompt's
``input`` items and ``instructions``, and every item of the response's ``output`` (dicts and the SDK's objects)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai.types.responses import Response

from guards import Guard, ListSink
from guards.errors import InputError, UncheckableAnswer

EMAIL = "jane.doe@example.com"
BLOCKING = (
    "name: t\non_block: message\nblock_message: Withheld.\nscanners:\n  - type: regex\n    action: block\n"
    "    params: {entities: [{label: M, deny_list: [zorblax]}]}\n"
)
CITATION = {"type": "url_citation", "start_index": 0, "end_index": 5, "title": "Hello", "url": "https://example.com"}


def response(*items: dict[str, Any]) -> dict[str, Any]:
    """A Responses API response as JSON."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "model": "m",
        "output": list(items),
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
    }


def message(*texts: str, **extra: Any) -> dict[str, Any]:
    parts = [{"type": "output_text", "text": t, "annotations": [CITATION]} for t in texts]
    return {"type": "message", "id": "m1", "role": "assistant", "status": "completed", "content": parts, **extra}


def call(arguments: str) -> dict[str, Any]:
    return {"type": "function_call", "id": "fc1", "call_id": "c1", "name": "send", "arguments": arguments}


@pytest.mark.parametrize("sdk", [False, True])
def test_input_instructions_and_output_are_checked(default_guard: Guard, sdk: bool) -> None:
    """The model gets pseudonyms (in the input and the instructions); the caller gets them restored, made-up
    personal data redacted, texts split over parts joined (their citations, whose offsets moved, dropped)."""
    received: dict[str, Any] = {}

    def create(*, model: str, input: Any, instructions: str) -> Any:
        received.update(input=input, instructions=instructions)
        answer = response(message("Hello <PERSON_1>, I wrote to ", "bob.smith@example.org."))
        return Response.model_validate(answer) if sdk else answer

    result = default_guard.wrap(create)(
        model="m", input="I am Carla Mendes", instructions=f"Escalations go to {EMAIL}."
    )
    assert received == {"input": "I am <PERSON_1>", "instructions": "Escalations go to <EMAIL_ADDRESS_1>."}
    parts = (result.model_dump() if sdk else result)["output"][0]["content"]
    assert len(parts) == 1 and parts[0]["annotations"] == []
    assert parts[0]["text"].startswith("Hello Carla Mendes, I wrote to <EMAIL_ADDRESS")
    if sdk:
        assert result.output_text == parts[0]["text"]


def test_input_items_are_checked_on_a_copy(default_guard: Guard) -> None:
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "I am Carla Mendes"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi Carla Mendes"}]},
        {"type": "reasoning", "id": "r1", "summary": [{"type": "summary_text", "text": f"Reply to {EMAIL}"}]},
        call(json.dumps({"to": EMAIL, "count": 2})),
        {"type": "function_call_output", "call_id": "c1", "output": f"sent to {EMAIL}"},
        {"type": "item_reference", "id": "msg_123"},
    ]
    original = copy.deepcopy(items)
    received: list[Any] = []
    default_guard.wrap(lambda *, input: received.append(input) or response(message("ok")))(input=items)

    sent = received[0]
    assert items == original
    assert sent[0]["content"][0]["text"] == "I am <PERSON_1>" and sent[1]["content"][0]["text"] == "Hi <PERSON_1>"
    assert sent[2]["summary"][0]["text"] == "Reply to <EMAIL_ADDRESS_1>"
    assert json.loads(sent[3]["arguments"]) == {"to": "<EMAIL_ADDRESS_1>", "count": 2}
    assert sent[4]["output"] == "sent to <EMAIL_ADDRESS_1>" and sent[5] == items[5]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "computer_call_output", "output": {"type": "input_image"}}, "'computer_call_output' cannot be"),
        ({"type": "item_reference", "id": "x", "role": "user", "content": EMAIL}, r"carries \['content', 'role'\]"),
        ({**call("{}"), "content": EMAIL}, r"carries \['content'\]"),  # a message under another type was unchecked
        ({"type": "reasoning", "summary": EMAIL}, "'summary' must be a list of text parts"),
        ({"type": "message", "role": "user", "content": "hi", "output": EMAIL}, r"carries \['output'\]"),
    ],
)
def test_an_input_item_the_guard_cannot_check_is_refused(default_guard: Guard, item: Any, message: str) -> None:
    called: list[Any] = []
    with pytest.raises(InputError, match=message):
        default_guard.wrap(lambda *, input: called.append(input))(input=[item])
    assert called == []


def test_tool_calls_refusals_and_reasoning_in_the_output_are_checked(default_guard: Guard) -> None:
    answer = response(
        {"type": "reasoning", "id": "r1", "summary": [{"type": "summary_text", "text": f"Mail {EMAIL}"}]},
        call(json.dumps({"to": EMAIL})),
        message(content=[{"type": "refusal", "refusal": EMAIL}]),
    )
    result = default_guard.wrap(lambda *, input: Response.model_validate(answer))(input="hi")

    reasoning, fc, refusal = result.output
    assert EMAIL not in reasoning.summary[0].text and EMAIL not in fc.arguments
    assert EMAIL not in refusal.content[0].refusal


def test_an_output_item_that_cannot_be_checked_is_refused(default_guard: Guard) -> None:
    answer = response({"type": "web_search_call", "id": "ws", "status": "completed"}, message("ok"))
    with pytest.raises(UncheckableAnswer, match="'web_search_call' cannot be checked"):
        default_guard.wrap(lambda *, input: answer)(input="hi")


@pytest.mark.parametrize("sdk", [False, True])
def test_a_refused_response_says_the_policy_message_and_calls_no_tool(
    make_guard: Callable[..., tuple[Guard, ListSink]], sdk: bool
) -> None:
    guard, sink = make_guard(BLOCKING)
    answer = response(message("the zorblax plan"), call('{"to": "x"}'))
    result = guard.wrap(lambda *, input: Response.model_validate(answer) if sdk else answer)(input="hi")

    output = result.model_dump()["output"] if sdk else result["output"]
    assert [item["type"] for item in output] == ["message"]
    assert output[0]["content"][0]["text"] == "Withheld."
    if sdk:
        assert result.output_text == "Withheld."
    assert sink.decisions[1].action.value == "block"


def test_an_image_in_the_output_goes_by_the_media_rule(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = make_guard(BLOCKING)
    image = {"type": "output_image", "image_url": "data:..."}
    answer = response(message("here", content=[{"type": "output_text", "text": "here"}, image]))
    result = guard.wrap(lambda *, input: answer)(input="draw")

    assert result["output"][0]["content"][0]["text"] == "Withheld."
    assert [r.label for r in sink.decisions[1].rules] == ["output_image"]


def test_a_streamed_response_yields_checked_text_and_refuses_tool_calls(default_guard: Guard) -> None:
    def events(*extra: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": response()}
        for piece in ("Write to jane.do", "e@example.com", " today"):
            yield {"type": "response.output_text.delta", "delta": piece}
        yield from extra
        yield {"type": "response.completed", "response": response()}

    text = "".join(default_guard.wrap(lambda *, input, stream: events())(input="hi", stream=True))
    assert EMAIL not in text and text.startswith("Write to <EMAIL_ADDRESS") and text.endswith(" today")

    added = {"type": "response.output_item.added", "item": {"type": "function_call", "arguments": ""}}
    with pytest.raises(UncheckableAnswer, match="calls a tool"):
        "".join(default_guard.wrap(lambda *, input, stream: events(added))(input="hi", stream=True))


def test_embeddings_inputs_are_checked_and_vectors_pass(default_guard: Guard) -> None:
    received: list[Any] = []

    def create(*, model: str, input: list[str]) -> dict[str, Any]:
        received.append(input)
        return {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]}

    result = default_guard.wrap(create)(model="e", input=[f"mail {EMAIL}", "hello"])
    assert received == [["mail <EMAIL_ADDRESS_1>", "hello"]]
    assert result["data"][0]["embedding"] == [0.1, 0.2]


def test_an_unchanged_answer_keeps_its_citations(default_guard: Guard) -> None:
    result = default_guard.wrap(lambda *, input: response(message("Hello there.")))(input="hi")
    assert result["output"][0]["content"][0]["annotations"] == [CITATION]


def test_a_streamed_error_event_says_what_failed(default_guard: Guard) -> None:
    events = [{"type": "response.output_text.delta", "delta": "Hi"}, {"type": "error", "message": "overloaded"}]
    with pytest.raises(UncheckableAnswer, match="stream failed: overloaded"):
        "".join(default_guard.wrap(lambda *, input, stream: iter(events))(input="hi", stream=True))


LEAKY = {**CITATION, "title": f"Contact {EMAIL}", "url": f"https://example.com/?mail={EMAIL}"}


@pytest.mark.parametrize(("citation", "kept"), [(LEAKY, False), (CITATION, True)])
def test_citations_are_checked_and_dropped_when_they_name_personal_data(
    default_guard: Guard, citation: dict[str, Any], kept: bool
) -> None:
    """Titles and URLs of citations reached the caller unchecked (QA); a clean one is kept."""
    part = {"type": "output_text", "text": "Hi.", "annotations": [citation]}
    answer = response(message(content=[part]))
    result = default_guard.wrap(lambda *, input: answer)(input="hi")
    assert result["output"][0]["content"][0]["annotations"] == ([citation] if kept else [])

    fields = {k: citation[k] for k in ("title", "url", "start_index", "end_index")}
    chat_message = {
        "role": "assistant",
        "content": "Hi.",
        "annotations": [{"type": "url_citation", "url_citation": fields}],
    }
    chat = default_guard.wrap(lambda **_: {"choices": [{"message": chat_message}]})(model="m", messages=[])
    assert bool(chat["choices"][0]["message"]["annotations"]) is kept
