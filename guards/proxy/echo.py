"""A deterministic OpenAI-compatible echo server that records what it receives: for tests, benchmarks and trying the
proxy without a model. It answers ``You said: <last prompt>``, or the scripted replies queued in ``EchoUpstream``."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

_ids = itertools.count(1)


@dataclass(frozen=True)
class RawReply:
    """A scripted HTTP answer sent as is (for answers an OpenAI server might send but the echo never writes)."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"

    def response(self) -> Response:
        """This answer as the HTTP response the echo sends."""
        return Response(self.body, self.status, self.headers, media_type=self.media_type)


@dataclass
class EchoUpstream:
    """The echo server's state. ``replies``: queued answers (a string, a list of stream chunks, or a ``RawReply``)
    used before echoing; ``hold``: when set to an unset Event, requests wait on it (to test timeouts and
    concurrency); ``arrived`` is set whenever a request comes in; ``received`` keeps every request body (when
    ``record``)."""

    chunk_size: int = 8
    received: list[dict[str, Any]] = field(default_factory=list)
    record: bool = True
    replies: deque[str | list[str] | RawReply] = field(default_factory=deque)
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    fail_status: int | None = None

    def answer(self, body: dict[str, Any]) -> list[str] | RawReply:
        """The chunks of the answer to ``body``, or the scripted raw answer."""
        reply = self.replies.popleft() if self.replies else f"You said: {_last_prompt(body)}"
        if isinstance(reply, list | RawReply):
            return reply
        return [reply[i : i + self.chunk_size] for i in range(0, len(reply), self.chunk_size)] or [""]

    def app(self) -> FastAPI:
        """The ASGI app serving ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``/v1/responses``
        and ``/v1/models``."""
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

        async def arrive(request: Request) -> dict[str, Any]:
            body = await request.json()
            if self.record:
                self.received.append(body)
            self.arrived.set()
            if self.hold is not None:
                await asyncio.to_thread(self.hold.wait)
            return body

        def failure() -> Response | None:
            if self.fail_status:
                return JSONResponse({"error": {"message": "scripted failure"}}, status_code=self.fail_status)
            return None

        async def complete(request: Request) -> Response:
            body = await arrive(request)
            if (failed := failure()) is not None:
                return failed
            chat = request.url.path.endswith("/chat/completions")
            chunks = self.answer(body)
            if isinstance(chunks, RawReply):
                return chunks.response()
            if body.get("stream"):
                return StreamingResponse(_stream(chat, body, chunks), media_type="text/event-stream")
            return JSONResponse(_completion(chat, body, "".join(chunks)))

        async def embeddings(request: Request) -> Response:
            body = await arrive(request)
            if (failed := failure()) is not None:
                return failed
            if self.replies and isinstance(raw := self.replies[0], RawReply):
                self.replies.popleft()
                return raw.response()
            texts = [body["input"]] if isinstance(body.get("input"), str) else list(body.get("input") or [])
            data = [{"object": "embedding", "index": i, "embedding": _vector(t)} for i, t in enumerate(texts)]
            tokens = sum(len(t.split()) for t in texts)
            usage = {"prompt_tokens": tokens, "total_tokens": tokens}
            return JSONResponse({"object": "list", "data": data, "model": body.get("model", "echo"), "usage": usage})

        async def responses(request: Request) -> Response:
            body = await arrive(request)
            if (failed := failure()) is not None:
                return failed
            chunks = self.answer(body)
            if isinstance(chunks, RawReply):
                return chunks.response()
            if body.get("stream"):
                return StreamingResponse(_response_events(body, chunks), media_type="text/event-stream")
            return JSONResponse(_response(body, "".join(chunks)))

        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "echo", "object": "model", "owned_by": "ombud"}]}

        app.add_api_route("/v1/chat/completions", complete, methods=["POST"])
        app.add_api_route("/v1/completions", complete, methods=["POST"])
        app.add_api_route("/v1/embeddings", embeddings, methods=["POST"])
        app.add_api_route("/v1/responses", responses, methods=["POST"])
        app.add_api_route("/v1/models", models, methods=["GET"])
        return app


def _vector(text: str) -> list[float]:
    """A deterministic 8-dimensional stand-in for an embedding of ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255, 4) for b in digest[:8]]


def _last_prompt(body: dict[str, Any]) -> str:
    for key in ("prompt", "input"):
        if isinstance(body.get(key), str):
            return str(body[key])
    messages = body.get("messages") or (body["input"] if isinstance(body.get("input"), list) else [])
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _completion(chat: bool, body: dict[str, Any], text: str) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    tokens = len(text.split())
    return {
        "id": f"echo-{next(_ids)}",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "echo"),
        "choices": [choice],
        "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1},
    }


def _response(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A Responses API answer saying ``text``."""
    content = [{"type": "output_text", "text": text, "annotations": []}]
    message = {"type": "message", "id": f"msg-{next(_ids)}", "role": "assistant", "status": "completed"}
    tokens = len(text.split())
    return {
        "id": f"resp-echo-{next(_ids)}",
        "object": "response",
        "created_at": int(time.time()),
        "model": body.get("model", "echo"),
        "status": "completed",
        "output": [{**message, "content": content}],
        "usage": {"input_tokens": 1, "output_tokens": tokens, "total_tokens": tokens + 1},
    }


async def _response_events(body: dict[str, Any], chunks: list[str]) -> AsyncIterator[bytes]:
    """A streamed Responses answer: created, the text in deltas, completed (the events a client reads)."""
    done = _response(body, "".join(chunks))
    message = done["output"][0]
    where = {"item_id": message["id"], "output_index": 0, "content_index": 0}
    created = {**done, "status": "in_progress", "output": []}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": created}]
    events += [{"type": "response.output_text.delta", **where, "delta": text} for text in chunks]
    events += [
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {"type": "response.completed", "response": done},
    ]
    for n, event in enumerate(events):
        yield f"event: {event['type']}\ndata: {json.dumps({**event, 'sequence_number': n})}\n\n".encode()


async def _stream(chat: bool, body: dict[str, Any], chunks: list[str]) -> AsyncIterator[bytes]:
    base = {
        "id": f"echo-{next(_ids)}",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "echo"),
    }
    for i, text in enumerate(chunks):
        delta: dict[str, Any] = {"content": text} | ({"role": "assistant"} if i == 0 else {})
        choice: dict[str, Any] = {"index": 0, "finish_reason": None} | ({"delta": delta} if chat else {"text": text})
        yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
    end: dict[str, Any] = {"delta": {}} if chat else {"text": ""}
    last: dict[str, Any] = {"index": 0, "finish_reason": "stop", **end}
    yield f"data: {json.dumps({**base, 'choices': [last]})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def main() -> None:
    """``python -m guards.proxy.echo [--port N]``: serve the echo upstream in the foreground."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="An OpenAI-compatible echo server (no model).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(EchoUpstream(record=False).app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
