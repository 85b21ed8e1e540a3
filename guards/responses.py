"""The OpenAI Responses API (``client.responses.create``): where its prompt and its answer carry text.

A request's ``input`` is a text or a list of items: messages (checked like chat messages), function calls sent back
(their arguments), tool outputs, reasoning summaries and references to stored items. Its ``instructions`` are a
system prompt. A response's ``output`` is a list of items: messages whose ``output_text`` parts are checked together
(one decision per message) and whose ``refusal`` parts are checked too, function and custom tool calls (their
arguments, as in ``guards.toolcalls``) and reasoning (its summary and text). An item of any other type (a built-in
tool's call) cannot be checked and is refused, never passed on unchecked.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from guards.errors import GuardError, InputError, UncheckableAnswer
from guards.objects import get_field, has_field, set_field
from guards.toolcalls import TextFn, check_arguments, checked_citations
from guards.wrapping import PromptChecks, check_answer_parts, map_messages, part_text_keys

if TYPE_CHECKING:
    from guards.session import GuardSession

_ARGUMENTS = {"function_call": "arguments", "custom_tool_call": "input"}
"""Where each kind of tool call holds the text the model wrote for the tool."""
_REASONING_PARTS = ("summary", "content")
"""A reasoning item's lists of text parts: its summary and, where the server sends it, its reasoning text."""


def is_response(result: Any) -> bool:
    """Whether a model call's result is a Responses API response (a dict or the SDK's ``Response``)."""
    return get_field(result, "object") == "response" and isinstance(get_field(result, "output"), list)


def map_input_item(item: dict[str, Any], session: PromptChecks) -> dict[str, Any]:
    """A Responses input item that is not a message, checked at ``session``'s input stage (a copy). ``InputError``
    for an item of a type whose text the guard cannot find."""
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in _INPUT_ITEM_FIELDS:
        raise InputError(f"a Responses input item of type {kind!r} cannot be checked")
    if extra := sorted(set(item) - _INPUT_ITEM_FIELDS[kind]):  # e.g. a role and content under another type
        raise InputError(f"a Responses input item of type {kind!r} carries {extra}, which it cannot hold")
    item = copy.deepcopy(item)  # the caller's own items stay as they were
    if (field := _ARGUMENTS.get(kind)) is not None:
        item[field] = check_arguments(item.get(field), lambda text: session.input(text, "assistant"))
    elif kind in ("function_call_output", "custom_tool_call_output"):
        item["output"] = _tool_output(item.get("output"), session)
    elif kind == "reasoning":
        _check_reasoning(item, lambda text: session.input(text, "assistant"), InputError)
    return item  # an item_reference names an item stored upstream: it carries no text


_ID = {"type", "id"}
_INPUT_ITEM_FIELDS: dict[str, set[str]] = {
    "function_call": {*_ID, "call_id", "name", "arguments", "status"},
    "custom_tool_call": {*_ID, "call_id", "name", "input"},
    "function_call_output": {*_ID, "call_id", "output", "status"},
    "custom_tool_call_output": {*_ID, "call_id", "output"},
    "reasoning": {*_ID, "summary", "content", "encrypted_content", "status"},
    "item_reference": _ID,
}
"""The input items, other than messages, that the guard can check, with every field each may hold."""


def _tool_output(output: Any, session: PromptChecks) -> Any:
    """A tool's output sent back: a text, or a list of parts checked like a message's."""
    if isinstance(output, str):
        return session.input(output, "tool")
    return map_messages([{"role": "tool", "content": output}], session)[0]["content"]


def check_response(result: Any, session: GuardSession) -> Any:
    """Check, in place, every item of a response's ``output`` at ``session``'s output stage; when the policy refused
    the answer (``on_block: message``), its output becomes one message with the policy's text."""
    for item in get_field(result, "output"):
        kind = get_field(item, "type")
        if kind == "message":
            _check_message(item, session)
        elif isinstance(kind, str) and (field := _ARGUMENTS.get(kind)) is not None:
            set_field(item, field, check_arguments(get_field(item, field), session.output))
        elif kind == "reasoning":
            _check_reasoning(item, session.output, UncheckableAnswer)
        else:
            raise UncheckableAnswer(f"a response output item of type {kind!r} cannot be checked")
    if session.blocked:
        return _withheld(result, session.refusal)
    if isinstance(result, dict) and "output_text" in result:  # whatever it held: the checked text
        result["output_text"] = output_text(result)
    return result


def output_text(result: Any) -> str:
    """The text of a response's ``output_text`` parts, as the SDK's ``Response.output_text`` joins them."""
    return "".join(
        get_field(part, "text") or ""
        for item in get_field(result, "output")
        if get_field(item, "type") == "message"
        for part in get_field(item, "content") or []
        if get_field(part, "type") == "output_text"
    )


_MESSAGE_FIELDS = frozenset({"type", "id", "role", "status", "content"})


def _check_message(item: Any, session: GuardSession) -> None:
    """An output message's parts checked (see ``check_answer_parts``); per-token ``logprobs`` are dropped, and
    citations are dropped when their text changed (their offsets no longer match), else checked too."""
    parts = get_field(item, "content")
    if not isinstance(parts, list):
        raise UncheckableAnswer("a response message has no list of content parts")
    if isinstance(item, dict) and (extra := sorted(set(item) - _MESSAGE_FIELDS)):
        raise UncheckableAnswer(f"a response message carries {extra}, which the guard cannot check")
    for part in parts:
        if get_field(part, "type") in ("output_text", "refusal") and not part_text_keys(part):
            raise UncheckableAnswer(f"a response's {get_field(part, 'type')} part has no text")
        if has_field(part, "logprobs"):  # their tokens spell the answer as the model wrote it
            set_field(part, "logprobs", [])
    checked = check_answer_parts(parts, session)
    first = checked.text_part
    if first is not None and has_field(first, "annotations"):
        citations = get_field(first, "annotations")
        set_field(first, "annotations", [] if checked.changed else checked_citations(citations, session.output))
    set_field(item, "content", checked.parts)


def _text(part: Any, key: str, error: type[GuardError] = UncheckableAnswer) -> str:
    text = get_field(part, key)
    if not isinstance(text, str):
        raise error(f"a {get_field(part, 'type') or 'content'} part has no '{key}' text")
    return text


def _check_reasoning(item: Any, check: TextFn, error: type[GuardError]) -> None:
    """A reasoning item's summary and reasoning texts, each checked (``error`` when they are not lists of text
    parts); its ``encrypted_content`` is opaque to everyone but the model's provider and passes as it is."""
    for key in _REASONING_PARTS:
        parts = get_field(item, key) or []
        if not isinstance(parts, list):
            raise error(f"a reasoning item's '{key}' must be a list of text parts")
        for part in parts:
            set_field(part, "text", check(_text(part, "text", error)))


_TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
_TEXT_ITEMS = ("message", "reasoning")


def event_text(event: Any) -> str:
    """The answer text of one streamed Responses event (``response.output_text.delta``, ``response.refusal.delta``;
    other events carry none). An item other than a message or reasoning raises ``UncheckableAnswer``: a wrapped
    stream yields text, so a tool call could only be dropped."""
    kind = get_field(event, "type")
    if kind in ("error", "response.failed"):
        error = get_field(event, "error") or get_field(get_field(event, "response"), "error") or event
        raise UncheckableAnswer(f"the model's stream failed: {get_field(error, 'message') or kind}")
    if kind in _TEXT_DELTAS:
        delta = get_field(event, "delta")
        return delta if isinstance(delta, str) else ""
    if kind == "response.output_item.added" and get_field(get_field(event, "item"), "type") not in _TEXT_ITEMS:
        raise UncheckableAnswer(
            "the streamed response calls a tool, and a wrapped stream yields only text: call the model without "
            "stream=True (tool calls are then checked and returned)"
        )
    return ""


def refusal_message(text: str) -> dict[str, Any]:
    """A response output item: the assistant message saying ``text`` (the policy's message)."""
    return {
        "type": "message",
        "id": "msg_ombud_refusal",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _withheld(result: Any, refusal: str) -> Any:
    """``result`` with its output replaced by one assistant message saying ``refusal`` (no tool call survives)."""
    message = refusal_message(refusal)
    if isinstance(result, dict):
        return {**result, "output": [message], **({"output_text": refusal} if "output_text" in result else {})}
    validate = getattr(type(result), "model_validate", None)
    if callable(validate):  # the SDK's pydantic Response: rebuilt, so that its own output_text reads the message
        return validate({**result.model_dump(), "output": [message]})
    set_field(result, "output", [message])
    return result
