"""Tool-call arguments: which values are checked, what comes back, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from guards.errors import InputError, UncheckableAnswer
from guards.toolcalls import (
    SEPARATOR,
    check_arguments,
    check_tool_calls,
    checked_copy,
    merge_tool_call_deltas,
    withdraw_tool_calls,
)


class Recorder:
    """A check that records what it was given and replaces the word ``secret``."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, text: Any) -> str:
        self.seen.append(text)
        return str(text).replace("secret", "<X>")


def test_the_texts_of_a_call_are_checked_together_as_one_text() -> None:
    """String values, long numbers and keys that are not identifiers, in one check (one decision, fields side by
    side); schema keys, booleans, empty strings and short numbers are left out."""
    check = Recorder()
    arguments = {"to": "a secret", "n": 3, "phone": 5551234567, "ok": True, "list": ["x", {"y": ""}]}
    arguments |= {"guests": {"secret@example.com": "required"}}
    out = json.loads(check_arguments(json.dumps(arguments), check))
    assert check.seen == [SEPARATOR.join(["a secret", "5551234567", "x", "secret@example.com", "required"])]
    assert out == arguments | {"to": "a <X>", "guests": {"<X>@example.com": "required"}}


def test_texts_that_hold_the_separator_are_checked_one_by_one() -> None:
    check = Recorder()
    out = json.loads(check_arguments(json.dumps({"a": f"one{SEPARATOR}secret", "b": "two"}), check))
    assert check.seen == [f"one{SEPARATOR}secret", "two"] and out == {"a": f"one{SEPARATOR}<X>", "b": "two"}


def test_repeated_keys_and_keys_merged_by_redaction_are_refused() -> None:
    """A reader of repeated keys sees one value (which?), so the arguments are refused rather than half checked."""
    with pytest.raises(UncheckableAnswer, match=r"repeat the key\(s\) \['to'\]"):
        check_arguments('{"to": "alice@example.com", "to": "bob"}', Recorder())
    with pytest.raises(UncheckableAnswer, match="made two of them the same"):
        check_arguments(json.dumps({"a secret": 1, "a <X>": 2}), Recorder())


def test_text_the_guard_cannot_take_makes_the_arguments_uncheckable() -> None:
    def refuse(text: Any) -> str:
        raise InputError("lone surrogate")

    with pytest.raises(UncheckableAnswer, match="hold text that cannot be checked: lone surrogate"):
        check_arguments('{"to": "\\ud800x"}', refuse)


def tool_call_texts(message: dict[str, Any]) -> list[str]:
    """The texts ``checked_copy`` hands the check (the proxy counts them against its limits)."""
    texts: list[str] = []
    checked_copy(message, lambda text: texts.append(text) or text)
    return texts


def test_tool_call_texts_are_the_decoded_texts_and_leave_the_message_alone() -> None:
    message = {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": '{"to": "\\u0040x"}'}}]}
    before = json.dumps(message)
    assert tool_call_texts(message) == ["@x"]
    assert json.dumps(message) == before


def test_unchanged_arguments_keep_their_exact_text() -> None:
    arguments = '{"q":   "weather",\n "days": 2}'
    assert check_arguments(arguments, Recorder()) is arguments


def test_arguments_that_are_not_json_are_checked_as_one_text() -> None:
    check = Recorder()
    assert check_arguments("rm -rf secret/", check) == "rm -rf <X>/"
    assert check.seen == ["rm -rf secret/"]


@pytest.mark.parametrize("arguments", [42, None, b"{}"])
def test_arguments_of_another_type_are_refused(arguments: Any) -> None:
    with pytest.raises(UncheckableAnswer, match="tool-call arguments are a"):
        check_arguments(arguments, Recorder())


def test_deeply_nested_arguments_are_refused_not_a_crash() -> None:
    with pytest.raises(UncheckableAnswer, match="nested too deeply"):
        check_arguments("[" * 100_000 + "]" * 100_000, Recorder())
    with pytest.raises(UncheckableAnswer, match="nested too deeply"):
        check_arguments("[" * 500 + "]" * 500, Recorder())


def test_a_tool_call_without_arguments_is_refused() -> None:
    with pytest.raises(UncheckableAnswer, match="neither function arguments nor"):
        check_tool_calls({"tool_calls": [{"id": "c", "type": "mystery"}]}, Recorder())
    with pytest.raises(UncheckableAnswer, match="not a list"):
        check_tool_calls({"tool_calls": {"id": "c"}}, Recorder())


def test_legacy_function_call_and_withdrawal() -> None:
    message: dict[str, Any] = {"content": "ok", "function_call": {"name": "f", "arguments": '{"a": "secret"}'}}
    check_tool_calls(message, Recorder())
    assert json.loads(message["function_call"]["arguments"]) == {"a": "<X>"}
    withdraw_tool_calls(message, "Withheld.")
    assert message == {"content": "Withheld.", "function_call": None}
    plain = {"content": "no calls"}
    withdraw_tool_calls(plain, "Withheld.")
    assert plain == {"content": "no calls"}


def test_streamed_fragments_are_joined_per_index() -> None:
    deltas = [
        [{"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": ""}}],
        [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": '}}],
        [{"index": 0, "function": {"arguments": '"se'}}, {"index": 1, "function": {"arguments": "{}"}}],
        [{"index": 0, "function": {"arguments": 'cret"}'}}],
    ]
    calls = merge_tool_call_deltas(deltas)
    assert calls == [
        {"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": "secret"}'}},
        {"index": 1, "id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    for bad in ({"index": "0"}, {"id": "no index"}):
        with pytest.raises(UncheckableAnswer, match="integer 'index'"):
            merge_tool_call_deltas([[bad]])
    with pytest.raises(UncheckableAnswer, match=r"function.arguments is not text"):
        merge_tool_call_deltas(
            [[{"index": 0, "function": {"arguments": 5}}], [{"index": 0, "function": {"arguments": "x"}}]]
        )


def test_a_call_blocked_as_a_whole_is_not_checked_again_field_by_field() -> None:
    """A blocked check returns the policy's message for the joined text: every field takes it, in one decision."""
    seen: list[str] = []

    def block(text: Any) -> str:
        seen.append(text)
        return "Withheld."

    out = json.loads(check_arguments(json.dumps({"a": "AKIAIOSFODNN7EXAMPLE", "b": "hello", "c": "world"}), block))
    assert len(seen) == 1 and out == {"a": "Withheld.", "b": "Withheld.", "c": "Withheld."}


def test_keys_with_long_numbers_are_data_not_field_names() -> None:
    check = Recorder()
    check_arguments(json.dumps({"card_4111111111111111": True, "ok": "x"}), check)
    assert check.seen == [f"card_4111111111111111{SEPARATOR}x"]


def test_deep_fields_beside_the_tool_calls_are_not_copied() -> None:
    """Only the tool-call fields are copied to be checked: a deeply nested field elsewhere in the message is not
    walked (a request could otherwise crash the checker)."""
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    message = {"role": "assistant", "extra": deep, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}
    assert tool_call_texts(message) == []
    assert tool_call_texts({"role": "user", "content": "hi", "extra": deep}) == []
