"""The guard proxy end to end over real HTTP: proxy and a recording echo upstream, each a uvicorn server in a thread."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from guards import ListSink
from guards.proxy import ClientKey, Limits, ProxyConfigError, ProxySettings, Route, Upstream
from guards.proxy.keys import KeyRing, hash_key
from guards.proxy.limits import RateLimiter

pytest.importorskip("fastapi", reason="the guard proxy needs the `proxy` extra (fastapi, uvicorn, httpx)")
pytest.importorskip("uvicorn", reason="the guard proxy needs the `proxy` extra (fastapi, uvicorn, httpx)")

from guards.proxy.app import create_app
from guards.proxy.echo import EchoUpstream, RawReply
from guards.proxy.server import BackgroundServer

MARKER = "zorblax"  # the test policies block this word, standing in for toxic text
NAME, EMAIL, CARD = "John Smith", "john.smith@example.com", "4111 1111 1111 1111"

POLICY = """\
name: proxy-test
on_block: {on_block}
block_message: "Withheld by policy."
scanners:
  - id: pii
    type: pii
    action: redact
    threshold: 0.5
    operator: pseudonymize
    labels:
      CREDIT_CARD: {{operator: mask}}
      DATE_TIME: {{action: allow}}
      URL: {{action: allow}}
  - id: marker
    type: regex
    action: block
    threshold: 0.5
    params: {{entities: [{{label: TOXIC_MARKER, deny_list: [{marker}]}}]}}
"""


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Policy files: blocked texts raise (HTTP 400) or become the policy's message; ``user-only`` runs the
    marker scanner on user messages alone."""
    folder = tmp_path_factory.mktemp("policies")
    texts = {mode: POLICY.format(on_block=mode, marker=MARKER) for mode in ("raise", "message")}
    texts["user-only"] = texts["raise"].replace("    type: regex\n", "    type: regex\n    roles: [user]\n")
    paths = {}
    for name, text in texts.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        paths[name] = str(path)
    return paths


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    """A fresh recording upstream; anything held is released at the end."""
    state = EchoUpstream()
    with BackgroundServer(state.app()) as server:
        state.url = server.url + "/v1"  # type: ignore[attr-defined]
        yield state
        if state.hold is not None:
            state.hold.set()


Proxy = tuple[httpx.Client, ListSink]


@pytest.fixture
def make_proxy(echo: EchoUpstream, policies: dict[str, str]) -> Iterator[Callable[..., Proxy]]:
    """Start a proxy in front of ``echo``; keyword arguments override ProxySettings fields."""
    with ExitStack() as stack:

        def make(sink: ListSink | None = None, **overrides: Any) -> Proxy:
            settings = ProxySettings(
                **{"policy": policies["raise"], "upstream": Upstream(url=echo.url)} | overrides  # type: ignore[attr-defined]
            )
            app = create_app(settings, sink=ListSink() if sink is None and settings.db is None else sink)
            server = stack.enter_context(BackgroundServer(app))
            client = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
            return client, app.state.service.sink

        yield make


def chat(content: str, **extra: Any) -> dict[str, Any]:
    """A chat request body with one user message."""
    return {"model": "echo", "messages": [{"role": "user", "content": content}], **extra}


def sse_events(client: httpx.Client, body: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
    """The JSON events of a streamed call (stops at ``[DONE]``)."""
    events = []
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}, **kwargs) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                events.append(json.loads(line[6:]))
    return events


def contents(events: list[dict[str, Any]]) -> list[str]:
    """The content pieces of streamed chat chunks."""
    return [e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")]


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- guarding ---------------------------------------------------------------------------------------


def test_pii_is_pseudonymised_before_the_upstream_and_restored_for_the_caller(make_proxy, echo) -> None:
    client, sink = make_proxy()
    response = client.post("/v1/chat/completions", json=chat(f"Hi, I'm {NAME}, mail {EMAIL}, card {CARD}"))

    assert response.status_code == 200
    sent = echo.received[-1]["messages"][0]["content"]
    assert NAME not in sent and EMAIL not in sent and "4111 1111 1111 1111" not in sent
    assert "<PERSON_1>" in sent and "<EMAIL_ADDRESS_1>" in sent and "**** **** **** 1111" in sent
    answer = response.json()["choices"][0]["message"]["content"]
    assert answer == f"You said: Hi, I'm {NAME}, mail {EMAIL}, card **** **** **** 1111"
    assert [(d.stage.value, d.action.value) for d in sink.decisions] == [("input", "redact"), ("output", "allow")]
    assert all(NAME not in d.safe_text for d in sink.decisions)


def test_every_message_the_upstream_sees_is_checked_and_metadata_stays_with_the_proxy(make_proxy, echo) -> None:
    client, sink = make_proxy()
    body = {
        "model": "echo",
        "messages": [
            {"role": "system", "content": "You help customers."},
            {"role": "user", "content": f"My e-mail is {EMAIL}"},
            {"role": "assistant", "content": f"Noted: {EMAIL}"},
            {"role": "user", "content": [{"type": "text", "text": f"Call me {NAME}"}]},
        ],
        "metadata": {"age_band": "35-44"},
    }
    response = client.post("/v1/chat/completions", json=body, headers={"X-Ombud-Subject": "region=EU; gender=f"})

    assert response.status_code == 200
    upstream = echo.received[-1]
    assert "metadata" not in upstream
    assert EMAIL not in json.dumps(upstream) and NAME not in json.dumps(upstream)
    assert upstream["messages"][2]["content"] == "Noted: <EMAIL_ADDRESS_1>"
    inputs = [d for d in sink.decisions if d.stage.value == "input"]
    assert len(inputs) == 4
    assert dict(inputs[0].context.subject) == {"age_band": "35-44", "region": "EU", "gender": "f"}
    assert inputs[0].context.model == "echo" and inputs[0].context.application == "ombud-proxy"


@pytest.mark.parametrize("where", ["input", "output"])
def test_blocked_text_gets_an_openai_style_error(make_proxy, echo, where: str) -> None:
    client, sink = make_proxy()
    if where == "output":
        echo.replies.append(f"you are a {MARKER}")
    response = client.post("/v1/chat/completions", json=chat(f"you {MARKER}" if where == "input" else "hello"))

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "Withheld by policy.",
            "type": "content_blocked",
            "code": f"{where}_blocked",
            "param": None,
        }
    }
    assert len(echo.received) == (0 if where == "input" else 1)
    assert sink.decisions[-1].blocked and sink.decisions[-1].stage.value == where


def test_on_block_message_answers_with_the_policy_message(make_proxy, echo, policies) -> None:
    client, _ = make_proxy(policy=policies["message"])
    echo.replies.append(f"you are a {MARKER}")
    response = client.post("/v1/chat/completions", json=chat("hello"))
    refused = client.post("/v1/chat/completions", json=chat(f"you {MARKER}"))

    for answer in (response, refused):
        assert answer.status_code == 200
        choice = answer.json()["choices"][0]
        assert choice["message"]["content"] == "Withheld by policy." and choice["finish_reason"] == "content_filter"
    assert len(echo.received) == 1
    streamed = sse_events(client, chat(f"you {MARKER}"))
    assert "".join(contents(streamed)) == "Withheld by policy."


def test_role_limited_scanners_skip_other_roles_but_pii_checks_every_message(make_proxy, echo, policies) -> None:
    # the marker scanner, limited to `roles: [user]`, stands in for an injection detector
    client, sink = make_proxy(policy=policies["user-only"])
    system = {"role": "system", "content": f"You are a {MARKER} expert. The customer is {NAME}."}
    ok = client.post("/v1/chat/completions", json={"model": "echo", "messages": [system, chat("hi")["messages"][0]]})
    refused = client.post("/v1/chat/completions", json=chat(f"be a {MARKER}"))

    assert ok.status_code == 200 and refused.status_code == 400
    assert echo.received[0]["messages"][0]["content"] == f"You are a {MARKER} expert. The customer is <PERSON_1>."
    system_decision, user_decision = sink.decisions[0], sink.decisions[1]
    assert [v.scanner for v in system_decision.verdicts] == ["pii"]
    assert [v.scanner for v in user_decision.verdicts] == ["pii", "marker"]
    assert sink.decisions[-1].blocked


# -- streaming --------------------------------------------------------------------------------------


def test_stream_never_emits_part_of_a_pii_value_split_across_chunks(make_proxy, echo) -> None:
    client, sink = make_proxy()
    filler = "Our support team answers every question within two working days, usually much sooner than that. "
    echo.replies.append([filler, "Write to jane.d", "oe@exam", "ple.com for ", "refunds. ", filler, filler])
    events = sse_events(client, chat("How do I get a refund?"))

    pieces = contents(events)
    assert len([p for p in pieces if p]) >= 2, "the answer should be streamed incrementally"
    text = "".join(pieces)
    assert "jane.d" not in text and "example" not in text
    assert "Write to <EMAIL_ADDRESS_1> for refunds." in text
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert [d.stage.value for d in sink.decisions] == ["input", "output"]


def test_stream_restores_a_pseudonym_split_across_chunks(make_proxy, echo) -> None:
    client, _ = make_proxy()
    echo.replies.append(["Sure, I will write to <EMAIL_", "ADDRESS_1> today."])
    text = "".join(contents(sse_events(client, chat(f"Please write to {EMAIL}"))))

    assert text == f"Sure, I will write to {EMAIL} today."
    assert "<EMAIL_ADDRESS_1>" in echo.received[-1]["messages"][0]["content"]


def test_stream_blocked_midway_ends_with_an_error_event(make_proxy, echo) -> None:
    client, _ = make_proxy()
    echo.replies.append(["Fine. ", "You ", f"{MARKER}!"])
    events = sse_events(client, chat("hello"))

    assert events[-1]["error"]["type"] == "content_blocked"
    assert MARKER not in "".join(contents(events))


def test_openai_sdk_talks_to_the_proxy(make_proxy) -> None:
    openai = pytest.importorskip("openai", reason="the openai client is in the `slm` extra")
    client, _ = make_proxy()
    sdk = openai.OpenAI(base_url=str(client.base_url) + "/v1", api_key="unused", max_retries=0)

    answer = sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": f"I'm {NAME}"}])
    assert answer.choices[0].message.content == f"You said: I'm {NAME}"
    stream = sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "You said: hi"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": MARKER}])
    assert info.value.code == "input_blocked"


def test_text_completions_are_guarded(make_proxy, echo) -> None:
    client, _ = make_proxy()
    response = client.post("/v1/completions", json={"model": "echo", "prompt": f"Dear {NAME},"})

    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == f"You said: Dear {NAME},"
    assert echo.received[-1]["prompt"] == "Dear <PERSON_1>,"


# -- protection of the proxy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"model": "echo"}', 400, "invalid_request"),
        (b'{"model": "echo", "messages": [{"content": "no role"}]}', 400, "invalid_request"),
        (b'{"model": 3, "messages": [{"role": "user", "content": "hi"}]}', 400, "invalid_request"),
        (b"\xff\xfe", 400, "invalid_json"),
    ],
)
def test_malformed_requests_get_400(make_proxy, content: bytes, status: int, code: str) -> None:
    client, _ = make_proxy()
    response = client.post("/v1/chat/completions", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_bad_subject_header_streamed_choices_and_wrong_method_are_refused_cleanly(make_proxy, echo) -> None:
    client, _ = make_proxy()
    subject = client.post("/v1/chat/completions", json=chat("hi"), headers={"X-Ombud-Subject": "no-value"})
    choices = client.post("/v1/chat/completions", json=chat("hi", stream=True, n=2))
    method = client.get("/v1/chat/completions")

    assert subject.status_code == 400 and subject.json()["error"]["code"] == "invalid_subject"
    assert choices.status_code == 400 and choices.json()["error"]["param"] == "n"
    assert method.status_code == 405 and "error" in method.json()
    assert echo.received == []


@pytest.mark.parametrize(
    "body",
    [
        chat("x" * 3000),  # body over max_body_bytes
        chat("y" * 600),  # prompt over max_input_chars
        chat("hi", max_tokens=10_000),  # output budget over max_output_tokens
    ],
)
def test_oversized_requests_get_413(make_proxy, echo, body: dict[str, Any]) -> None:
    client, _ = make_proxy(limits=Limits(max_body_bytes=2000, max_input_chars=500, max_output_tokens=256))
    response = client.post("/v1/chat/completions", json=body)

    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert echo.received == []


def test_missing_output_budget_is_capped(make_proxy, echo) -> None:
    client, _ = make_proxy(limits=Limits(max_output_tokens=256))
    client.post("/v1/chat/completions", json=chat("hi"))
    assert echo.received[-1]["max_tokens"] == 256


def test_rate_limit_per_key_gets_429_with_retry_after(make_proxy) -> None:
    client, _ = make_proxy(limits=Limits(rate_limit_per_minute=2, rate_limit_burst=2))
    statuses = [client.post("/v1/chat/completions", json=chat("hi")) for _ in range(3)]

    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1
    assert statuses[-1].json()["error"]["code"] == "rate_limit_exceeded"


def test_rate_limiter_refills_with_its_clock() -> None:
    now = [0.0]
    limiter = RateLimiter(60, burst=1, clock=lambda: now[0])
    assert limiter.acquire("k") == 0
    assert limiter.acquire("k") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.acquire("k") == 0
    assert limiter.acquire("other") == 0


def test_concurrency_limit_gets_429(make_proxy, echo) -> None:
    client, _ = make_proxy(limits=Limits(max_concurrency=1))
    echo.hold = threading.Event()
    first: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: first.append(client.post("/v1/chat/completions", json=chat("one"))))
    worker.start()
    assert echo.arrived.wait(30)

    second = client.post("/v1/chat/completions", json=chat("two"))
    echo.hold.set()
    worker.join(30)

    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert second.json()["error"]["code"] == "concurrency_limit"
    assert first[0].status_code == 200


def test_upstream_timeout_gets_504(make_proxy, echo) -> None:
    echo.hold = threading.Event()
    client, _ = make_proxy(upstream=Upstream(url=echo.url, timeout_s=0.5))  # type: ignore[attr-defined]
    response = client.post("/v1/chat/completions", json=chat("hi"))
    streamed = client.post("/v1/chat/completions", json=chat("hi", stream=True))

    assert response.status_code == 504 and streamed.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_upstream_down_gets_502(make_proxy) -> None:
    client, _ = make_proxy(upstream=Upstream(url=f"http://127.0.0.1:{free_port()}/v1"))
    response = client.post("/v1/chat/completions", json=chat("hi"))
    streamed = client.post("/v1/chat/completions", json=chat("hi", stream=True))

    assert response.status_code == 502 and streamed.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_upstream_server_error_gets_502_and_client_error_passes_through(make_proxy, echo) -> None:
    client, _ = make_proxy()
    echo.fail_status = 500
    assert client.post("/v1/chat/completions", json=chat("hi")).status_code == 502
    echo.fail_status = 404
    response = client.post("/v1/chat/completions", json=chat("hi"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "upstream_rejected"


def _sse_body(*events: dict[str, Any], done: bool = True) -> RawReply:
    data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    return RawReply(data + (b"data: [DONE]\n\n" if done else b""), media_type="text/event-stream")


def _delta(finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {
        "id": "up-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _answer(content: Any) -> RawReply:
    message = {"role": "assistant", "content": content}
    return RawReply(
        json.dumps({"id": "up-1", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).encode()
    )


def test_an_answer_in_parts_is_checked_as_one_text(make_proxy, echo) -> None:
    client, sink = make_proxy()
    echo.replies.append(_answer([{"type": "text", "text": "Fine. "}, {"type": "text", "text": f"You {MARKER}!"}]))
    blocked = client.post("/v1/chat/completions", json=chat("hi"))
    echo.replies.append(_answer([{"type": "text", "text": "Dear <PERSON_1>, "}, {"type": "text", "text": "hello."}]))
    restored = client.post("/v1/chat/completions", json=chat(f"I am {NAME}"))

    assert blocked.status_code == 400 and blocked.json()["error"]["code"] == "output_blocked"
    assert restored.json()["choices"][0]["message"]["content"] == [{"type": "text", "text": f"Dear {NAME}, hello."}]
    assert [d.stage.value for d in sink.decisions] == ["input", "output", "input", "output"]


@pytest.mark.parametrize("content", [42, {"text": "not a list"}, [{"type": "text", "text": 7}]])
def test_an_answer_whose_text_cannot_be_found_is_refused_not_passed_on(make_proxy, echo, content: Any) -> None:
    client, _ = make_proxy()
    echo.replies.append(_answer(content))
    response = client.post("/v1/chat/completions", json=chat("hi"))

    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    assert response.headers["x-ombud-request-id"]


def _tool_call(arguments: str, index: int = 0) -> dict[str, Any]:
    return {
        "index": index,
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": "send", "arguments": arguments},
    }


def _tool_answer(*calls: dict[str, Any], content: str | None = None) -> RawReply:
    message = {
        "role": "assistant",
        "content": content,
        "tool_calls": [{k: v for k, v in c.items() if k != "index"} for c in calls],
    }
    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
    return RawReply(json.dumps({"id": "up-1", "choices": [choice]}).encode())


def test_tool_call_arguments_are_checked_and_pseudonyms_restored(make_proxy, echo) -> None:
    """The model addresses the caller's pseudonym and makes up an address: the caller's tool gets the real name and
    no made-up personal data; the plain number argument is left as it was."""
    client, sink = make_proxy()
    arguments = json.dumps({"to": "<PERSON_1>", "cc": "jane.roe@example.org", "count": 3})
    echo.replies.append(_tool_answer(_tool_call(arguments)))
    answer = client.post("/v1/chat/completions", json=chat(f"Write to me, {NAME}"))

    call = answer.json()["choices"][0]["message"]["tool_calls"][0]
    sent = json.loads(call["function"]["arguments"])
    assert answer.status_code == 200 and sent["to"] == NAME and sent["count"] == 3
    assert "jane.roe" not in call["function"]["arguments"] and sent["cc"].startswith("<EMAIL_ADDRESS")
    assert [d.stage.value for d in sink.decisions] == ["input", "output"]  # one decision for the call's texts


@pytest.mark.parametrize("on_block", ["raise", "message"])
def test_a_blocked_tool_call_is_never_handed_over(make_proxy, echo, policies, on_block: str) -> None:
    client, _ = make_proxy(policy=policies[on_block])
    echo.replies.append(_tool_answer(_tool_call(json.dumps({"body": f"you {MARKER}"})), content="Sending."))
    answer = client.post("/v1/chat/completions", json=chat("hi"))

    if on_block == "raise":
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "output_blocked"
        return
    choice = answer.json()["choices"][0]
    assert choice["message"]["tool_calls"] is None and choice["message"]["content"] == "Withheld by policy."
    assert choice["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        ('{"to": "alice.jones@example.com", "to": "bob"}', "repeat the key(s) ['to']"),
        ('{"to": "\\ud800x"}', "lone surrogate"),
    ],
)
def test_tool_call_arguments_that_cannot_be_checked_are_refused(make_proxy, echo, arguments: str, said: str) -> None:
    """In an answer: 502 (and an error event in a stream); in the request history: 400 naming the message."""
    client, _ = make_proxy()
    echo.replies.append(_tool_answer(_tool_call(arguments)))
    answer = client.post("/v1/chat/completions", json=chat("hi"))
    echo.replies.append(_sse_body(_delta(tool_calls=[_tool_call(arguments)]), _delta("tool_calls")))
    events = sse_events(client, chat("hi"))
    call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": arguments}}
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    request = client.post("/v1/chat/completions", json={"model": "echo", "messages": history})

    assert answer.status_code == 502 and said in answer.json()["error"]["message"]
    assert events[-1]["error"]["code"] == "upstream_error" and said in events[-1]["error"]["message"]
    refused = request.json()["error"]
    assert request.status_code == 400 and (said in refused["message"] or "surrogate" in refused["message"])
    assert refused["param"] == "messages[1]" or "lone UTF-16 surrogate" in refused["message"]


def test_tool_call_arguments_count_against_the_input_limit(make_proxy) -> None:
    client, _ = make_proxy(limits=Limits(max_input_chars=100))
    call = {"id": "c1", "type": "function", "function": {"name": "send", "arguments": json.dumps(["a"] * 200)}}
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]}]
    assert client.post("/v1/chat/completions", json={"model": "echo", "messages": history}).status_code == 413


def test_answer_fields_that_spell_the_answer_are_checked_or_dropped(make_proxy, echo) -> None:
    """``refusal`` and ``reasoning_content`` are checked like the content; per-token log probabilities, whose tokens
    spell the unchecked answer, are dropped."""
    client, _ = make_proxy()
    message = {"role": "assistant", "content": "ok", "refusal": f"not for {EMAIL}", "reasoning_content": f"{EMAIL}?"}
    logprobs = {"content": [{"token": "john.smith", "logprob": -0.1}]}
    choice = {"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}
    echo.replies.append(RawReply(json.dumps({"id": "up-1", "choices": [choice]}).encode()))
    answer = client.post("/v1/chat/completions", json=chat("hi")).json()

    assert EMAIL not in json.dumps(answer) and "john.smith" not in json.dumps(answer)
    assert answer["choices"][0]["logprobs"] is None and answer["choices"][0]["message"]["refusal"].startswith("not for")


def test_a_legacy_streamed_function_call_is_refused(make_proxy, echo) -> None:
    client, _ = make_proxy()
    echo.replies.append(_sse_body(_delta(function_call={"name": "f", "arguments": "{}"}), _delta("function_call")))
    events = sse_events(client, chat("hi"))
    assert events[-1]["error"]["code"] == "upstream_error" and "legacy function_call" in events[-1]["error"]["message"]


def test_tool_calls_sent_back_in_the_history_are_checked(make_proxy, echo) -> None:
    """A client returns the earlier tool call with the real name restored: the upstream gets the pseudonym again."""
    client, _ = make_proxy()
    earlier = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "send", "arguments": json.dumps({"to": NAME})}}
        ],
    }
    body = {
        "model": "echo",
        "messages": [
            {"role": "user", "content": f"I am {NAME}"},
            earlier,
            {"role": "tool", "tool_call_id": "c1", "content": "sent"},
        ],
    }
    assert client.post("/v1/chat/completions", json=body).status_code == 200

    forwarded = echo.received[-1]["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(forwarded) == {"to": "<PERSON_1>"}


def test_streamed_tool_calls_are_joined_checked_and_passed_on(make_proxy, echo) -> None:
    """The upstream streams the arguments in fragments that cut the address apart: the proxy checks them whole
    and hands over one tool call, after the checked text."""
    client, _ = make_proxy()
    pieces = ['{"to": "john.sm', "ith@exa", 'mple.com", "n": 1}']
    first = _tool_call(pieces[0])
    rest = [{"index": 0, "function": {"arguments": p}} for p in pieces[1:]]
    echo.replies.append(
        _sse_body(
            _delta(role="assistant", content="Let me check."),
            *(_delta(tool_calls=[piece]) for piece in (first, *rest)),
            _delta(tool_calls=[_tool_call('{"q": 1}', index=1)]),
            _delta("tool_calls"),
        )
    )
    events = sse_events(client, chat("hi"))

    deltas = [e["choices"][0]["delta"] for e in events if e.get("choices")]
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert [c["index"] for c in calls] == [0, 1] and calls[0]["id"] == "call_0"
    assert "john.smith" not in calls[0]["function"]["arguments"]
    assert json.loads(calls[0]["function"]["arguments"])["n"] == 1
    assert calls[1] == _tool_call('{"q": 1}', index=1)
    assert "".join(contents(events)) == "Let me check."
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_streamed_tool_call_is_withheld_when_blocked(make_proxy, echo, policies) -> None:
    client, _ = make_proxy(policy=policies["message"])
    echo.replies.append(
        _sse_body(
            _delta(role="assistant", content="Ok."),
            _delta(tool_calls=[_tool_call(json.dumps({"b": MARKER}))]),
            _delta("tool_calls"),
        )
    )
    events = sse_events(client, chat("hi"))

    assert not any("tool_calls" in e["choices"][0]["delta"] for e in events if e.get("choices"))
    assert "".join(contents(events)) == "Ok.Withheld by policy."
    assert events[-1]["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    ("reply", "arrived"),
    [
        (_sse_body(_delta(role="assistant", content="Half an ans"), done=False), True),  # cut off
        (RawReply(b'{"not": "a stream"}'), False),
        (RawReply(_sse_body(_delta(content="ok"), done=False).body + b"data: {broken\n\n"), True),
    ],
)
def test_a_cut_or_unreadable_stream_ends_with_an_error_event_and_is_audited(
    make_proxy, echo, reply: RawReply, arrived: bool
) -> None:
    client, sink = make_proxy()
    echo.replies.append(reply)
    events = sse_events(client, chat("hi"))

    assert events[-1]["error"]["code"] == "upstream_error"
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1] if e.get("choices"))
    assert [d.stage.value for d in sink.decisions] == (["input", "output"] if arrived else ["input"])


def test_upstream_retry_after_and_request_ids_reach_the_client(make_proxy, echo) -> None:
    client, _ = make_proxy()
    echo.replies.append(RawReply(b'{"error": {"message": "slow down"}}', 429, {"Retry-After": "17"}))
    limited = client.post("/v1/chat/completions", json=chat("hi"))
    invalid = client.post("/v1/chat/completions", json={"model": "echo"})

    assert limited.status_code == 429 and limited.headers["retry-after"] == "17"
    assert limited.json()["error"]["code"] == "upstream_rejected"
    assert limited.headers["x-ombud-request-id"] and invalid.headers["x-ombud-request-id"]


def test_requests_the_guard_cannot_check_or_keep_apart_are_refused(make_proxy, echo) -> None:
    client, _ = make_proxy(limits=Limits(max_output_tokens=256))
    surrogate = client.post(
        "/v1/chat/completions",
        content=b'{"model": "echo", "messages": [{"role": "user", "content": "hi \\ud800 there"}]}',
        headers={"Content-Type": "application/json"},
    )
    both_budgets = client.post("/v1/chat/completions", json=chat("hi", max_completion_tokens=10, max_tokens=10_000))
    streamed_prompts = client.post("/v1/completions", json={"model": "echo", "prompt": ["a", "b"], "stream": True})
    unknown = client.post("/v1/audio/speech", json={})
    method = client.get("/v1/chat/completions")

    assert surrogate.status_code == 400 and surrogate.json()["error"]["code"] == "invalid_request"
    assert both_budgets.status_code == 413 and both_budgets.json()["error"]["param"] == "max_tokens"
    assert streamed_prompts.status_code == 400
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_route"
    assert method.status_code == 405 and method.headers["allow"] == "POST"
    assert method.json()["error"]["code"] == "method_not_allowed"
    assert echo.received == []


# -- keys, policies, routes -------------------------------------------------------------------------


def test_api_keys_are_required_and_name_the_application(make_proxy, echo, policies) -> None:
    keys = [
        ClientKey(name="billing-bot", hash=hash_key("sk-billing", scheme="scrypt")),
        ClientKey(name="hr-bot", hash=hash_key("sk-hr", scheme="sha256"), policy=policies["message"]),
    ]
    client, sink = make_proxy(keys=keys, upstream=Upstream(url=echo.url, api_key="sk-upstream"))  # type: ignore[attr-defined]

    assert client.post("/v1/chat/completions", json=chat("hi")).status_code == 401
    wrong = client.post("/v1/chat/completions", json=chat("hi"), headers={"Authorization": "Bearer sk-nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    ok = client.post("/v1/chat/completions", json=chat("hi"), headers={"Authorization": "Bearer sk-billing"})
    assert ok.status_code == 200
    hr = client.post("/v1/chat/completions", json=chat(MARKER), headers={"Authorization": "Bearer sk-hr"})
    assert hr.status_code == 200 and hr.json()["choices"][0]["finish_reason"] == "content_filter"

    assert {d.context.application for d in sink.decisions} == {"billing-bot", "hr-bot"}
    assert client.get("/v1/models").status_code == 401


def test_routes_choose_their_policy_and_application(make_proxy, policies) -> None:
    routes = {"support": Route(policy=policies["message"], application="support-desk")}
    client, sink = make_proxy(routes=routes)

    response = client.post("/support/v1/chat/completions", json=chat(MARKER))
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "Withheld by policy."
    assert sink.decisions[-1].context.application == "support-desk"
    assert client.post("/nowhere/v1/chat/completions", json=chat("hi")).status_code == 404
    named = client.post("/v1/chat/completions", json=chat("hi"), headers={"X-Ombud-Application": "crm"})
    assert named.status_code == 200
    assert sink.decisions[-1].context.application == "crm"


def test_key_ring_checks_both_hash_schemes() -> None:
    ring = KeyRing(
        [ClientKey(name="a", hash=hash_key("k1")), ClientKey(name="b", hash=hash_key("k2", scheme="sha256"))]
    )
    assert ring.verify("k1").name == "a"  # type: ignore[union-attr]
    assert ring.verify("k2").name == "b"  # type: ignore[union-attr]
    assert ring.verify("k3") is None
    with pytest.raises(ValueError, match="plain key"):
        ClientKey(name="c", hash="k1")


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_settings_load_from_yaml_and_toml(tmp_path: Path, suffix: str) -> None:
    text = {
        ".yaml": """\
            policy: mine.yaml
            upstream: {url: "http://127.0.0.1:9/v1", timeout_s: 5}
            limits: {max_concurrency: 4}
            routes: {hr: {policy: strict}}
            keys: [{name: app, hash: "sha256:00", policy: other.yaml}]
            """,
        ".toml": """\
            policy = "mine.yaml"
            [upstream]
            url = "http://127.0.0.1:9/v1"
            timeout_s = 5
            [limits]
            max_concurrency = 4
            [routes.hr]
            policy = "strict"
            [[keys]]
            name = "app"
            hash = "sha256:00"
            policy = "other.yaml"
            """,
    }[suffix]
    path = tmp_path / f"proxy{suffix}"
    path.write_text(textwrap.dedent(text))
    settings = ProxySettings.from_file(path, port=9999)

    assert settings.policy == str(tmp_path / "mine.yaml") and settings.keys[0].policy == str(tmp_path / "other.yaml")
    assert settings.routes["hr"].policy == "strict" and settings.limits.max_concurrency == 4 and settings.port == 9999
    bad = tmp_path / "bad.yaml"
    bad.write_text("limits: {max_concurrency: -1}")
    with pytest.raises(ProxyConfigError, match="max_concurrency"):
        ProxySettings.from_file(bad)


# -- service endpoints and audit --------------------------------------------------------------------


def test_models_health_and_metrics(make_proxy) -> None:
    client, _ = make_proxy()
    client.post("/v1/chat/completions", json=chat(f"I'm {NAME}"))
    client.post("/v1/chat/completions", content=b"{")

    assert client.get("/v1/models").json()["data"][0]["id"] == "echo"
    assert client.get("/healthz").json()["status"] == "ok"
    metrics = client.get("/metrics").text
    assert 'ombud_proxy_requests_total{endpoint="chat",status="200"} 1' in metrics
    assert 'ombud_proxy_requests_total{endpoint="chat",status="400"} 1' in metrics
    assert 'ombud_proxy_rule_hits_total{action="redact",label="PERSON",scanner="pii"} 1' in metrics
    assert "ombud_proxy_in_flight 0" in metrics
    assert client.get("/nope").status_code == 404


def test_every_request_is_audited_in_the_store(make_proxy, echo, tmp_path: Path) -> None:
    pytest.importorskip("audit.store", reason="the audit store (audit/) is not installed")
    from audit.query import Filters

    client, store = make_proxy(db=f"sqlite:///{tmp_path / 'audit.db'}")
    client.post("/v1/chat/completions", json=chat(f"I'm {NAME}", metadata={"region": "EU"}))
    echo.replies.append(f"a {MARKER}")
    client.post("/v1/chat/completions", json=chat("hello"))
    sse_events(client, chat("stream me"), headers={"X-Ombud-Application": "streamer"})
    store.flush()

    assert store.count(Filters(stage="input")) == 3
    assert store.count(Filters(stage="output")) == 3
    assert store.count(Filters(action="block")) == 1
    assert store.count(Filters(subject={"region": "EU"})) == 2
    assert store.count(Filters(application="streamer")) == 2
    assert store.verify().ok


def test_embeddings_inputs_are_checked_before_they_reach_the_upstream(make_proxy, echo) -> None:
    """What a RAG pipeline embeds (and stores in its vector database) is redacted; the vectors come back as they are."""
    client, sink = make_proxy()
    body = {"model": "echo", "input": [f"Ticket from {NAME}, card {CARD}", "Nothing personal here."]}
    answer = client.post("/v1/embeddings", json=body)

    sent = echo.received[-1]
    assert answer.status_code == 200 and [d["index"] for d in answer.json()["data"]] == [0, 1]
    assert NAME not in json.dumps(sent) and CARD not in json.dumps(sent) and "max_tokens" not in sent
    assert sent["input"][1] == "Nothing personal here."
    assert [d.stage.value for d in sink.decisions] == ["input", "input"]


@pytest.mark.parametrize("on_block", ["raise", "message"])
def test_a_blocked_embedding_input_is_refused(make_proxy, echo, policies, on_block: str) -> None:
    """No vector can stand for the policy's message, so a blocked input is a 400 in both modes."""
    client, _ = make_proxy(policy=policies[on_block])
    answer = client.post("/v1/embeddings", json={"model": "echo", "input": f"you {MARKER}"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "input_blocked"
    assert not echo.received


@pytest.mark.parametrize("given", [[1, 2, 3], [[1, 2]], [], None])
def test_embedding_inputs_that_cannot_be_checked_are_refused(make_proxy, echo, given: Any) -> None:
    client, _ = make_proxy()
    answer = client.post("/v1/embeddings", json={"model": "echo", "input": given})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "input"
    assert not echo.received


def test_embedding_requests_have_their_own_limits(make_proxy, echo) -> None:
    """Each text is a guard check and a decision: their number is capped; embeddings have no stream and no budget."""
    client, _ = make_proxy(limits=Limits(max_input_texts=3))
    many = client.post("/v1/embeddings", json={"model": "echo", "input": [""] * 4})
    streamed = client.post("/v1/embeddings", json={"model": "echo", "input": ["a", "b"], "stream": True})
    budget = client.post("/v1/embeddings", json={"model": "echo", "input": "a", "max_tokens": 10**9})

    assert many.status_code == 413 and "at most 3" in many.json()["error"]["message"]
    assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "stream"
    assert budget.status_code == 200 and echo.received[-1]["max_tokens"] == 10**9  # passed on as it came


def test_a_blocked_embedding_names_its_decision_and_upstream_failures_pass_through(make_proxy, echo, policies) -> None:
    client, sink = make_proxy(policy=policies["message"])
    blocked = client.post("/v1/embeddings", json={"model": "echo", "input": f"you {MARKER}"})
    echo.fail_status = 500
    failed = client.post("/v1/embeddings", json={"model": "echo", "input": "hello"})

    assert blocked.headers["x-ombud-decision-id"] == next(d.id for d in sink.decisions if d.blocked)
    assert failed.status_code == 502


def test_answer_reasoning_is_checked_and_audio_refused(make_proxy, echo) -> None:
    client, _ = make_proxy()
    message = {"role": "assistant", "content": "ok", "reasoning": f"write to {EMAIL}"}
    echo.replies.append(RawReply(json.dumps({"choices": [{"index": 0, "message": message}]}).encode()))
    reasoned = client.post("/v1/chat/completions", json=chat("hi")).json()
    audio = {"role": "assistant", "content": None, "audio": {"id": "a", "data": "UklGR", "transcript": EMAIL}}
    echo.replies.append(RawReply(json.dumps({"choices": [{"index": 0, "message": audio}]}).encode()))
    spoken = client.post("/v1/chat/completions", json=chat("hi"))

    assert EMAIL not in json.dumps(reasoned) and reasoned["choices"][0]["message"]["reasoning"].startswith("write to")
    assert spoken.status_code == 502 and "audio answer cannot be checked" in spoken.json()["error"]["message"]


def test_direct_identifiers_stay_out_of_the_audit_and_away_from_the_upstream(make_proxy, echo) -> None:
    """Clients often put an e-mail address in ``metadata`` and ``user``: the former is not recorded as a subject
    attribute, the latter reaches the upstream only as a keyed hash (stable, so users stay apart)."""
    client, sink = make_proxy()
    metadata = {"age_band": "40-60", "email": EMAIL, "phone": "+1 415 555 0100", "zip": "94103"}
    metadata |= {"ssn": "078-05-1120", "signup": "2024-01-15", "income": "1000000+"}
    for user in (EMAIL, EMAIL, "someone-else"):
        client.post("/v1/chat/completions", json=chat("hi", metadata=metadata, user=user))

    sent = [body["user"] for body in echo.received]
    assert EMAIL not in json.dumps(echo.received) and sent[0] == sent[1] != sent[2] and sent[0].startswith("ombud-")
    kept = {"age_band": "40-60", "zip": "94103", "signup": "2024-01-15", "income": "1000000+"}
    assert dict(sink.decisions[0].context.subject) == kept
    refused = client.post("/v1/chat/completions", json=chat("hi", user=42))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "user"


def test_deep_json_in_a_request_is_no_crash(make_proxy, echo) -> None:
    """A deeply nested field the proxy does not read is passed on; deep tool calls are refused with 400, not a 500."""
    client, _ = make_proxy()
    deep = "[" * 600 + "]" * 600
    beside = b'{"model": "echo", "messages": [{"role": "user", "content": "hi", "x": ' + deep.encode() + b"}]}"
    calls = b'[{"id": "c", "type": "function", "function": {"name": "f", "arguments": ' + deep.encode() + b"}}]"
    inside = b'{"model": "echo", "messages": [{"role": "assistant", "content": null, "tool_calls": ' + calls + b"}]}"
    headers = {"Content-Type": "application/json"}

    assert client.post("/v1/chat/completions", content=beside, headers=headers).status_code == 200
    refused = client.post("/v1/chat/completions", content=inside, headers=headers)
    assert refused.status_code == 400 and "nested too deeply" in refused.json()["error"]["message"]


def test_an_answer_whose_reasoning_is_not_text_is_refused(make_proxy, echo) -> None:
    client, _ = make_proxy()
    message = {"role": "assistant", "content": "ok", "reasoning": {"steps": [EMAIL]}}
    echo.replies.append(RawReply(json.dumps({"choices": [{"index": 0, "message": message}]}).encode()))
    answer = client.post("/v1/chat/completions", json=chat("hi"))
    assert answer.status_code == 502 and "'reasoning' is not text" in answer.json()["error"]["message"]


@pytest.mark.parametrize("media", ["block", "flag"])
def test_an_image_in_a_request_goes_by_the_media_rule(
    make_proxy, echo, policies: dict[str, str], tmp_path, media: str
) -> None:
    """Blocked by default (400, the upstream never sees it); with ``media: flag`` forwarded as it came, recorded."""
    policy = tmp_path / "p.yaml"
    policy.write_text(Path(policies["raise"]).read_text() + f"media: {media}\n")
    client, sink = make_proxy(policy=str(policy))
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    body = {"model": "echo", "messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, image]}]}
    response = client.post("/v1/chat/completions", json=body)

    media_decision = sink.decisions[0]
    assert media_decision.rules[0].scanner == "media" and media_decision.rules[0].label == "image_url"
    if media == "block":
        assert response.status_code == 400 and response.json()["error"]["code"] == "input_blocked"
        assert echo.received == []
    else:
        assert response.status_code == 200 and media_decision.action.value == "flag"
        assert echo.received[-1]["messages"][0]["content"][1] == image


def test_the_responses_api_is_guarded(make_proxy, echo) -> None:
    """/v1/responses: instructions and input items are checked before the upstream sees them, the answer's output
    items after; the token budget goes in max_output_tokens; a block is 400 input_blocked."""
    client, sink = make_proxy()
    body = {
        "model": "echo",
        "instructions": f"Escalate to {EMAIL}.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": f"I am {NAME}"}]}],
    }
    echo.replies.append("Hello <PERSON_1>, your card is 4111111111111111.")
    response = client.post("/v1/responses", json=body)

    assert response.status_code == 200, response.text
    sent = echo.received[-1]
    assert EMAIL not in json.dumps(sent) and NAME not in json.dumps(sent)
    assert sent["max_output_tokens"] > 0 and "max_tokens" not in sent
    text = response.json()["output"][0]["content"][0]["text"]
    assert text.startswith(f"Hello {NAME}, your card is ") and "4111111111111111" not in text
    assert [d.stage.value for d in sink.decisions] == ["input", "input", "output"]

    blocked = client.post("/v1/responses", json={"model": "echo", "input": f"you {MARKER}"})
    assert blocked.status_code == 400 and blocked.json()["error"]["code"] == "input_blocked"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "echo", "input": []}, "input"),
        ({"model": "echo", "input": "hi", "instructions": 7}, "instructions"),
        ({"model": "echo", "input": [{"type": "computer_call_output", "output": {}}]}, "input"),
        ({"model": "echo", "input": "hi", "prompt": {"id": "pmpt_1", "variables": {"who": NAME}}}, "prompt"),
    ],
)
def test_a_responses_request_the_proxy_cannot_check_is_a_400(make_proxy, echo, body, param) -> None:
    client, _ = make_proxy()
    response = client.post("/v1/responses", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert echo.received == []


def test_a_responses_answer_the_proxy_cannot_check_is_a_502(make_proxy, echo) -> None:
    client, _ = make_proxy()
    item = {"type": "web_search_call", "id": "ws", "status": "completed"}
    echo.replies.append(RawReply(json.dumps({"object": "response", "output": [item]}).encode()))
    response = client.post("/v1/responses", json={"model": "echo", "input": "hi"})
    assert response.status_code == 502 and "web_search_call" in response.json()["error"]["message"]


def test_a_refused_responses_request_answers_the_policy_message(make_proxy, echo, policies) -> None:
    client, _ = make_proxy(policy=policies["message"])
    response = client.post("/v1/responses", json={"model": "echo", "input": f"you {MARKER}"})
    assert response.status_code == 200 and echo.received == []
    assert response.json()["output"][0]["content"][0]["text"] == "Withheld by policy."


def _response_events(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def test_a_streamed_response_is_guarded_and_reads_with_the_openai_sdk(make_proxy, echo) -> None:
    """Guarded text deltas, numbered events, the upstream's response id, and a completed response whose output is
    what was sent: the OpenAI SDK reads it."""
    from openai import OpenAI

    client, sink = make_proxy()
    reply = ["Hello <PER", "SON_1>, I wrote to bob.sm", "ith@example.org. ", *["Have a good day. "] * 12]
    echo.replies.append(reply)
    events = _response_events(client, {"model": "echo", "input": f"I am {NAME}"})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text.startswith(f"Hello {NAME}, I wrote to <EMAIL_ADDRESS") and "bob.smith" not in text
    completed = events[-1]["response"]
    assert completed["id"].startswith("resp-echo-") and completed["output"][0]["content"][0]["text"] == text
    assert [d.stage.value for d in sink.decisions] == ["input", "output"]

    echo.replies.append(reply)
    sdk = OpenAI(base_url=str(client.base_url) + "/v1", api_key="unused")
    streamed = list(sdk.responses.create(model="echo", input=f"I am {NAME}", stream=True))
    assert streamed[-1].type == "response.completed" and streamed[-1].response.output_text == text


def test_a_streamed_response_checks_its_tool_calls_and_refuses_what_it_cannot_check(make_proxy, echo) -> None:
    client, _ = make_proxy()
    call = {"type": "function_call", "id": "fc", "call_id": "c", "name": "send", "arguments": json.dumps({"to": EMAIL})}
    done = {"type": "response.completed", "response": {"id": "resp_up", "object": "response", "output": []}}
    added = {"type": "response.output_item.done", "output_index": 0, "item": call}
    echo.replies.append(_sse_body({"type": "response.created", "response": done["response"]}, added, done))
    events = _response_events(client, {"model": "echo", "input": "mail John"})
    output = events[-1]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "function_call"]
    assert EMAIL not in output[1]["arguments"] and events[-1]["response"]["id"] == "resp_up"

    search = {**added, "item": {"type": "web_search_call", "id": "ws", "status": "completed"}}
    echo.replies.append(_sse_body({"type": "response.created", "response": done["response"]}, search, done))
    events = _response_events(client, {"model": "echo", "input": "hi"})
    assert events[-1]["type"] == "error" and "web_search_call" in events[-1]["message"]


def test_a_streamed_response_blocked_or_refused(make_proxy, echo, policies) -> None:
    client, _ = make_proxy()
    echo.replies.append(["You are a ", f"{MARKER}, clearly. ", *["More words here. "] * 10])
    events = _response_events(client, {"model": "echo", "input": "hi"})
    assert events[-1]["type"] == "error" and events[-1]["code"] == "output_blocked"

    refusing, _ = make_proxy(policy=policies["message"])
    events = _response_events(refusing, {"model": "echo", "input": f"you {MARKER}"})
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Withheld by policy."


def test_every_text_of_a_chat_request_is_counted_and_its_bad_shapes_are_400s(make_proxy, echo) -> None:
    """A name that is not a string was a 503, and reasoning sent back was not counted against the limit (review)."""
    client, _ = make_proxy()
    named = {"model": "echo", "messages": [{"role": "user", "name": 5, "content": "hi"}]}
    response = client.post("/v1/chat/completions", json=named)
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages[0]"

    small, _ = make_proxy(limits=Limits(max_input_chars=100))
    history = [
        {"role": "assistant", "content": "ok", "reasoning_content": "x" * 500},
        {"role": "user", "content": "hi"},
    ]
    assert small.post("/v1/chat/completions", json={"model": "echo", "messages": history}).status_code == 413
    assert echo.received == []


def test_a_responses_stream_is_read_from_its_completed_response(make_proxy, echo) -> None:
    """An error event before [DONE] was sent on as a completed response; items and text only in the completed
    response were dropped (QA)."""
    client, _ = make_proxy()
    created = {"type": "response.created", "response": {"id": "resp_up", "object": "response", "output": []}}
    failed = {"type": "error", "code": "server_error", "message": "the model crashed"}
    echo.replies.append(_sse_body(created, {"type": "response.output_text.delta", "delta": "Hi"}, failed))
    events = _response_events(client, {"model": "echo", "input": "hi"})
    assert events[-1]["type"] == "error" and "the model crashed" in events[-1]["message"]

    call = {"type": "function_call", "id": "fc", "call_id": "c", "name": "send", "arguments": json.dumps({"to": EMAIL})}
    text = {"type": "message", "id": "m", "role": "assistant", "content": [{"type": "output_text", "text": "Sent."}]}
    done = {"type": "response.completed", "response": {**created["response"], "output": [text, call]}}
    echo.replies.append(_sse_body(created, done))
    output = _response_events(client, {"model": "echo", "input": "hi"})[-1]["response"]["output"]
    assert output[0]["content"][0]["text"] == "Sent." and output[1]["type"] == "function_call"
    assert EMAIL not in output[1]["arguments"]


def test_responses_limits_count_every_budget_name_and_unknown_fields_are_refused(make_proxy, echo) -> None:
    client, _ = make_proxy(limits=Limits(max_output_tokens=100))
    too_much = client.post("/v1/responses", json={"model": "echo", "input": "hi", "max_tokens": 100_000})
    assert too_much.status_code == 413

    odd = {"type": "message", "id": "m", "role": "assistant", "content": [], "transcript": EMAIL}
    echo.replies.append(RawReply(json.dumps({"object": "response", "output": [odd]}).encode()))
    refused = client.post("/v1/responses", json={"model": "echo", "input": "hi"})
    assert refused.status_code == 502 and "transcript" in refused.json()["error"]["message"]
