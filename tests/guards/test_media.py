"""Content parts no scanner can read (images, audio, files) go by the policy's ``media`` rule: fail closed by
default, never passed on silently unless the policy allows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from guards import Blocked, Guard, ListSink
from guards.errors import InputError, PolicyError
from guards.policy import parse_policy

IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/scan-of-jane-doe-passport.png"}}
POLICY = (
    "name: t\n{extra}scanners:\n  - type: regex\n    action: block\n"
    "    params: {{entities: [{{label: M, deny_list: [zorblax]}}]}}\n"
)


def guard_with(make_guard: Callable[..., tuple[Guard, ListSink]], extra: str = "") -> tuple[Guard, ListSink]:
    return make_guard(POLICY.format(extra=extra))


def ask(*parts: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"}, *parts]}]


def test_an_image_in_a_prompt_is_blocked_by_default(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = guard_with(make_guard)
    called: list[Any] = []
    with pytest.raises(Blocked) as info:
        guard.wrap(lambda messages: called.append(messages))(messages=ask(IMAGE, {"type": "input_audio"}))

    assert called == []
    decision = info.value.decision
    assert decision is sink.decisions[0] and decision.stage.value == "input"
    assert [(r.scanner, r.label, r.action.value, r.reason) for r in decision.rules] == [
        ("media", "image_url", "block", "unreadable"),
        ("media", "input_audio", "block", "unreadable"),
    ]
    assert decision.safe_text == "[image_url] [input_audio]"  # the part's type, never its data or URL
    assert "jane" not in repr(decision)


def test_flag_passes_the_parts_on_and_records_them(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = guard_with(make_guard, "media: flag\n")
    received: list[Any] = []
    guard.wrap(lambda messages: received.append(messages) or "a cat")(messages=ask(IMAGE))

    assert received[0][0]["content"][1] == IMAGE
    assert [(d.stage.value, d.action.value) for d in sink.decisions] == [
        ("input", "flag"),
        ("input", "allow"),
        ("output", "allow"),
    ]
    assert sink.decisions[0].verdicts[0].scanner == "media"


def test_allow_passes_the_parts_silently(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = guard_with(make_guard, "media: allow\n")
    received: list[Any] = []
    guard.wrap(lambda messages: received.append(messages) or "a cat")(messages=ask(IMAGE))

    assert received[0][0]["content"][1] == IMAGE
    assert [d.verdicts[0].scanner for d in sink.decisions] == ["regex", "regex"]


def test_on_block_message_answers_the_policy_message(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, _ = guard_with(make_guard, "on_block: message\nblock_message: No pictures.\n")
    assert guard.wrap(lambda messages: "unreachable")(messages=ask(IMAGE)) == "No pictures."


@pytest.mark.parametrize(("extra", "expected"), [("", "Withheld."), ("media: flag\n", None)])
def test_parts_without_text_in_an_answer(
    make_guard: Callable[..., tuple[Guard, ListSink]], extra: str, expected: str | None
) -> None:
    """An answer's image part is refused (the content becomes the policy's message) or flagged and kept; its text
    parts are checked either way."""
    guard, sink = guard_with(make_guard, f"on_block: message\nblock_message: Withheld.\n{extra}")
    content = [{"type": "text", "text": "Here it is."}, {"type": "image_url", "image_url": {"url": "data:..."}}]

    def create(**_: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"role": "assistant", "content": content}}]}

    answer = guard.wrap(create)(model="m", messages=[{"role": "user", "content": "draw"}])
    assert answer["choices"][0]["message"]["content"] == (content if expected is None else expected)
    assert [(d.stage.value, d.action.value) for d in sink.decisions[1:]] == [
        ("output", "flag" if expected is None else "block"),
        ("output", "allow"),
    ]


@pytest.mark.parametrize(
    "content",
    [
        {"type": "text", "text": "mail jane.doe@example.com"},  # an object, not a list of parts
        ["mail jane.doe@example.com"],  # a part that is not an object
        [{"type": "text", "content": "mail jane.doe@example.com"}],  # a text part without a 'text' string
        [{"type": "input_text", "text": {"value": "mail jane.doe@example.com"}}],  # it was taken for media
        [{"type": "refusal", "text": "mail jane.doe@example.com"}],  # a refusal part keeps it in 'refusal'
        42,
    ],
)
def test_a_prompt_of_another_shape_is_refused_not_passed_on(
    make_guard: Callable[..., tuple[Guard, ListSink]], content: Any
) -> None:
    """Such content used to reach the model unchecked."""
    guard, _ = guard_with(make_guard, "media: allow\n")
    called: list[Any] = []
    with pytest.raises(InputError, match="neither text, a list of parts"):
        guard.wrap(lambda messages: called.append(messages))(messages=[{"role": "user", "content": content}])
    assert called == []


def test_a_part_type_that_is_not_a_plain_name_is_recorded_as_unknown(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    guard, sink = guard_with(make_guard, "media: flag\n")
    guard.wrap(lambda messages: "ok")(messages=ask({"type": "jane.doe@example.com"}, {"data": "x"}))
    assert [f.label for f in sink.decisions[0].verdicts[0].findings] == ["unknown"]
    assert sink.decisions[0].safe_text == "[unknown] [unknown]"


def test_the_media_scanner_id_is_reserved() -> None:
    with pytest.raises(PolicyError, match="reserved"):
        parse_policy("name: t\nscanners:\n  - {id: media, type: regex}\n")


@pytest.mark.parametrize("mode", ["yes", "redact"])
def test_an_unknown_media_mode_is_a_policy_error(mode: str) -> None:
    with pytest.raises(PolicyError, match="media"):
        parse_policy(f"name: t\nmedia: {mode}\nscanners:\n  - type: regex\n")


def test_a_part_of_another_type_goes_by_the_media_rule_even_with_a_text(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    """Its text is checked, and its image goes by the rule: a 'text' key let the image through (QA)."""
    guard, sink = guard_with(make_guard)
    with pytest.raises(Blocked):
        guard.wrap(lambda messages: "unreachable")(messages=ask({**IMAGE, "text": "hi"}))
    assert sink.decisions[0].rules[0].label == "image_url"


def test_a_text_beside_an_image_in_an_answer_is_checked_and_the_image_kept(
    make_guard: Callable[..., tuple[Guard, ListSink]],
) -> None:
    """Chat: the part's text was merged into the answer's text and the image dropped; Responses: its text was not
    checked at all (review)."""
    guard, _ = guard_with(make_guard, "media: flag\n")
    image = {"type": "image_url", "image_url": {"url": "data:..."}, "text": "caption zorblax"}

    def chat(**_: Any) -> dict[str, Any]:
        return {"choices": [{"message": {"role": "assistant", "content": [{"type": "text", "text": "Here."}, image]}}]}

    with pytest.raises(Blocked):
        guard.wrap(chat)(model="m", messages=[{"role": "user", "content": "draw"}])
    flagged, _ = guard_with(make_guard, "media: flag\non_block: message\nblock_message: Withheld.\n")
    parts = flagged.wrap(chat)(model="m", messages=[{"role": "user", "content": "draw"}])["choices"][0]["message"]
    assert parts["content"][1]["image_url"] == image["image_url"] and parts["content"][1]["text"] == "Withheld."

    output = [{"type": "output_text", "text": "Here."}, {"type": "output_image", "text": "zorblax"}]
    message = {"type": "message", "id": "m", "role": "assistant", "content": output}
    with pytest.raises(Blocked):
        guard.wrap(lambda **_: {"object": "response", "output": [message]})(input="draw")


def test_every_text_a_prompt_part_holds_is_checked(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, _ = guard_with(make_guard)
    with pytest.raises(Blocked):
        guard.wrap(lambda messages: "x")(
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi", "refusal": "zorblax"}]}]
        )
