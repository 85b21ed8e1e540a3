"""The Guard end to end: check/acheck, wrap and decorator (sync and async), sessions, errors, bad input, sinks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from guards import (
    Action,
    Blocked,
    CallContext,
    Guard,
    GuardError,
    InputError,
    ListSink,
    PolicyError,
    ScannerError,
    SinkError,
    Stage,
    UncheckableAnswer,
    Verdict,
)
from guards.scanners.base import ScanContext, ScannerBase, register

CARD = "4111 1111 1111 1111"


class ExplodingScanner(ScannerBase):
    """A scanner that always raises (registered for these tests only)."""

    type_name = "exploding"
    labels: ClassVar[frozenset[str] | None] = frozenset({"X"})

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        raise RuntimeError("model file is corrupt")


class SlowScanner(ScannerBase):
    """A scanner that waits on an event that never comes within the timeout."""

    type_name = "slow"
    labels: ClassVar[frozenset[str] | None] = frozenset({"X"})

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        import threading

        threading.Event().wait(float(self.params.get("seconds", 2)))
        return Verdict.of(self.id, [])


register("exploding", f"{__name__}:ExplodingScanner")
register("slow", f"{__name__}:SlowScanner")


def test_check_redacts_and_records_a_safe_decision(default_guard: Guard) -> None:
    sink = ListSink()
    guard = Guard(default_guard.policy, audit=sink)
    decision = guard.check(
        f"I'm John Smith, card {CARD}, mail john@example.com", context=CallContext(application="app")
    )
    assert decision.action is Action.REDACT
    assert CARD not in decision.text and "john@example.com" not in decision.text and "John Smith" not in decision.text
    assert "**** **** **** 1111" in decision.text
    assert sink.decisions == [decision]
    assert decision.original == ""  # raw text is kept only when a policy opts in
    assert "John Smith" not in decision.safe_text and "John Smith" not in str(decision.to_dict())
    assert decision.policy == guard.policy.ref and decision.context.application == "app"
    assert decision.context.request_id
    assert sink.policies[guard.policy.sha256] == guard.policy.document


def test_acheck_matches_check(default_guard: Guard) -> None:
    text = f"card {CARD}"
    assert asyncio.run(default_guard.acheck(text)).text == default_guard.check(text).text


def test_session_pseudonymises_prompt_and_restores_answer(default_guard: Guard) -> None:
    with default_guard.session("Hi, I'm Jane Doe, write to jane.doe@example.com") as s:
        assert s.prompt is not None
        assert "Jane Doe" not in s.prompt and "<PERSON_1>" in s.prompt and "<EMAIL_ADDRESS_1>" in s.prompt
        answer = s.output("Dear <PERSON_1>, I wrote to <EMAIL_ADDRESS_1>.")
    assert answer == "Dear Jane Doe, I wrote to jane.doe@example.com."
    assert [d.stage for d in s.decisions] == [Stage.INPUT, Stage.OUTPUT]
    assert len({d.context.request_id for d in s.decisions}) == 1


def test_model_generated_pii_is_not_restored(default_guard: Guard) -> None:
    with default_guard.session("Who should I call?") as s:
        answer = s.output("Call Robert Johnson at robert.johnson@example.org")
    assert "robert.johnson@example.org" not in answer and "Robert Johnson" not in answer


def test_wrap_plain_function_and_decorator(default_guard: Guard) -> None:
    seen: list[str] = []

    @default_guard
    def llm(prompt: str, temperature: float = 0.0) -> str:
        seen.append(prompt)
        return f"echo: {prompt}"

    assert llm(f"pay with {CARD}", temperature=0.2) == "echo: pay with **** **** **** 1111"
    assert seen == ["pay with **** **** **** 1111"]
    assert llm.__name__ == "llm"


def test_wrap_async_function_and_prompt_arg(default_guard: Guard) -> None:
    seen: list[str] = []

    async def llm(system: str, question: str) -> str:
        seen.append(question)
        return "Reach me at <EMAIL_ADDRESS_1>"

    guarded = default_guard.wrap(llm, prompt_arg="question")
    answer = asyncio.run(guarded("be nice", question="I'm at amy@example.net"))
    assert seen == ["I'm at <EMAIL_ADDRESS_1>"]
    assert answer == "Reach me at amy@example.net"


def test_wrap_openai_style_messages_and_completion(default_guard: Guard) -> None:
    received: dict[str, Any] = {}

    def create(*, model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        received["messages"] = messages
        return {"choices": [{"message": {"role": "assistant", "content": "ok <PERSON_2>, card " + CARD}}]}

    result = default_guard.wrap(create)(
        model="m",
        messages=[
            {"role": "system", "content": "You help."},
            {"role": "assistant", "content": "earlier answer mentioning Tom Hanks"},
            {"role": "user", "content": [{"type": "text", "text": "I am Carla Mendes"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "mail jane.doe@example.com"}]},
        ],
    )
    # an earlier answer sent back is checked too: the caller got it with its pseudonyms restored
    assert received["messages"][1]["content"] == "earlier answer mentioning <PERSON_1>"
    assert received["messages"][2]["content"][0]["text"] == "I am <PERSON_2>"
    assert received["messages"][3]["content"] == [{"type": "input_text", "text": "mail <EMAIL_ADDRESS_1>"}]
    assert result["choices"][0]["message"]["content"] == "ok Carla Mendes, card **** **** **** 1111"


def test_a_participant_name_is_checked_like_text(default_guard: Guard) -> None:
    """The OpenAI message 'name' reached the model unchecked (QA: 'Jane_Doe'); a name with nothing to hide stays."""
    received: list[Any] = []
    messages = [
        {"role": "user", "name": "Jane_Doe", "content": "Hello, it's me again."},
        {"role": "user", "name": "planner", "content": "hi"},
    ]
    default_guard.wrap(lambda messages: received.append(messages) or "ok")(messages=messages)
    assert [m["name"] for m in received[0]] == ["PERSON_1", "planner"]
    assert messages[0]["name"] == "Jane_Doe"


def test_an_earlier_answers_refusal_and_reasoning_sent_back_are_checked(default_guard: Guard) -> None:
    """A tool loop appends the SDK message, pseudonyms restored: its refusal and reasoning reached the model raw,
    and a refusal part was refused as media (QA)."""
    received: list[Any] = []
    email = "jane.doe@example.com"
    messages = [
        {"role": "assistant", "content": None, "refusal": f"I can't email {email}"},
        {"role": "assistant", "content": "ok", "reasoning_content": f"the user is {email}"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": f"no {email}"}]},
    ]
    default_guard.wrap(lambda messages: received.append(messages) or "ok")(messages=messages)
    assert email not in json.dumps(received) and "<EMAIL_ADDRESS_1>" in received[0][0]["refusal"]
    with pytest.raises(InputError, match="'name' must be a string"):
        default_guard.wrap(lambda messages: "x")(messages=[{"role": "user", "name": [email], "content": "hi"}])


def test_wrapped_tool_calls_are_checked_in_dicts_and_sdk_objects(default_guard: Guard) -> None:
    """Tool calls sent back in the history are checked (on a copy), and so are the ones the model answers with:
    function arguments (a card sent as a JSON number included) and a custom tool's input."""
    earlier = {"id": "c1", "type": "function", "function": {"name": "pay", "arguments": '{"name": "Carla Mendes"}'}}
    received: dict[str, Any] = {}

    def create(*, model: str, messages: list[dict[str, Any]]) -> Any:
        received["messages"] = messages
        arguments = json.dumps({"card": 4111111111111111, "qty": 2, "note": "for <PERSON_1>"})
        pay = SimpleNamespace(type="function", function=SimpleNamespace(name="pay", arguments=arguments), custom=None)
        grep = SimpleNamespace(type="custom", function=None, custom=SimpleNamespace(input="mail jane.doe@example.com"))
        message = SimpleNamespace(role="assistant", content=None, tool_calls=[pay, grep])
        return SimpleNamespace(choices=[SimpleNamespace(message=message)])

    messages = [{"role": "user", "content": "pay it"}, {"role": "assistant", "content": None, "tool_calls": [earlier]}]
    result = default_guard.wrap(create)(model="m", messages=messages)

    assert json.loads(received["messages"][1]["tool_calls"][0]["function"]["arguments"]) == {"name": "<PERSON_1>"}
    assert earlier["function"]["arguments"] == '{"name": "Carla Mendes"}'  # the caller's own messages are untouched
    pay, grep = result.choices[0].message.tool_calls
    arguments = json.loads(pay.function.arguments)
    assert "4111111111111111" not in pay.function.arguments and arguments["qty"] == 2
    assert arguments["note"] == "for Carla Mendes"
    assert "jane.doe" not in grep.custom.input and grep.custom.input.startswith("mail <EMAIL_ADDRESS")


def test_a_wrapped_blocked_tool_call_is_withheld(make_guard: Callable[..., Any]) -> None:
    """With ``on_block: message`` the answer calls no tool (``finish_reason`` says so); SDK message objects in the
    history, as a tool loop appends them, are accepted and passed on as dicts."""
    guard, _ = make_guard(
        "name: t\non_block: message\nblock_message: Withheld.\nscanners:\n  - type: regex\n    action: block\n"
        "    params: {entities: [{label: M, deny_list: [zorblax]}]}\n"
    )
    received: dict[str, Any] = {}

    class Message(BaseModel):
        role: str
        content: str | None = None

    def create(*, model: str, messages: list[Any]) -> dict[str, Any]:
        received["messages"] = messages
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"b": "zorblax"}'}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return {"choices": [{"message": message, "finish_reason": "tool_calls"}]}

    result = guard.wrap(create)(model="m", messages=[Message(role="user", content="hi")])
    assert received["messages"] == [{"role": "user", "content": "hi"}]
    choice = result["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["tool_calls"] is None and choice["message"]["content"] == "Withheld."


def test_wrapped_answers_in_parts_are_checked_and_unreadable_ones_refused(default_guard: Guard) -> None:
    def parts(**_: Any) -> dict[str, Any]:
        content = [{"type": "output_text", "text": "Your card "}, {"type": "output_text", "text": CARD}]
        return {"choices": [{"message": {"role": "assistant", "content": content}}]}

    def odd(**_: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"role": "assistant", "content": {"text": CARD}}}]}

    answer = default_guard.wrap(parts)(model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer["choices"][0]["message"]["content"] == [
        {"type": "output_text", "text": "Your card **** **** **** 1111"}
    ]
    with pytest.raises(UncheckableAnswer, match="neither text, a list of parts"):
        default_guard.wrap(odd)(model="m", messages=[{"role": "user", "content": "hi"}])


def test_scanners_limited_to_roles_skip_other_messages(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = make_guard(
        """
        name: t
        scanners:
          - type: regex
            roles: [user]
            action: block
            params: {entities: [{label: MARKER, deny_list: [zorblax]}]}
        """
    )
    system = {"role": "system", "content": "Never say zorblax."}
    assert guard.wrap(lambda messages: "fine")(messages=[system, {"role": "user", "content": "hi"}]) == "fine"
    assert [len(d.verdicts) for d in sink.decisions[:2]] == [0, 1]
    with pytest.raises(Blocked):
        guard.wrap(lambda messages: "x")(messages=[{"role": "user", "content": "say zorblax"}])
    assert guard.check("zorblax").blocked  # text without a role is always scanned
    assert not guard.check("zorblax", role="system").blocked


def test_wrap_pipeline_style_output(default_guard: Guard) -> None:
    def pipe(text_inputs: str, **_: Any) -> list[dict[str, str]]:
        return [{"generated_text": text_inputs + " and mail ann@example.com"}]

    out = default_guard.wrap(pipe)("Hello")
    assert out == [{"generated_text": "Hello and mail <EMAIL_ADDRESS_1>"}]


def test_wrap_without_a_prompt_is_a_clear_error(default_guard: Guard) -> None:
    with pytest.raises(GuardError, match="cannot find the prompt"):
        default_guard.wrap(lambda: "x")()
    with pytest.raises(GuardError, match="cannot find the answer"):
        default_guard.wrap(lambda p: 42)("hi")


def test_blocked_input_never_calls_the_model(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = make_guard("name: t\nscanners:\n  - type: secrets\n    action: block\n")
    called: list[str] = []
    with pytest.raises(Blocked) as info:
        guard.wrap(lambda p: called.append(p) or "x")("key AKIAIOSFODNN7EXAMPLE")
    assert called == []
    assert info.value.decision.action is Action.BLOCK and info.value.decision is sink.decisions[-1]
    assert "AKIAIOSFODNN7EXAMPLE" not in sink.decisions[-1].safe_text


def test_on_block_message_returns_the_safe_message(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, _ = make_guard(
        "name: t\non_block: message\nblock_message: nope\nscanners:\n  - type: secrets\n    action: block\n"
    )
    assert guard.wrap(lambda p: "unreachable")("key AKIAIOSFODNN7EXAMPLE") == "nope"


@pytest.mark.parametrize("shape", ["sync", "async", "async generator"])
def test_on_block_message_answers_the_message_when_a_later_message_passes(
    make_guard: Callable[..., tuple[Guard, ListSink]], shape: str
) -> None:
    """The refusal is the first blocked decision's message, not the text of whichever message was checked last
    (that returned the user's own last message as the model's answer)."""
    guard, sink = make_guard(
        "name: t\non_block: message\nblock_message: nope\nscanners:\n  - type: secrets\n    action: block\n"
    )
    messages = [{"role": "user", "content": "key AKIAIOSFODNN7EXAMPLE"}, {"role": "user", "content": "hi there"}]

    def model(messages: list[dict[str, str]]) -> str:
        raise AssertionError("the model must not be called")

    async def amodel(messages: list[dict[str, str]]) -> str:
        raise AssertionError("the model must not be called")

    async def agen(messages: list[dict[str, str]]) -> AsyncIterator[str]:
        raise AssertionError("the model must not be called")
        yield ""

    async def collect() -> str:
        return "".join([piece async for piece in guard.wrap(agen)(messages=messages)])

    if shape == "sync":
        answer = guard.wrap(model)(messages=messages)
    elif shape == "async":
        answer = asyncio.run(guard.wrap(amodel)(messages=messages))
    else:
        answer = asyncio.run(collect())
    assert answer == "nope"
    assert [d.action.value for d in sink.decisions] == ["block", "allow"]


def test_failing_scanner_fails_closed_with_cause(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = make_guard("name: t\nscanners:\n  - type: exploding\n")
    with pytest.raises(Blocked) as info, guard.session("hello John"):
        pass
    cause = info.value.__cause__
    assert isinstance(cause, ScannerError) and isinstance(cause.__cause__, RuntimeError)
    decision = sink.decisions[-1]
    assert decision.rules[0].reason == "error" and decision.verdicts[0].error
    assert decision.safe_text.startswith("[text withheld")


def test_a_text_blocked_before_the_pii_scanner_ran_is_not_stored(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    guard, sink = make_guard(
        """
        name: t
        fail_fast: true
        scanners:
          - {id: marker, type: regex, action: block, params: {entities: [{label: M, deny_list: [zorblax]}]}}
          - {id: pii, type: pii, action: redact}
        """
    )
    decision = guard.check("zorblax: write to jane.doe@example.com")

    assert decision.action.value == "block" and [v.scanner for v in decision.verdicts] == ["marker"]
    assert decision.safe_text == "[text withheld: scanner pii did not run (blocked first), 38 characters]"
    assert "jane.doe" not in repr(sink.decisions[-1])


def test_a_pattern_that_backtracks_for_ever_fails_its_scanner(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    guard, _ = make_guard(
        """
        name: t
        on_error: allow
        scanners:
          - {id: slow, type: regex, action: block, params: {entities: [{label: S, patterns: ['(a|aa)+$']}]}}
        """
    )
    decision = guard.check("a" * 60 + "!")  # about 2**60 ways to fail; the engine gives up after PATTERN_TIMEOUT_S

    assert decision.action.value == "allow"
    assert "ran over" in (decision.verdicts[0].error or "")


def test_failing_scanner_can_fail_open(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, _ = make_guard("name: t\non_error: flag\nscanners:\n  - type: exploding\n")
    assert guard.check("hello").action is Action.FLAG


def test_scanner_timeout_is_an_error(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, _ = make_guard("name: t\nscanners:\n  - type: slow\n    timeout_ms: 20\n    params: {seconds: 1}\n")
    decision = guard.check("hello")
    assert decision.blocked and "timed out" in (decision.verdicts[0].error or "")


class BrokenSink(ListSink):
    def write(self, decision: Any) -> None:
        raise ConnectionError("database went away")


@pytest.mark.parametrize(("mode", "raises"), [("block", True), ("allow", False)])
def test_sink_failure_follows_audit_on_error(make_policy: Callable[..., Any], mode: str, raises: bool) -> None:
    guard = Guard(
        make_policy(f"name: t\naudit: {{on_error: {mode}}}\nscanners:\n  - type: secrets\n"), audit=BrokenSink()
    )
    if raises:
        with pytest.raises(SinkError, match="database went away"):
            guard.check("hi")
    else:
        assert guard.check("hi").action is Action.ALLOW


@pytest.mark.parametrize(
    ("text", "action", "expected"),
    [
        ("", Action.ALLOW, ""),
        ("hello\u200b world\u202e", Action.REDACT, "hello world"),
        (
            b"Can you recommend a good book about gardening?",
            Action.ALLOW,
            "Can you recommend a good book about gardening?",
        ),
        (b"bad \xff\xfe utf8", Action.REDACT, "bad  utf8"),
        ("lone \ud800 surrogate", Action.REDACT, "lone  surrogate"),  # e.g. a bad JSON escape
        ("argv \udcff byte", Action.REDACT, "argv  byte"),  # an undecodable byte under surrogateescape
        ("x" * 40_000, Action.BLOCK, "Sorry, I can't help with that request."),
    ],
)
def test_bad_input_is_handled(default_guard: Guard, text: str | bytes, action: Action, expected: str) -> None:
    decision = default_guard.check(text)
    assert decision.action is action
    assert decision.text == expected


def test_invisible_characters_cannot_hide_pii(default_guard: Guard) -> None:
    decision = default_guard.check("mail j\u200bohn@exa\u200bmple.com")
    assert decision.text == "mail <EMAIL_ADDRESS>"


@pytest.mark.parametrize("text", [b"mail jane@exa\xffmple.com", "mail jane@exa\ud800mple.com"])
def test_a_bad_byte_cannot_hide_pii(default_guard: Guard, text: str | bytes) -> None:
    """The undecodable byte is removed like a hidden character before the PII scan (QA: the model got
    'jane@exa\ufffdmple.com' and the audit log stored 'jane@example.com')."""
    decision = default_guard.check(text)
    assert decision.text == "mail <EMAIL_ADDRESS>" and decision.safe_text == "mail <EMAIL_ADDRESS>"


def test_the_stored_text_replaces_flagged_characters_instead_of_removing_them(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    """Removing a character the policy only flagged joined the value around it in the stored text: a policy that
    flags bad bytes stored the raw address 'jane@example.com' (QA)."""
    guard, sink = make_guard(
        "name: t\nscanners:\n  - type: hygiene\n    action: redact\n    operator: remove\n"
        "    labels: {INVALID_UTF8: {action: flag}}\n  - type: pii\n    action: redact\n"
    )
    decision = guard.check(b"mail jane@exa\xffmple.com")
    assert decision.safe_text.startswith("mail jane@exa<INVALID_UTF8>")
    assert "jane@example.com" not in repr(sink.decisions)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111\u00a01111\u00a01111\u00a01111",  # no-break spaces: pasted from a web page
        "card 4111\u202f1111\u202f1111\u202f1111",  # narrow no-break spaces: French digit grouping
        "card 4111\u30001111\u30001111\u30001111",  # ideographic spaces
        "card ４１１１ １１１１ １１１１ １１１１",  # full-width digits
        "card ٤١١١ ١١١١ ١١١١ ١١١١",  # Arabic-Indic digits
        "mail jane＠example.com",  # a full-width at sign
        "call 212\u2013555\u20131234 now",  # en dashes
    ],
)
def test_lookalike_characters_cannot_hide_pii(default_guard: Guard, text: str) -> None:
    """Found in the text with look-alike characters made plain, at the same offsets (QA: all of these reached the
    model raw)."""
    decision = default_guard.check(text)
    assert decision.action is Action.REDACT and any(r.scanner == "pii" for r in decision.rules)
    assert decision.text != text and text.split()[0] == decision.text.split()[0]


def test_wrong_types_and_undecodable_bytes_without_hygiene(make_guard: Callable[..., Any]) -> None:
    guard, _ = make_guard("name: t\nscanners:\n  - type: secrets\n")
    with pytest.raises(InputError, match="got int"):
        guard.check(42)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not valid UTF-8"):
        guard.check(b"\xff")
    with pytest.raises(InputError, match=r"lone surrogate .* at character 3"):
        guard.check("abc\ud800")
    with pytest.raises(InputError, match="unknown stage 'middle': use one of input, output"):
        guard.check("hello", stage="middle")
    assert guard.check("hello", stage="output").stage is Stage.OUTPUT


@pytest.mark.parametrize("on_error", ["block", "allow"])
def test_a_misspelt_pii_entity_type_fails_the_call_whatever_on_error_says(
    make_guard: Callable[..., Any], on_error: str
) -> None:
    """A configuration error is not a passing scanner failure: ``on_error: allow`` must not let every text through."""
    policy = f"name: t\non_error: {on_error}\nscanners:\n  - type: pii\n    params: {{entities: [EMAIL_ADRESS]}}\n"
    guard, sink = make_guard(policy)
    with pytest.raises(
        PolicyError, match=r"\.yaml: scanner 'pii': params.entities: unknown label\(s\) \['EMAIL_ADRESS'\]"
    ):
        guard.check("write to jane@example.com")
    assert not sink.decisions
    with pytest.raises(PolicyError, match="did you mean EMAIL_ADRESS → EMAIL_ADDRESS"):
        guard.warmup()


def test_a_guard_never_warmed_up_checks_its_labels_at_the_first_scan(make_guard: Callable[..., Any]) -> None:
    """Most callers never call ``warmup()``: a misspelt PII label must still not be ignored without a word."""
    guard, sink = make_guard("name: t\nscanners:\n  - type: pii\n    labels: {US_SNN: {action: block}}\n")
    with pytest.raises(PolicyError, match=r"\.yaml: scanner 'pii': labels: unknown label\(s\) \['US_SNN'\]"):
        guard.check("my SSN is 078-05-1120")
    assert not sink.decisions
    guard, _ = make_guard("name: t\nscanners:\n  - type: pii\n    labels: {EMAIL_ADDRESS: {action: block}}\n")
    assert guard.check("write to jane@example.com").action is Action.BLOCK


def test_pii_entities_limit_presidio_and_custom_entities_alike(make_guard: Callable[..., Any]) -> None:
    """``params.entities`` may name a custom or built-in entity (STREET_ADDRESS) alone: presidio then does not run
    (it would refuse a type it does not know), and a list of presidio types leaves the custom entities out."""
    text = "I live at 1600 Pennsylvania Avenue, write to jane@example.com"
    found = {}
    for wanted in ("STREET_ADDRESS", "EMAIL_ADDRESS"):
        guard, _ = make_guard(f"name: t\nscanners:\n  - type: pii\n    params: {{entities: [{wanted}]}}\n")
        decision = guard.check(text)
        found[wanted] = {f.label for v in decision.verdicts for f in v.findings if not v.error}
    assert found == {"STREET_ADDRESS": {"STREET_ADDRESS"}, "EMAIL_ADDRESS": {"EMAIL_ADDRESS"}}


def test_raw_text_is_kept_only_when_the_policy_opts_in(make_guard: Callable[..., Any]) -> None:
    guard, sink = make_guard("name: t\naudit: {store_raw_text: true}\nscanners:\n  - type: secrets\n")
    guard.check("key AKIAIOSFODNN7EXAMPLE")
    assert sink.decisions[-1].original == "key AKIAIOSFODNN7EXAMPLE"
    assert "AKIA" not in repr(sink.decisions[-1])
