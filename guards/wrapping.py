"""Guarding a model call of any common shape: plain functions, OpenAI-style clients, transformers pipelines, streams."""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from guards.errors import GuardError, InputError, UncheckableAnswer
from guards.objects import get_field, has_field, set_field
from guards.toolcalls import (
    TextFn,
    check_tool_calls,
    checked_citations,
    checked_copy,
    has_tool_calls,
    withdraw_tool_calls,
)
from guards.types import Stage

if TYPE_CHECKING:
    from guards.guard import Guard
    from guards.session import GuardSession
    from guards.types import CallContext


def wrap_callable(guard: Guard, fn: Callable[..., Any], *, prompt_arg: str | None, context: CallContext | None) -> Any:
    """A function with ``fn``'s signature that checks the prompt, calls ``fn`` and checks its answer."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def async_stream_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[str]:
            async with guard.session(context=context) as session:
                args, kwargs = map_prompt(fn, args, kwargs, session, prompt_arg)
                if session.blocked:
                    yield session.refusal
                    return
                async with aclosing(session.astream(_chunk_texts_async(fn(*args, **kwargs)))) as pieces:
                    async for piece in pieces:  # closed here, so a caller that stops early still gets a decision
                        yield piece

        return async_stream_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            async with guard.session(context=context) as session:
                args, kwargs = map_prompt(fn, args, kwargs, session, prompt_arg)
                if session.blocked:
                    return session.refusal
                result = await fn(*args, **kwargs)
                if isinstance(result, AsyncIterator):
                    return session.astream(_chunk_texts_async(result))
                return map_answer(result, session)

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with guard.session(context=context) as session:
            args, kwargs = map_prompt(fn, args, kwargs, session, prompt_arg)
            if session.blocked:
                return session.refusal
            return map_answer(fn(*args, **kwargs), session)

    return wrapper


class PromptChecks(Protocol):
    """What checking a prompt needs (a ``GuardSession`` at its input stage): texts checked with their chat role, and
    the policy's ``media`` rule for parts without text."""

    def input(self, text: str | bytes, role: str | None = None) -> str:
        """The text that may be sent to the model."""
        ...

    def media(self, kinds: Sequence[str], stage: Stage) -> str | None:
        """None when parts of these types may pass, else the policy's message (or ``Blocked``)."""
        ...


PROMPT_ARGS = ("messages", "prompt", "input", "inputs", "text_inputs")
"""Keyword arguments taken for the prompt when ``prompt_arg`` is not given, in this order (``input``: the Responses
and embeddings APIs)."""


def map_prompt(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    session: GuardSession,
    prompt_arg: str | None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Check the prompt wherever the call carries it (``session``'s input stage); return the new arguments."""
    if isinstance(kwargs.get("prompt"), dict):  # a Responses prompt template: the upstream fills in its variables
        raise InputError("a prompt template cannot be checked: send its text in input")
    if (instructions := kwargs.get("instructions")) is not None:  # the Responses API's system prompt
        if not isinstance(instructions, str):
            raise InputError(f"instructions must be text, not {type(instructions).__name__}")
        kwargs = {**kwargs, "instructions": session.input(instructions, "system")}
    if prompt_arg is None:
        prompt_arg = next((k for k in PROMPT_ARGS if k in kwargs), None)
    if prompt_arg is not None and prompt_arg not in kwargs:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        if prompt_arg not in bound.arguments:
            raise GuardError(f"{_name(fn)} was called without its prompt argument {prompt_arg!r}")
        bound.arguments[prompt_arg] = map_prompt_value(bound.arguments[prompt_arg], session)
        return bound.args, bound.kwargs
    if prompt_arg is not None:
        return args, {**kwargs, prompt_arg: map_prompt_value(kwargs[prompt_arg], session)}
    if args:
        return (map_prompt_value(args[0], session), *args[1:]), kwargs
    raise GuardError(f"cannot find the prompt in the call to {_name(fn)}: pass prompt_arg= to guard.wrap")


def map_prompt_value(value: Any, session: PromptChecks) -> Any:
    """Check a prompt given as text, a list of texts (embeddings), or chat messages (dicts, or SDK message objects
    such as an earlier answer's ``choices[0].message`` appended to the history: those are passed on as dicts;
    Responses API input items too)."""
    if isinstance(value, str | bytes):
        return session.input(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [session.input(v) for v in value]
    if isinstance(value, list):
        messages = [_message_dict(m) for m in value]
        if all(isinstance(m, dict) and ("role" in m or "type" in m) for m in messages):
            return map_messages(messages, session)
    raise GuardError(f"the prompt must be text or a list of chat messages, got {type(value).__name__}")


def _message_dict(message: Any) -> Any:
    """An SDK message object (pydantic) as the dict its API accepts; anything else as it is."""
    dump = getattr(message, "model_dump", None)
    return dump(exclude_none=True) if callable(dump) and not isinstance(message, dict) else message


def map_messages(messages: list[dict[str, Any]], session: PromptChecks) -> list[dict[str, Any]]:
    """Chat messages with every text checked at ``session``'s input stage, with the message's role.

    Every role is checked, assistant and tool turns included: a caller that sends back an earlier answer,
    pseudonyms restored, would otherwise hand the model the personal data the guard kept from it. Parts that no
    scanner can read (images, audio, files) go by the policy's ``media`` rule. Content of any other shape raises
    ``InputError``.
    """
    return [_map_message(m, session) for m in messages]


def _map_message(message: dict[str, Any], session: PromptChecks) -> dict[str, Any]:
    if message.get("type", "message") != "message":
        from guards.responses import map_input_item  # it builds on this module

        return map_input_item(message, session)
    if message.get("type") == "message" and (extra := sorted(set(message) - _RESPONSES_MESSAGE_FIELDS)):
        raise InputError(f"a Responses message item carries {extra}, which it cannot hold")
    content, role = message.get("content"), message.get("role")
    if not isinstance(role, str):
        raise InputError("a chat message needs a 'role' string")
    check = functools.partial(session.input, role=role)
    if message.get("name") is not None:  # a participant's name ("Jane_Doe") is personal data like any text
        message = _with_checked_name(message, check)
    if has_tool_calls(message):  # arguments sent back to the model are checked like its text (a copy: not the caller's)
        message = checked_copy(message, check)
    for key in ANSWER_TEXT_FIELDS:  # an earlier answer's refusal or reasoning sent back
        if (text := message.get(key)) is not None:
            if not isinstance(text, str):
                raise InputError(f"a {role} message's '{key}' is not text")
            message = {**message, key: check(text)}
    if isinstance(content, str):
        return {**message, "content": check(content)}
    if content is None:
        return message
    kinds = unreadable_parts(content)
    if kinds is None:
        raise InputError(f"a {role} message's content is neither text, a list of parts ({PARTS}) nor null")
    if kinds:
        session.media(kinds, Stage.INPUT)
    return {**message, "content": [_checked_part(p, check) for p in content]}


_RESPONSES_MESSAGE_FIELDS = frozenset({"type", "id", "role", "content", "status"})
"""Every field of a Responses API input message item (``type: message``); any other is not half checked."""


def _checked_part(part: dict[str, Any], check: Callable[[str], str]) -> dict[str, Any]:
    """A content part with each of its texts (``text``, ``refusal``) checked; a part without text as is."""
    return {**part, **{key: check(part[key]) for key in part_text_keys(part)}}


_NAME_SEPARATORS = str.maketrans("_-", "  ")
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]+")


def _with_checked_name(message: dict[str, Any], check: Callable[[str], str]) -> dict[str, Any]:
    """``message`` with its ``name`` checked as text, its words apart (``Jane_Doe`` as ``Jane Doe``). A name the
    policy changes becomes the checked text in the characters a name may hold (``<PERSON_1>`` → ``PERSON_1``), or
    goes when none is left."""
    name = message["name"]
    if not isinstance(name, str):
        raise InputError(f"a message's 'name' must be a string, not {type(name).__name__}")
    spaced = name.translate(_NAME_SEPARATORS)
    checked = check(spaced)
    if checked == spaced:
        return message
    kept = _NOT_IN_NAMES.sub("", checked.strip().replace(" ", "_"))
    return {k: kept if k == "name" else v for k, v in message.items() if k != "name" or kept}


TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text", "refusal"})
"""Content part types that carry text: in ``text``, a refusal part in ``refusal``."""
_TEXT_KEYS = ("text", "refusal")
_JOINED_TYPES = frozenset({None, "text", "input_text", "output_text"})


def part_text_keys(part: Any) -> list[str]:
    """The keys of a content part (a dict or an SDK object) that hold text: ``text`` and ``refusal``, whatever its
    type says, so that no spelling of a text skips the guard."""
    return [key for key in _TEXT_KEYS if isinstance(get_field(part, key), str)]


def is_text_part(part: Any) -> bool:
    """Whether a part's ``text`` is part of the message's text: a text type (``text``, ``input_text``,
    ``output_text``), or no type at all, and a string ``text``."""
    return isinstance(get_field(part, "text"), str) and get_field(part, "type") in _JOINED_TYPES


PARTS = "objects; a text part with its text string"
_PART_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def unreadable_parts(content: Any) -> tuple[str, ...] | None:
    """The types of the parts of a list ``content`` that go by the policy's ``media`` rule — every part whose type
    is not a text type, even if it also carries a ``text`` (which is checked too), and an untyped part without text
    (``unknown`` for a type that is not a plain name, since it is recorded) — or None when ``content`` is not a list
    of parts: a part that is not an object, or a text-typed part without its text string."""
    if not isinstance(content, list) or not all(isinstance(p, dict) for p in content):
        return None
    if any(_text_missing(p) for p in content):
        return None
    return media_kinds(content)


def _text_missing(part: dict[str, Any]) -> bool:
    """Whether a text-typed part lacks its text string (a refusal part's is in ``refusal``)."""
    kind = part.get("type")
    if kind == "refusal":
        return not isinstance(part.get("refusal"), str)
    return kind in TEXT_PART_TYPES and not isinstance(part.get("text"), str)


def media_kinds(parts: list[Any]) -> tuple[str, ...]:
    """The types, as the audit records them, of the parts (dicts or SDK objects) that go by the ``media`` rule."""
    return tuple(
        part_kind(kind)
        for p in parts
        if (kind := get_field(p, "type")) not in TEXT_PART_TYPES and (kind is not None or not part_text_keys(p))
    )


def part_kind(value: Any) -> str:
    """A content part's ``type`` as the audit records it: a plain name (``image_url``), else ``unknown``."""
    return value if isinstance(value, str) and _PART_TYPE.fullmatch(value) else "unknown"


def map_answer(result: Any, session: GuardSession) -> Any:
    """Check the answer wherever the result carries it: text, OpenAI-style chat or text completion, Responses API
    response, pipeline output, stream. Embeddings (vectors, not text) pass as they are."""
    from guards.responses import check_response, is_response  # it builds on this module

    if isinstance(result, str | bytes):
        return session.output(result)
    if isinstance(result, Iterator):
        return session.stream(_chunk_texts(result))
    if has_field(result, "choices"):
        return _map_choices(result, session)
    if is_response(result):
        return check_response(copy.deepcopy(result), session)
    if _is_embeddings(result):
        return result
    if isinstance(result, list) and result and all(isinstance(r, dict) and "generated_text" in r for r in result):
        return [{**r, "generated_text": _map_generated(r["generated_text"], session.output)} for r in result]
    raise GuardError(f"cannot find the answer text in a {type(result).__name__} returned by the model call")


def _is_embeddings(result: Any) -> bool:
    data = get_field(result, "data")
    return isinstance(data, list) and all(get_field(d, "object") == "embedding" for d in data)


def _map_choices(result: Any, session: GuardSession) -> Any:
    result = copy.deepcopy(result)
    for choice in get_field(result, "choices"):
        message = get_field(choice, "message")
        if message is not None:
            check_message(message, session)
        elif isinstance(get_field(choice, "text"), str):
            set_field(choice, "text", session.output(get_field(choice, "text")))
        else:
            raise UncheckableAnswer("a choice has neither a message nor a text")
        drop_logprobs(choice)
    if session.blocked:
        for choice in get_field(result, "choices"):
            withhold_tool_calls(choice, session.refusal)
    return result


ANSWER_TEXT_FIELDS = ("refusal", "reasoning_content", "reasoning")
"""Text fields of an answer message besides ``content`` (a refusal, the model's reasoning as servers send it)."""


def check_message(message: Any, session: GuardSession) -> None:
    """Check a chat answer's message in place at ``session``'s output stage: its ``content`` (see
    ``check_content``), its citations, its ``refusal`` and reasoning texts when present, and its tool calls'
    arguments (see ``guards.toolcalls``). An audio answer is refused: its sound cannot be checked, only its
    transcript."""
    if get_field(message, "audio") is not None:
        raise UncheckableAnswer("an audio answer cannot be checked (only text can)")
    set_field(message, "content", check_content(get_field(message, "content"), session))
    if get_field(message, "annotations"):  # web citations: titles and URLs are text the caller gets
        set_field(message, "annotations", checked_citations(get_field(message, "annotations"), session.output))
    for key in ANSWER_TEXT_FIELDS:
        text = get_field(message, key)
        if text is not None and not isinstance(text, str):
            raise UncheckableAnswer(f"the answer's '{key}' is not text")
        if text:
            set_field(message, key, session.output(text))
    check_tool_calls(message, session.output)


def drop_logprobs(choice: Any) -> None:
    """Remove a choice's per-token log probabilities: their tokens spell the answer as the model wrote it."""
    if get_field(choice, "logprobs") is not None:
        set_field(choice, "logprobs", None)


def withhold_tool_calls(choice: Any, refusal: str) -> None:
    """In a refused answer, a choice calls no tool: its tool calls are withdrawn, the policy's message takes their
    place and ``finish_reason`` says ``content_filter``."""
    message = get_field(choice, "message")
    if message is not None and has_tool_calls(message):
        withdraw_tool_calls(message, refusal)
        set_field(choice, "finish_reason", "content_filter")


def check_content(content: Any, session: GuardSession) -> Any:
    """A chat answer's ``content`` checked: a string, ``None`` (tool calls only: no text) or a list of parts (see
    ``check_answer_parts``: changed in place, as the message holding them is; refused by the ``media`` rule: the
    policy's message is the content). Any other shape raises ``UncheckableAnswer``."""
    if content is None:
        return None
    if isinstance(content, str):
        return session.output(content)
    if unreadable_parts(content) is None:
        raise UncheckableAnswer(f"a message's 'content' is neither text, a list of parts ({PARTS}) nor null")
    checked = check_answer_parts(content, session)
    return checked.parts if checked.refusal is None else checked.refusal


@dataclass(frozen=True, slots=True)
class CheckedParts:
    """An answer's parts once checked: those to send, the one that took the joined text (None without text), whether
    that text changed, and the policy's message when the ``media`` rule refused a part."""

    parts: list[Any]
    text_part: Any
    changed: bool
    refusal: str | None


def check_answer_parts(parts: list[Any], session: GuardSession) -> CheckedParts:
    """Check the parts (dicts or SDK objects, changed in place) of an answer message at ``session``'s output stage:
    its text parts (``is_text_part``) together as one text, which the first of them takes (the others go); every
    other text a part holds (a refusal, a text beside an image) on its own; parts of other types by the ``media``
    rule (kept when it lets them pass)."""
    kinds = media_kinds(parts)
    refusal = session.media(kinds, Stage.OUTPUT) if kinds else None
    texts = [p for p in parts if is_text_part(p)]
    for part in parts:
        for key in part_text_keys(part):
            if not (key == "text" and is_text_part(part)):
                set_field(part, key, session.output(get_field(part, key)))
    if not texts:
        return CheckedParts(parts, None, False, refusal)
    joined = "".join(get_field(p, "text") for p in texts)
    checked = session.output(joined)
    first = texts[0]
    set_field(first, "text", checked)
    kept = [p for p in parts if p is first or not is_text_part(p)]
    return CheckedParts(kept, first, checked != joined or len(texts) > 1, refusal)


def _map_generated(generated: Any, check: TextFn) -> Any:
    if isinstance(generated, str):
        return check(generated)
    if isinstance(generated, list) and generated and isinstance(generated[-1], dict):
        return [*generated[:-1], {**generated[-1], "content": check(generated[-1]["content"])}]
    raise GuardError("unsupported generated_text in pipeline output")


def _chunk_texts(chunks: Iterator[Any]) -> Iterator[str]:
    for chunk in chunks:
        if text := chunk_text(chunk):
            yield text


async def _chunk_texts_async(chunks: AsyncIterator[Any]) -> AsyncIterator[str]:
    async for chunk in chunks:
        if text := chunk_text(chunk):
            yield text


def chunk_text(chunk: Any) -> str:
    """The text of one streamed chunk: a string, or an OpenAI-style chunk's first delta content. A chunk carrying
    tool calls raises ``UncheckableAnswer``: a wrapped stream yields text, so its tool calls could only be dropped
    (the guard proxy checks and passes on streamed tool calls)."""
    if isinstance(chunk, str):
        return chunk
    kind = get_field(chunk, "type")
    if isinstance(kind, str) and (kind.startswith("response.") or kind == "error"):
        from guards.responses import event_text  # it builds on this module

        return event_text(chunk)
    if has_field(chunk, "choices"):
        choices = get_field(chunk, "choices")
        if not choices:
            return ""
        if len(choices) > 1:
            raise UncheckableAnswer("a wrapped stream yields one answer's text: ask for one choice (n=1)")
        delta = get_field(choices[0], "delta")
        if delta is not None and has_tool_calls(delta):
            raise UncheckableAnswer(
                "the streamed answer calls a tool, and a wrapped stream yields only text: call the model without "
                "stream=True (tool calls are then checked and returned), or guard it through the proxy"
            )
        if delta is None:
            return get_field(choices[0], "text") or ""
        return get_field(delta, "content") or get_field(delta, "refusal") or ""
    raise GuardError(f"cannot read text from a streamed {type(chunk).__name__}")


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))
