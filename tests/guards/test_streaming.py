"""Streaming: incremental output checks that never emit a PII value split across chunks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from guards import Blocked, Guard, InputError, ListSink, UncheckableAnswer

CARD = "4111 1111 1111 1111"
EMAIL = "maria.lopez@example.org"
ANSWER = f"Your order is confirmed. We charged card {CARD} and sent the receipt to {EMAIL} just now. " + (
    "Thanks for shopping with us, have a lovely day. " * 4
)


def _chunks(text: str, cut: int, size: int = 7) -> Iterator[str]:
    """Split ``text`` at ``cut`` and then into ``size``-character chunks, like a token stream."""
    head, tail = text[:cut], text[cut:]
    for part in (head, tail):
        for i in range(0, len(part), size):
            yield part[i : i + size]


@pytest.mark.parametrize("cut", [ANSWER.index(CARD) + k for k in (1, 5, 10, 18)] + [ANSWER.index(EMAIL) + 6])
def test_no_pii_value_leaks_across_chunk_boundaries(default_guard: Guard, cut: int) -> None:
    pieces = list(default_guard.stream(_chunks(ANSWER, cut)))
    emitted = "".join(pieces)
    for value in (CARD, EMAIL, "maria.lopez", "1111 1111 1111"):
        assert value not in emitted
        assert all(value not in p for p in pieces)
    assert "**** **** **** 1111" in emitted and "<EMAIL_ADDRESS_1>" in emitted
    assert emitted.endswith("have a lovely day. ")
    assert len(pieces) > 1  # really incremental


def test_stream_restores_the_callers_pseudonyms(default_guard: Guard) -> None:
    with default_guard.session("I am Ana Souza") as s:
        assert s.prompt == "I am <PERSON_1>"
        text = "Hello <PERSON_1>! " * 20
        out = "".join(s.stream(_chunks(text, 3, 2)))
    assert out == "Hello Ana Souza! " * 20
    assert s.decisions[-1].stage.value == "output" and "<PERSON_1>" in s.decisions[-1].safe_text


def test_async_stream(default_guard: Guard) -> None:
    async def source() -> AsyncIterator[str]:
        for chunk in _chunks(ANSWER, 50):
            yield chunk

    async def collect() -> str:
        return "".join([p async for p in default_guard.astream(source())])

    emitted = asyncio.run(collect())
    assert CARD not in emitted and EMAIL not in emitted and "**** **** **** 1111" in emitted


def test_wrapped_generator_is_streamed(default_guard: Guard) -> None:
    def llm(prompt: str) -> Iterator[str]:
        yield from _chunks(ANSWER, 60)

    out = default_guard.wrap(llm)("order status?")
    assert EMAIL not in "".join(out)


def test_wrapped_async_generator_result(default_guard: Guard) -> None:
    async def llm(prompt: str) -> AsyncIterator[dict[str, Any]]:
        async def gen() -> AsyncIterator[dict[str, Any]]:
            for chunk in _chunks(ANSWER, 60):
                yield {"choices": [{"delta": {"content": chunk}}]}

        return gen()

    async def run() -> str:
        stream = await default_guard.wrap(llm)("status?")
        return "".join([p async for p in stream])

    assert EMAIL not in asyncio.run(run())


def test_a_wrapped_stream_that_calls_a_tool_is_refused_not_silently_cut(default_guard: Guard) -> None:
    """A wrapped stream yields text: a tool call in it could only be dropped, so it raises instead."""

    def llm(prompt: str) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"content": "Let me look that up."}}]}
        call = {"index": 0, "function": {"name": "lookup", "arguments": "{}"}}
        yield {"choices": [{"delta": {"content": None, "tool_calls": [call]}}]}

    with pytest.raises(UncheckableAnswer, match="calls a tool, and a wrapped stream yields only text"):
        "".join(default_guard.wrap(llm)("order status?"))


def test_a_wrapped_stream_reads_refusals_and_wants_one_choice(default_guard: Guard) -> None:
    def refusing(prompt: str) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"refusal": "I cannot help with that, "}}]}
        yield {"choices": [{"delta": {"refusal": f"{EMAIL}."}}]}

    def two(prompt: str) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"content": "a"}}, {"delta": {"tool_calls": [{"index": 0}]}}]}

    refusal = "".join(default_guard.wrap(refusing)("hi"))
    assert refusal.startswith("I cannot help with that") and EMAIL not in refusal
    with pytest.raises(UncheckableAnswer, match="ask for one choice"):
        "".join(default_guard.wrap(two)("hi"))


def test_wrapped_async_generator_function_is_streamed(default_guard: Guard) -> None:
    seen: list[str] = []

    @default_guard
    async def llm(prompt: str) -> AsyncIterator[str]:
        seen.append(prompt)
        for chunk in _chunks(ANSWER, 60):
            yield chunk

    async def run() -> str:
        return "".join([p async for p in llm("I am Ana Souza, where is my order?")])

    out = asyncio.run(run())
    assert EMAIL not in out and "**** **** **** 1111" in out
    assert seen == ["I am <PERSON_1>, where is my order?"]


def test_stream_block_stops_the_stream(make_guard: Callable[..., tuple[Guard, ListSink]]) -> None:
    guard, sink = make_guard(
        """\
        name: t
        scanners:
          - type: regex
            action: block
            params: {entities: [{label: FORBIDDEN, deny_list: [launch codes]}]}
        """
    )
    text = "Harmless intro text that goes on for a while. " * 4 + "Here are the launch codes: 0000. " + "more " * 40
    emitted: list[str] = []
    with pytest.raises(Blocked):
        for piece in guard.stream(_chunks(text, 10)):
            emitted.append(piece)
    assert "launch codes" not in "".join(emitted)
    assert sink.decisions[-1].blocked


MARKER_POLICY = """\
name: stream-test
on_block: {on_block}
scanners:
  - id: marker
    type: regex
    action: block
    threshold: 0.5
    params: {{entities: [{{label: MARKER, deny_list: [zorblax]}}]}}
"""
FILLER = "A calm and ordinary sentence about the weather and the trains. "


def test_a_stream_its_consumer_stops_early_still_records_its_output_decision(make_guard) -> None:
    guard, sink = make_guard(MARKER_POLICY.format(on_block="raise"))
    with guard.session("hi") as s:
        pieces = s.stream(iter([FILLER] * 8))
        first = next(pieces)
        assert sink.decisions[-1].stage.value == "input"
        pieces.close()  # the client went away

    out = sink.decisions[-1]
    assert out.stage.value == "output" and out.action.value == "allow"
    assert first in out.safe_text and len(out.safe_text) < len(FILLER) * 8
    assert [d.stage.value for d in sink.decisions] == ["input", "output"]


def test_a_stream_whose_source_fails_records_what_arrived(make_guard) -> None:
    guard, sink = make_guard(MARKER_POLICY.format(on_block="raise"))

    async def source() -> AsyncIterator[str]:
        yield FILLER
        yield "then zorblax"
        raise ConnectionError("upstream gone")

    async def consume() -> list[str]:
        return [p async for p in guard.session("hi").astream(source())]

    with pytest.raises(ConnectionError):
        asyncio.run(consume())
    out = sink.decisions[-1]
    assert out.stage.value == "output" and out.action.value == "block"  # recorded, though nobody is left to refuse


def test_a_block_in_the_last_part_of_a_stream_is_one_decision(make_guard) -> None:
    guard, sink = make_guard(MARKER_POLICY.format(on_block="message"))
    with guard.session("hi") as s:
        list(s.stream(iter(["Short, and ", "zorblax at the end."])))  # under the holdback: checked at the end

    assert [(d.stage.value, d.action.value) for d in sink.decisions] == [("input", "allow"), ("output", "block")]


def test_hidden_characters_removed_from_a_stream_do_not_repeat_text(default_guard: Guard) -> None:
    chunks = [
        "\u200b" * 60,
        *"Please answer the question about the trains. ",
        *(f"word number {i}. " for i in range(40)),
    ]
    streamed = "".join(default_guard.stream(iter(chunks)))

    assert streamed == default_guard.check("".join(chunks), stage="output").text
    assert streamed.count("Please answer") == 1 and "\u200b" not in streamed


def test_a_stream_cancelled_mid_scan_records_one_decision(make_guard, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan runs on in its worker thread after the task is cancelled; closing must wait for it, not race it."""
    import threading

    from guards.scanners import patterns

    guard, sink = make_guard(MARKER_POLICY.format(on_block="raise"))
    started, release = threading.Event(), threading.Event()
    scan = patterns.PatternScanner.scan

    def slow_scan(self: Any, text: str, ctx: Any) -> Any:
        if "zorblax" in text:
            started.set()
            release.wait(10)
        return scan(self, text, ctx)

    monkeypatch.setattr(patterns.PatternScanner, "scan", slow_scan)

    async def source() -> AsyncIterator[str]:
        yield FILLER
        yield "and zorblax " * 20
        await asyncio.sleep(60)

    async def run() -> None:
        session = guard.session("hi")
        task = asyncio.create_task(_drain(session.astream(source())))
        await asyncio.to_thread(started.wait, 10)  # the block is being found in a worker thread
        task.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    outputs = [d for d in sink.decisions if d.stage.value == "output"]
    assert [d.action.value for d in outputs] == ["block"]


async def _drain(pieces: AsyncIterator[str]) -> None:
    async for _ in pieces:
        pass


def test_a_stream_of_utf8_bytes_is_decoded_across_chunk_boundaries(make_guard) -> None:
    guard, sink = make_guard("name: t\nscanners:\n  - type: hygiene\n")
    data = "Crème brûlée, 5 € — naïve coöperation. ".encode() * 6
    chunks = [data[i : i + 5] for i in range(0, len(data), 5)]  # splits the multi-byte characters
    assert "".join(guard.stream(iter(chunks))) == "Crème brûlée, 5 € — naïve coöperation. " * 6
    assert "".join(guard.stream(iter([b"bad \xff byte"]))) == "bad \ufffd byte"
    assert [f.label for v in sink.decisions[-1].verdicts for f in v.findings] == ["INVALID_UTF8"]
    with pytest.raises(InputError, match="str or UTF-8 bytes, got int"):
        list(guard.stream(iter([1])))  # type: ignore[list-item]


def test_a_text_chunk_after_a_cut_character_keeps_its_place(make_guard) -> None:
    """Bytes of a cut character were held back while later text chunks passed them ('cafabc é'); the text now
    comes after them, and the cut character is U+FFFD."""
    guard, _ = make_guard("name: t\nscanners:\n  - type: hygiene\n")
    assert "".join(guard.stream(iter([b"caf\xc3", "abc ", b"\xa9"]))) == "caf\ufffdabc \ufffd"
    assert "".join(guard.stream(iter([b"caf\xc3", b"\xa9 ", "abc"]))) == "café abc"


def test_a_value_found_once_stays_redacted_without_the_words_that_announced_it(default_guard) -> None:
    """A value whose score needs the words before it ("my driver license is") was emitted raw when a window cut
    between them: the next window scored the value alone (QA: 8 of 60 chunkings leaked it)."""
    filler = "The weather today is mild and pleasant across the region with light winds from the west. "
    text = filler * 2 + "my driver license is D1234567 okay. " + filler * 2
    assert "D1234567" not in default_guard.check(text, "output").text
    for size in range(1, 16):
        for offset in range(0, size, 3):
            chunks = [text[:offset]] + [text[i : i + size] for i in range(offset, len(text), size)]
            assert "D1234567" not in "".join(default_guard.stream(iter(chunks))), (size, offset)


def test_a_stream_is_refused_as_soon_as_it_is_longer_than_the_policy_allows(make_guard) -> None:
    """An answer past hygiene's max_chars was emitted almost whole (QA: 99,900 of 100,000 characters) before its
    OVERSIZE block at the end."""
    guard, sink = make_guard(
        "name: t\nscanners:\n  - type: hygiene\n    params: {max_chars: 1000}\n    labels:\n"
        "      OVERSIZE: {action: block}\n"
    )
    emitted: list[str] = []
    with pytest.raises(Blocked):
        for piece in guard.stream(iter(["word " * 50] * 20)):
            emitted.append(piece)
    assert sum(map(len, emitted)) <= 1000
    assert [d.action.value for d in sink.decisions] == ["block"]


def test_a_stream_dense_with_values_is_still_emitted_incrementally(make_guard) -> None:
    """Keeping context before every value held a contact list back until its end (QA: one piece out of 25 rows)."""
    guard, _ = make_guard("name: t\nscanners:\n  - type: pii\n    action: redact\n")
    rows = "".join(f"Row {i}: user{i}@example.com, tel 212-555-01{i:02d}\n" for i in range(12))
    pieces = list(guard.stream(iter([rows[i : i + 8] for i in range(0, len(rows), 8)])))
    assert len(pieces) > 5 and "@example.com" not in "".join(pieces)


def test_a_held_value_and_an_overlapping_new_one_are_redacted_as_their_union(make_guard) -> None:
    """Keeping only the first of two overlapping spans would emit the rest of the second raw (review)."""
    from guards.policy.decide import Redaction
    from guards.streaming import with_held

    guard, _ = make_guard(
        "name: t\nscanners:\n  - type: regex\n    action: redact\n"
        "    params: {entities: [{label: M, deny_list: [abcdefghij]}]}\n"
    )
    evaluation = guard.evaluate("01234567 abcdefghij tail", "output")
    held = Redaction(5, 12, "X", "replace", "regex")
    merged = with_held(evaluation, [held])
    assert guard.transform(merged, None) == "01234<X> tail"
