"""The proxy's request pipeline, free of any web framework: identify, limit, guard, forward, guard the answer."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from guards.errors import Blocked, GuardError, InputError, UncheckableAnswer
from guards.guard import Guard
from guards.proxy import shapes
from guards.proxy.errors import ProxyError, bad_request, blocked_error, too_large, too_many, upstream_error
from guards.proxy.keys import KeyRing
from guards.proxy.limits import ConcurrencyLimiter, RateLimiter
from guards.proxy.metrics import Metrics
from guards.proxy.response_stream import ResponseEvents, checked_items, stream_finished, upstream_texts
from guards.proxy.settings import ClientKey, ProxySettings
from guards.proxy.upstream import UpstreamClient, events
from guards.session import GuardSession
from guards.sink import Sink, resolve_sink
from guards.text import LONE_SURROGATE
from guards.toolcalls import check_tool_calls, merge_tool_call_deltas
from guards.types import CallContext
from guards.wrapping import withhold_tool_calls

logger = logging.getLogger(__name__)

APPLICATION_HEADER = "x-ombud-application"
SUBJECT_HEADER = "x-ombud-subject"
SESSION_HEADER = "x-ombud-session-id"
REQUEST_ID_HEADER = "X-Ombud-Request-Id"
# On non-streamed answers: how long the upstream took, so a client can tell the guard's overhead from the model's time.
UPSTREAM_MS_HEADER = "X-Ombud-Upstream-Ms"
# Fields that stay with the proxy: subject attributes are for the audit, not for the model provider.
_PROXY_ONLY_FIELDS = ("metadata",)
_END_USER_FIELDS = ("user", "safety_identifier")
USER_KEY_ENV = "OMBUD_HASH_SALT"
"""The secret that end-user ids are hashed with before they go upstream (a random one per process when unset)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """What the web layer hands the pipeline: headers (lower-case names), the raw body, the route, the peer."""

    headers: Mapping[str, str]
    body: bytes = b""
    route: str | None = None
    client: str = "unknown"
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(slots=True)
class Answer:
    """A JSON answer (``body``) or an SSE stream (``stream``), with headers for the caller."""

    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the matched client key (if keys are configured) and what follows from it."""

    client: ClientKey | None
    application: str
    policy: str
    rate_key: str
    authorization: str | None


class ProxyService:
    """Everything one proxy process shares: guards per policy, the audit sink, the upstream, limits, metrics."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        sink: Sink | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink if sink is not None else resolve_sink(settings.db)
        self.keyring = KeyRing(settings.keys)
        limits = settings.limits
        self.rate = RateLimiter(limits.rate_limit_per_minute, burst=limits.rate_limit_burst)
        self.concurrency = ConcurrencyLimiter(limits.max_concurrency)
        self.metrics = Metrics()
        self.upstream = UpstreamClient(settings.upstream, transport=transport)
        self._guards: dict[str, Guard] = {}
        self._guards_lock = threading.Lock()
        salt = os.environ.get(USER_KEY_ENV)
        self._user_key = salt.encode() if salt else secrets.token_bytes(32)

    # -- lifecycle ------------------------------------------------------------------------------

    def policies(self) -> list[str]:
        """Every policy the configuration names."""
        named = [self.settings.policy, *(r.policy for r in self.settings.routes.values())]
        named += [k.policy for k in self.settings.keys if k.policy]
        return list(dict.fromkeys(named))

    def startup(self) -> None:
        """Load every configured policy now (and its scanners' models when ``warmup`` is on)."""
        for policy in self.policies():
            guard = self.guard(policy)
            if self.settings.warmup:
                guard.warmup()

    async def aclose(self) -> None:
        """Close the upstream connections and flush the audit sink."""
        await self.upstream.aclose()
        if self.sink is not None:
            await asyncio.to_thread(self.sink.flush)

    def guard(self, policy: str) -> Guard:
        """The shared guard for a policy name or path (all guards write to the one audit sink)."""
        with self._guards_lock:
            if policy not in self._guards:
                self._guards[policy] = Guard.from_policy(policy, audit=self.sink, application=self.settings.application)
            return self._guards[policy]

    # -- requests -------------------------------------------------------------------------------

    def identify(self, incoming: Incoming) -> Caller:
        """The caller and its policy; 401 when keys are configured and none matches, 404 for an unknown route."""
        route = None
        if incoming.route is not None:
            route = self.settings.routes.get(incoming.route)
            if route is None:
                raise ProxyError(
                    404, f"no route named {incoming.route!r}", type="not_found_error", code="unknown_route"
                )
        authorization = incoming.headers.get("authorization")
        client = None
        if self.keyring.enabled:
            scheme, _, key = (authorization or "").partition(" ")
            client = self.keyring.verify(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
            if client is None:
                raise ProxyError(
                    401, "a valid API key is required", type="authentication_error", code="invalid_api_key"
                )
        application = (
            (client.name if client else None)
            or incoming.headers.get(APPLICATION_HEADER)
            or (route.application if route else None)
            or self.settings.application
        )
        policy = (client.policy if client else None) or (route.policy if route else None) or self.settings.policy
        return Caller(
            client=client,
            application=application[:128],
            policy=policy,
            rate_key=f"key:{client.name}" if client else f"ip:{incoming.client}",
            authorization=None if self.keyring.enabled else authorization,
        )

    def admit(self, caller: Caller) -> Callable[[], None]:
        """Apply the rate and concurrency limits (429); returns the function that frees the concurrency slot."""
        wait = self.rate.acquire(caller.rate_key, caller.client.rate_limit_per_minute if caller.client else None)
        if wait:
            raise too_many("rate limit reached for this API key; retry later", wait, code="rate_limit_exceeded")
        if not self.concurrency.try_acquire():
            raise too_many("the proxy is at its concurrency limit; retry shortly", 1, code="concurrency_limit")
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.concurrency.release()

        return release

    def read(self, kind: shapes.Kind, incoming: Incoming) -> dict[str, Any]:
        """The parsed and validated request body, with the output budget applied (400 / 413)."""
        body = shapes.parse_body(incoming.body)
        texts = shapes.prompt_texts(kind, body)
        limits = self.settings.limits
        chars = sum(len(t) for t in texts)
        if limits.max_input_chars and chars > limits.max_input_chars:
            raise too_large(f"the prompt has {chars} characters; this proxy accepts at most {limits.max_input_chars}")
        if limits.max_input_texts and len(texts) > limits.max_input_texts:
            raise too_large(f"the request has {len(texts)} texts; this proxy checks at most {limits.max_input_texts}")
        if "model" in body and not isinstance(body["model"], str):
            raise bad_request("'model' must be a string", param="model")
        if any(LONE_SURROGATE.search(t) for t in texts):
            raise bad_request("the prompt contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
        if kind is shapes.EMBEDDING:  # no output: no stream and no token budget to check or to add
            if body.get("stream"):
                raise bad_request("embeddings are not streamed", param="stream")
            return body
        if body.get("stream") and (body.get("n", 1) != 1 or (len(texts) > 1 and not kind.chat)):
            raise bad_request("streamed requests must ask for one choice (n=1, one prompt)", param="n")
        budget_fields = [f for f in kind.budget_fields if body.get(f) is not None]
        for name in budget_fields:  # every one: the upstream may honour either
            budget = body[name]
            if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
                raise bad_request(f"'{name}' must be a positive integer", param=name)
            if limits.max_output_tokens and budget > limits.max_output_tokens:
                raise too_large(f"{name}={budget} is over this proxy's limit of {limits.max_output_tokens}", param=name)
        if not budget_fields and limits.max_output_tokens:
            body[kind.budget_fields[-1]] = limits.max_output_tokens
        return body

    async def handle(self, kind: shapes.Kind, incoming: Incoming) -> Answer:
        """Answer one completion request; raises ProxyError for every refusal."""
        try:
            return await self._handle(kind, incoming)
        except ProxyError:
            raise
        except GuardError as exc:  # the audit sink refused a decision, or a policy failed to load
            logger.error("guard error on request %s: %s", incoming.request_id, exc)
            raise ProxyError(503, f"the guard could not process the request: {exc}", type="guard_error") from exc

    async def _handle(self, kind: shapes.Kind, incoming: Incoming) -> Answer:
        request_id = incoming.request_id
        caller = self.identify(incoming)
        release = self.admit(caller)
        streaming = False
        try:
            body = self.read(kind, incoming)
            subject = shapes.parse_subject(incoming.headers.get(SUBJECT_HEADER), body.get("metadata"))
            model = body.get("model") or ""
            context = CallContext(
                request_id=request_id,
                session_id=incoming.headers.get(SESSION_HEADER, request_id)[:128],
                application=caller.application,
                model=model or None,
                subject=subject,
            )
            guard = self.guard(caller.policy)
            session = guard.session(context=context)
            headers = {REQUEST_ID_HEADER: request_id}
            forward, blocked = await self._check_prompt(kind, body, session)
            for name in _PROXY_ONLY_FIELDS:
                forward.pop(name, None)
            for name in _END_USER_FIELDS:
                if forward.get(name) is not None:
                    forward[name] = shapes.pseudonymous_user(forward[name], self._user_key, name)
            if kind is shapes.EMBEDDING:
                if (refused := session.first_blocked) is not None:  # no vector can stand for the policy's message
                    raise blocked_error(Blocked(refused, guard.policy.model.block_message))
                return Answer(body=await self._upstream_json(kind, forward, caller, headers), headers=headers)
            if blocked:
                refusal = shapes.completion(
                    kind,
                    request_id=request_id,
                    model=model,
                    text=guard.policy.model.block_message,
                    finish_reason="content_filter",
                )
                if body.get("stream"):
                    streaming = True
                    refusal_stream = (
                        self._refused_response_stream(request_id, refusal, release)
                        if kind is shapes.RESPONSES
                        else self._refusal_stream(kind, refusal, release)
                    )
                    weakref.finalize(refusal_stream, release)
                    return Answer(stream=refusal_stream, headers=headers)
                return Answer(body=refusal, headers=headers)
            if body.get("stream"):
                started = time.perf_counter()
                response = await self.upstream.open_stream(kind.path, forward, authorization=caller.authorization)
                streaming = True
                stream = (
                    self._guarded_response_stream(session, response, started, release)
                    if kind is shapes.RESPONSES
                    else self._guarded_stream(kind, session, response, started, release)
                )
                weakref.finalize(stream, release)  # a stream never started (client gone) still frees its slot
                return Answer(stream=stream, headers=headers)
            return Answer(body=await self._complete(kind, session, forward, caller, headers), headers=headers)
        finally:
            if not streaming:
                release()

    async def _check_prompt(
        self, kind: shapes.Kind, body: dict[str, Any], session: GuardSession
    ) -> tuple[dict[str, Any], bool]:
        """The sanitised request and whether the policy refused it (``on_block: message``); raises ProxyError
        when it blocked it (``on_block: raise``). Each message is checked with its role, so scanners that the
        policy limits to some roles (``roles: [user]``) skip the others."""
        try:
            forward = await asyncio.to_thread(shapes.check_prompt, kind, body, session)
        except Blocked as exc:
            raise blocked_error(exc) from exc
        except (UncheckableAnswer, InputError) as exc:  # tool calls in the history that cannot be checked, a name...
            raise bad_request(f"the request cannot be checked: {exc}", param="messages") from exc
        finally:
            self.metrics.decisions(session.decisions)
        return forward, session.blocked

    async def models(self, incoming: Incoming) -> dict[str, Any]:
        """The upstream's model list (the caller must be allowed to call the proxy)."""
        caller = self.identify(incoming)
        return await self.upstream.get("/models", authorization=caller.authorization)

    async def _complete(
        self,
        kind: shapes.Kind,
        session: GuardSession,
        forward: dict[str, Any],
        caller: Caller,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        payload = await self._upstream_json(kind, forward, caller, headers)
        before = len(session.decisions)
        try:
            answer = await asyncio.to_thread(shapes.check_answer, kind, payload, session)
        except Blocked as exc:
            raise blocked_error(exc) from exc
        finally:
            self.metrics.decisions(session.decisions[before:])
        if session.blocked:
            for choice in answer.get("choices", []):
                if isinstance(choice, dict):
                    withhold_tool_calls(choice, session.refusal)
                    choice["finish_reason"] = "content_filter"
        return answer

    async def _upstream_json(
        self, kind: shapes.Kind, forward: dict[str, Any], caller: Caller, headers: dict[str, str]
    ) -> dict[str, Any]:
        """The upstream's JSON answer to ``forward``, its latency measured and put in the response headers."""
        started = time.perf_counter()
        payload = await self.upstream.post(kind.path, forward, authorization=caller.authorization)
        upstream_s = time.perf_counter() - started
        self.metrics.observe("ombud_proxy_upstream_seconds", upstream_s)
        headers[UPSTREAM_MS_HEADER] = f"{upstream_s * 1000:.1f}"
        return payload

    async def _guarded_stream(
        self,
        kind: shapes.Kind,
        session: GuardSession,
        response: httpx.Response,
        started: float,
        release: Callable[[], None],
    ) -> AsyncIterator[bytes]:
        template: dict[str, Any] = {}
        state: dict[str, Any] = {"finish": None, "usage": None}
        tool_calls: list[list[Any]] = []  # the upstream's tool-call deltas: checked whole, after the text

        async def texts() -> AsyncIterator[str]:
            async for event in events(response):
                if not template:
                    template.update({k: event[k] for k in ("id", "created", "model") if k in event})
                state["finish"] = shapes.finish_reason(event) or state["finish"]
                if isinstance(event.get("usage"), dict):
                    state["usage"] = event["usage"]
                if (calls := shapes.delta_tool_calls(event)) is not None:
                    tool_calls.append(calls)
                if shapes.delta_function_call(event):
                    raise upstream_error("the upstream streamed a legacy function_call, which the proxy cannot check")
                if text := shapes.delta_text(event):
                    yield text
            self.metrics.observe("ombud_proxy_upstream_seconds", time.perf_counter() - started)

        before = len(session.decisions)
        first = True
        try:
            async with aclosing(session.astream(texts())) as pieces:  # closed here, so a cut stream is recorded
                async for piece in pieces:
                    yield _sse(shapes.chunk(kind, template, piece, role=first))
                    first = False
            if first:
                yield _sse(shapes.chunk(kind, template, "", role=True))
            if tool_calls and not session.blocked:
                checked = await asyncio.to_thread(self._check_streamed_tool_calls, tool_calls, session)
                if session.blocked:  # the policy's message in place of the call (on_block: message)
                    yield _sse(shapes.chunk(kind, template, session.refusal))
                else:
                    yield _sse(shapes.chunk(kind, template, None, tool_calls=checked))
            reason = "content_filter" if session.blocked else (state["finish"] or "stop")
            yield _sse(shapes.chunk(kind, template, None, finish_reason=reason))
            if state["usage"]:
                yield _sse({**shapes.chunk(kind, template, None), "choices": [], "usage": state["usage"]})
        except (Blocked, ProxyError, InputError) as exc:
            yield _sse(_stream_failure(exc).body())
        finally:
            await response.aclose()
            self.metrics.decisions(session.decisions[before:])
            release()
        yield b"data: [DONE]\n\n"

    async def _guarded_response_stream(
        self, session: GuardSession, response: httpx.Response, started: float, release: Callable[[], None]
    ) -> AsyncIterator[bytes]:
        """A Responses stream guarded like a chat stream (see ``guards.proxy.response_stream``)."""
        writer = ResponseEvents(session.context.request_id or "")
        items: list[dict[str, Any]] = []
        before = len(session.decisions)
        try:
            texts = upstream_texts(events(response, stream_finished), writer, items)
            async with aclosing(session.astream(texts)) as pieces:  # closed here, so a cut stream is recorded
                async for piece in pieces:
                    yield writer.start() + writer.delta(piece)
            self.metrics.observe("ombud_proxy_upstream_seconds", time.perf_counter() - started)
            blocked = session.blocked
            checked = await asyncio.to_thread(checked_items, items, session)
            refusal = writer.delta(session.refusal) if session.blocked and not blocked else b""
            yield writer.start() + refusal + writer.finish(checked)
        except (Blocked, ProxyError, InputError) as exc:
            yield writer.start() + writer.error(_stream_failure(exc).body())
        finally:
            await response.aclose()
            self.metrics.decisions(session.decisions[before:])
            release()

    async def _refused_response_stream(
        self, request_id: str, refusal: dict[str, Any], release: Callable[[], None]
    ) -> AsyncIterator[bytes]:
        """The events of a Responses stream that only says the policy's message (the prompt was refused)."""
        try:
            writer = ResponseEvents(request_id)
            writer.response.update({k: v for k, v in refusal.items() if k != "output"})
            text = refusal["output"][0]["content"][0]["text"]
            yield writer.start() + writer.delta(text) + writer.finish([])
        finally:
            release()

    @staticmethod
    def _check_streamed_tool_calls(deltas: list[list[Any]], session: GuardSession) -> list[dict[str, Any]]:
        """The whole tool calls of a stream, their arguments checked like the answer's text."""
        message = {"tool_calls": merge_tool_call_deltas(deltas)}
        try:
            check_tool_calls(message, session.output)
        except UncheckableAnswer as exc:
            raise upstream_error(f"the upstream's tool calls cannot be checked: {exc}") from exc
        return message["tool_calls"]

    async def _refusal_stream(
        self, kind: shapes.Kind, refusal: dict[str, Any], release: Callable[[], None]
    ) -> AsyncIterator[bytes]:
        try:
            text = refusal["choices"][0]["message" if kind.chat else "text"]
            text = text["content"] if kind.chat else text
            yield _sse(shapes.chunk(kind, refusal, text, role=True))
            yield _sse(shapes.chunk(kind, refusal, None, finish_reason="content_filter"))
            yield b"data: [DONE]\n\n"
        finally:
            release()


def _stream_failure(exc: Blocked | ProxyError | InputError) -> ProxyError:
    """The error a guarded stream ends with: a block, an upstream failure, or text from the upstream the guard
    cannot take (a lone surrogate)."""
    if isinstance(exc, Blocked):
        return blocked_error(exc)
    if isinstance(exc, InputError):
        return upstream_error(f"the upstream's answer cannot be checked: {exc}")
    return exc


def _sse(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
