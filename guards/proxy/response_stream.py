"""Streaming the Responses API through the guard.

The upstream's text deltas (``response.output_text.delta``, ``response.refusal.delta``) are guarded as one answer
text, as chat streams are; its other output items (tool calls, reasoning) are collected and checked whole once it
ends. What the client gets is an event sequence written anew, numbered in order: the upstream's response created,
one assistant message whose text arrives in guarded deltas, the checked items, and the completed response whose
``output`` holds exactly what was sent. An item the guard cannot check (a built-in tool's call) ends the stream with
an error event, as a block does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from guards.errors import UncheckableAnswer
from guards.proxy.errors import upstream_error
from guards.responses import check_response, output_text, refusal_message
from guards.session import GuardSession

TEXT_DELTAS = ("response.output_text.delta", "response.refusal.delta")
ENDINGS = ("response.completed", "response.incomplete")
"""Events that end an upstream Responses stream normally (``response.failed`` ends it with an error)."""


def stream_finished(event: Mapping[str, Any]) -> bool:
    """Whether an upstream Responses event ends its stream."""
    return event.get("type") in (*ENDINGS, "response.failed")


class ResponseEvents:
    """The events of one guarded Responses stream, as SSE bytes: numbered, and shaped after the upstream's response
    (its id, so that ``previous_response_id`` still works, its model and creation time)."""

    def __init__(self, request_id: str) -> None:
        self.response: dict[str, Any] = {"id": f"resp_ombud_{request_id}", "object": "response", "output": []}
        self.message = {**refusal_message(""), "id": f"msg_ombud_{request_id}", "status": "in_progress"}
        self.text = ""
        self._sequence = 0
        self.started = False

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self._sequence}
        self._sequence += 1
        return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"

    def _where(self) -> dict[str, Any]:
        return {"item_id": self.message["id"], "output_index": 0, "content_index": 0}

    def start(self) -> bytes:
        """The response created, and its message with one empty text part opened (the first time only)."""
        if self.started:
            return b""
        self.started = True
        response = {**self.response, "status": "in_progress", "output": []}
        opened = {**self.message, "content": []}
        part = {"type": "output_text", "text": "", "annotations": []}
        return (
            self._event("response.created", response=response)
            + self._event("response.output_item.added", output_index=0, item=opened)
            + self._event("response.content_part.added", **self._where(), part=part)
        )

    def delta(self, text: str) -> bytes:
        """A guarded piece of the answer's text."""
        self.text += text
        return self._event("response.output_text.delta", **self._where(), delta=text)

    def finish(self, items: list[dict[str, Any]]) -> bytes:
        """The message closed with its whole text, the checked ``items`` after it, and the completed response."""
        part = {"type": "output_text", "text": self.text, "annotations": []}
        message = {**self.message, "status": "completed", "content": [part]}
        out = (
            self._event("response.output_text.done", **self._where(), text=self.text)
            + self._event("response.content_part.done", **self._where(), part=part)
            + self._event("response.output_item.done", output_index=0, item=message)
        )
        for index, item in enumerate(items, start=1):
            out += self._event("response.output_item.added", output_index=index, item=item)
            out += self._event("response.output_item.done", output_index=index, item=item)
        status = self.response.get("status") if self.response.get("status") in ("completed", "incomplete") else None
        done = {**self.response, "status": status or "completed", "output": [message, *items]}
        kind = "response.incomplete" if done["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, response=done)

    def error(self, body: Mapping[str, Any]) -> bytes:
        """An error event carrying a proxy error's ``{"error": {...}}`` body."""
        error = dict(body.get("error") or {})
        return self._event("error", **{k: v for k, v in error.items() if k != "type"})


async def upstream_texts(
    events: AsyncIterator[dict[str, Any]], writer: ResponseEvents, items: list[dict[str, Any]]
) -> AsyncIterator[str]:
    """The answer text of an upstream Responses stream; its response object goes to ``writer.response`` and its
    non-message output items to ``items`` (as its completed response lists them: those it never streamed too, and
    its text when it streamed none). A failure (``response.failed``, an ``error`` event, a stream that ends without
    a completed response) raises a 502 ``ProxyError``."""
    streamed_text = False
    async for event in events:
        kind = event.get("type")
        if kind == "response.created" and isinstance(event.get("response"), dict):
            writer.response.update(_without_output(event["response"]))
        elif kind in ENDINGS and isinstance(done := event.get("response"), dict):
            writer.response.update(_without_output(done))
            output: list[Any] = done["output"] if isinstance(done.get("output"), list) else []
            if output:  # the upstream's own account of its answer, when it gives one
                items[:] = [item for item in output if not (isinstance(item, dict) and item.get("type") == "message")]
            if not streamed_text and (text := output_text({"output": output})):
                yield text
            return
        elif kind in ("response.failed", "error"):
            error = (event.get("response") or {}).get("error") or event
            raise upstream_error(f"the upstream's response failed: {error.get('message', error)}")
        elif kind in TEXT_DELTAS and isinstance(event.get("delta"), str):
            streamed_text = True
            yield event["delta"]
        elif kind == "response.output_item.done" and isinstance(item := event.get("item"), dict):
            items.extend([item] if item.get("type") != "message" else [])
    raise upstream_error("the upstream's response stream ended without a completed response")


def _without_output(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in ("output", "output_text")}


def checked_items(items: list[dict[str, Any]], session: GuardSession) -> list[dict[str, Any]]:
    """The stream's other output items checked whole (none when the answer was refused); a 502 ``ProxyError`` for
    one the guard cannot check."""
    if session.blocked:
        return []
    try:
        checked = check_response({"object": "response", "output": items}, session)
    except UncheckableAnswer as exc:
        raise upstream_error(f"the upstream's answer cannot be checked: {exc}") from exc
    return [] if session.blocked else list(checked["output"])
