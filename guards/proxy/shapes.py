"""OpenAI request and response shapes: where the prompt and the answer live, and how refusals and chunks look."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from guards.errors import GuardError, InputError, UncheckableAnswer
from guards.proxy.errors import bad_request, upstream_error
from guards.responses import check_response, is_response, refusal_message
from guards.types import Stage
from guards.wrapping import (
    check_message,
    drop_logprobs,
    map_messages,
    map_prompt_value,
)

if TYPE_CHECKING:
    from guards.session import GuardSession

logger = logging.getLogger(__name__)

MAX_SUBJECT_ATTRIBUTES = 32
MAX_SUBJECT_VALUE = 256


@dataclass(frozen=True, slots=True)
class Kind:
    """One OpenAI endpoint the proxy guards."""

    name: str
    path: str
    object: str
    chunk_object: str

    @property
    def chat(self) -> bool:
        """True for chat completions (messages), false for text completions (prompt) and embeddings (input)."""
        return self.name == "chat"

    @property
    def prompt_field(self) -> str:
        """The request field holding the texts of a non-chat endpoint."""
        return "input" if self.name in ("embedding", "responses") else "prompt"

    @property
    def budget_fields(self) -> tuple[str, ...]:
        """The request fields that cap the answer's tokens (the last one is set when the client sets none)."""
        chat = ("max_completion_tokens", "max_tokens")
        return (*chat, "max_output_tokens") if self.name == "responses" else chat  # the chat names too: any may count


CHAT = Kind("chat", "/chat/completions", "chat.completion", "chat.completion.chunk")
COMPLETION = Kind("completion", "/completions", "text_completion", "text_completion")
EMBEDDING = Kind("embedding", "/embeddings", "list", "")
"""Embeddings: the input texts are checked (what reaches a vector store is redacted); the vectors are not text."""
RESPONSES = Kind("responses", "/responses", "response", "")
"""The Responses API: ``instructions`` and ``input`` items in, ``output`` items out (see ``guards.responses``)."""


def parse_body(raw: bytes) -> dict[str, Any]:
    """The request's JSON object; 400 when it is not one."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return body


def prompt_texts(kind: Kind, body: Mapping[str, Any]) -> list[str]:
    """Every prompt text of the request (validating its shape); 400 when the prompt is missing or unreadable."""
    if kind.chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise bad_request("'messages' must be a non-empty list of chat messages", param="messages")
        collector = _Collector()
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise bad_request(f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]")
            try:  # walked as the check walks it: every text it will check is counted, every shape it refuses a 400
                map_messages([message], collector)
            except GuardError as exc:
                raise bad_request(f"messages[{i}]: {exc}", param=f"messages[{i}]") from exc
        return collector.texts
    if kind is RESPONSES:
        return _response_prompt_texts(body)
    field = kind.prompt_field
    prompt = body.get(field)
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return list(prompt)
    raise bad_request(f"'{field}' must be a string or a list of strings (token arrays cannot be checked)", param=field)


class _Collector:
    """Gathers the texts a prompt check would see, to measure and validate a request before any scanner runs."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def input(self, text: str | bytes, role: str | None = None) -> str:
        """Keep ``text`` (a request's texts are strings) and pass it on unchanged."""
        self.texts.append(str(text))
        return str(text)

    def media(self, kinds: Sequence[str], stage: Stage) -> str | None:
        """Parts without text are left to the policy's ``media`` rule when the request is checked."""
        return None


def _response_prompt_texts(body: Mapping[str, Any]) -> list[str]:
    """The texts of a Responses request (``instructions`` and every ``input`` item), walked as the check walks them,
    so that a shape the check would refuse is a 400 here."""
    instructions, prompt = body.get("instructions"), body.get("input")
    if body.get("prompt") is not None:  # its variables are texts and files the upstream fills in
        raise bad_request("a prompt template cannot be checked: send its text in 'input'", param="prompt")
    if instructions is not None and not isinstance(instructions, str):
        raise bad_request("'instructions' must be a string", param="instructions")
    if not isinstance(prompt, str) and not (isinstance(prompt, list) and prompt):
        raise bad_request("'input' must be a string or a non-empty list of items", param="input")
    collector = _Collector()
    if instructions is not None:
        collector.input(instructions)
    try:
        map_prompt_value(prompt, collector)
    except GuardError as exc:
        raise bad_request(f"the request cannot be checked: {exc}", param="input") from exc
    return collector.texts


def check_prompt(kind: Kind, body: Mapping[str, Any], session: GuardSession) -> dict[str, Any]:
    """The request with every prompt text checked at ``session``'s input stage (text completions: role ``user``;
    chat messages: every role, see ``map_messages``)."""
    out = dict(body)
    field = kind.prompt_field
    if kind is RESPONSES:
        if isinstance(body.get("instructions"), str):
            out["instructions"] = session.input(body["instructions"], "system")
        out[field] = map_prompt_value(body[field], session)  # as guard.wrap checks it
    elif kind.chat:
        out["messages"] = map_messages(body["messages"], session)
    elif isinstance(body[field], str):
        out[field] = session.input(body[field], "user")
    else:
        out[field] = [session.input(p, "user") for p in body[field]]
    return out


def check_answer(kind: Kind, payload: Mapping[str, Any], session: GuardSession) -> dict[str, Any]:
    """The upstream's completion with every choice's text checked at ``session``'s output stage (a chat answer
    given as a list of parts: see ``check_content``). An answer whose text cannot be found is refused (502), never
    passed on unchecked."""
    try:
        if kind is RESPONSES:
            if not is_response(payload):
                raise UncheckableAnswer("the answer is not a response object with an 'output' list")
            return check_response(copy.deepcopy(dict(payload)), session)
        choices = payload.get("choices")
        if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
            raise UncheckableAnswer("'choices' is not a list of objects")
        mapped = []
        for choice in choices:
            if kind.chat:
                message = choice.get("message")
                if not isinstance(message, dict):
                    raise UncheckableAnswer("a choice has no 'message' object")
                message = dict(message)
                check_message(message, session)
                choice = {**choice, "message": message}
            else:
                if not isinstance(choice.get("text"), str):
                    raise UncheckableAnswer("a choice has no 'text' string")
                if "message" in choice or "tool_calls" in choice:
                    raise UncheckableAnswer("a text completion's choice carries a message or tool calls")
                choice = {**choice, "text": session.output(choice["text"])}
            drop_logprobs(choice)
            mapped.append(choice)
    except (UncheckableAnswer, InputError) as exc:  # InputError: text the guard cannot take (a lone surrogate)
        raise upstream_error(f"the upstream's answer cannot be checked: {exc}") from exc
    return {**payload, "choices": mapped}


def completion(kind: Kind, *, request_id: str, model: str, text: str, finish_reason: str) -> dict[str, Any]:
    """A whole completion answered by the proxy itself (the policy's refusal message)."""
    if kind is RESPONSES:
        return {
            "id": f"resp_ombud_{request_id}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "completed",
            "output": [refusal_message(text)],
            "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0},
        }
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    if kind.chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {
        "id": f"ombud-{request_id}",
        "object": kind.object,
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def chunk(
    kind: Kind,
    template: Mapping[str, Any],
    text: str | None,
    *,
    role: bool = False,
    finish_reason: str | None = None,
    tool_calls: list[Any] | None = None,
) -> dict[str, Any]:
    """One streamed chunk carrying ``text`` (chat: or the upstream's ``tool_calls`` delta), shaped like the
    upstream's own chunks (``template``)."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
    if kind.chat:
        delta: dict[str, Any] = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        if tool_calls is not None:
            delta["tool_calls"] = tool_calls
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    return {
        "id": template.get("id", "ombud"),
        "object": kind.chunk_object,
        "created": template.get("created", int(time.time())),
        "model": template.get("model", ""),
        "choices": [choice],
    }


def parse_subject(header: str | None, metadata: Any) -> dict[str, str]:
    """Subject attributes for the audit from the request's ``metadata`` object and the
    ``X-Ombud-Subject: key=value;key=value`` header (the header wins)."""
    subject: dict[str, str] = {}
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise bad_request("'metadata' must be an object of string values", param="metadata")
        subject.update({str(k): str(v) for k, v in metadata.items() if v is not None})
    for item in (header or "").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise bad_request("X-Ombud-Subject must look like 'key=value;key=value'", code="invalid_subject")
        subject[key.strip()] = value.strip()
    if len(subject) > MAX_SUBJECT_ATTRIBUTES or any(
        len(k) > 64 or len(v) > MAX_SUBJECT_VALUE for k, v in subject.items()
    ):
        raise bad_request(
            f"at most {MAX_SUBJECT_ATTRIBUTES} subject attributes, keys up to 64 and values up to "
            f"{MAX_SUBJECT_VALUE} characters",
            code="invalid_subject",
        )
    kept = {k: v for k, v in subject.items() if not _DIRECT_IDENTIFIER.search(v)}
    if dropped := tuple(sorted(set(subject) - set(kept))):  # the audit log keeps subject attributes as given
        _warn_dropped(dropped)
    return kept


@lru_cache(maxsize=256)
def _warn_dropped(names: tuple[str, ...]) -> None:
    """Log once (per set of attribute names) that identifier-like subject attributes were not recorded."""
    logger.warning("subject attribute(s) %s look like direct identifiers and are not recorded", list(names))


_DIRECT_IDENTIFIER = re.compile(r"[^@\s]+@[^@\s]+\.\w+|\d(?:[\s().+-]?\d){8,}")
"""An e-mail address or a number of nine digits or more (phone, card, account, social security number): OpenAI
clients often put such values in ``metadata``, but subject attributes are categories (age band, region, a date)."""


def pseudonymous_user(user: Any, key: bytes, field: str) -> str:
    """The end-user id a request sends upstream in ``field`` (``user``, ``safety_identifier``) as a keyed hash: stable
    per user, so the upstream can still tell users apart, but not the id itself (often an e-mail address). Hashed in
    its own domain, so it never equals the ``hash`` redaction operator's digest of the same value."""
    if not isinstance(user, str):
        raise bad_request(f"'{field}' must be a string", param=field)
    return "ombud-" + hmac.new(key, b"ombud-end-user\0" + user.encode(), hashlib.sha256).hexdigest()[:32]


def _first_choice(event: Mapping[str, Any]) -> dict[str, Any]:
    """A streamed chunk's first choice, or an empty one when the chunk has none."""
    choices = event.get("choices")
    return choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}


def delta_text(event: Mapping[str, Any]) -> str:
    """The text of a streamed chunk's first choice (chat ``delta.content`` or completion ``text``)."""
    choice = _first_choice(event)
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return content if isinstance(content, str) else ""


def delta_tool_calls(event: Mapping[str, Any]) -> list[Any] | None:
    """The ``tool_calls`` delta of a streamed chat chunk's first choice, if it has one."""
    delta = _first_choice(event).get("delta")
    calls = delta.get("tool_calls") if isinstance(delta, dict) else None
    return calls if isinstance(calls, list) else None


def delta_function_call(event: Mapping[str, Any]) -> bool:
    """Whether a streamed chat chunk carries a legacy ``function_call`` delta."""
    delta = _first_choice(event).get("delta")
    return isinstance(delta, dict) and delta.get("function_call") is not None


def finish_reason(event: Mapping[str, Any]) -> str | None:
    """The first choice's finish reason in a streamed chunk, if it has one."""
    reason = _first_choice(event).get("finish_reason")
    return reason if isinstance(reason, str) else None
