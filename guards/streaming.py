"""Incremental output checking for streamed answers, holding back just enough text that no PII value is split."""

from __future__ import annotations

import codecs
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING

from guards.errors import Blocked, InputError
from guards.types import Action, Stage

if TYPE_CHECKING:
    from guards.guard import Evaluation
    from guards.policy.decide import Redaction
    from guards.session import GuardSession

# Text kept back from the end of the buffer: a value shorter than this is always seen whole before any of it is emitted.
DEFAULT_HOLDBACK = 96
# Scan again only after this much new text, so that a stream of one-token chunks is not scanned per token.
DEFAULT_MIN_EMIT = 48


class OutputStream:
    """Buffers streamed chunks, emits checked and transformed text, and records one decision for the whole answer.

    Emission never cuts inside a finding (so a value is transformed whole) and never cuts inside a
    pseudonym token; it prefers whitespace. A block mid-stream stops the stream: text already emitted
    stays emitted, nothing after it is. Safe to ``close`` from another thread while a ``feed`` runs (an async
    stream cancelled mid-scan): one lock orders them, and nothing is recorded twice.
    """

    def __init__(
        self, session: GuardSession, *, holdback: int = DEFAULT_HOLDBACK, min_emit: int = DEFAULT_MIN_EMIT
    ) -> None:
        self.session = session
        self.holdback = holdback
        self.min_emit = min_emit
        self._pending = ""
        self._received: list[str] = []
        self._closed = False
        self._held: tuple[Redaction, ...] = ()  # values found in earlier windows, in text not yet emitted
        self._size_limit = session.guard.size_limit(Stage.OUTPUT)  # the whole is checked once, when it grows past it
        self._length = 0
        self._lock = threading.Lock()
        self._bytes = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: str | bytes) -> str:
        """Add a chunk (text, or UTF-8 bytes: a character split across chunks is joined; invalid bytes become U+FFFD,
        which hygiene reports); return the text that is now safe to emit (often empty)."""
        with self._lock:
            if self._closed:
                return ""
            self._add(self._decode(chunk))
            if self._size_limit is not None and self._length > self._size_limit:
                self._size_limit = None
                whole = self._evaluate_whole()  # an answer too long for the policy: refused now, not at its end
                if whole.decision.action is Action.BLOCK:
                    self._closed = True
                    return self.session.enforce(whole)
            if len(self._pending) < self.holdback + self.min_emit:
                return ""
            return self._emit(final=False)

    def _decode(self, chunk: str | bytes) -> str:
        """The text of ``chunk``. A str chunk after an incomplete UTF-8 sequence comes after that sequence, as
        U+FFFD (its character was cut), so that chunks are never reordered."""
        if isinstance(chunk, str):
            return self._bytes.decode(b"", final=True) + chunk
        if isinstance(chunk, bytes | bytearray):
            return self._bytes.decode(bytes(chunk))
        raise InputError(f"stream chunks must be str or UTF-8 bytes, got {type(chunk).__name__}")

    def _add(self, text: str) -> None:
        self._received.append(text)
        self._pending += text
        self._length += len(text)

    def finish(self) -> str:
        """Emit the rest and record the decision over the whole answer."""
        with self._lock:
            if self._closed:
                return ""
            self._add(self._bytes.decode(b"", final=True))  # an incomplete character at the very end: U+FFFD
            piece = self._emit(final=True) if self._pending else ""
            if not self._closed:  # a block while emitting the rest has recorded the decision already
                self._record_whole()
            return piece

    @property
    def recorded(self) -> bool:
        """Whether the decision over this answer is recorded (or a block ended the stream)."""
        return self._closed

    def close(self) -> None:
        """Record the decision over the text received so far when the stream stops early (its consumer went
        away, or its source failed); emits nothing. Does nothing once the decision is recorded."""
        with self._lock:
            if self._closed or not self._received:
                return
            with suppress(Blocked):  # the block is recorded; nobody is left to refuse
                self._record_whole()

    def _record_whole(self) -> None:
        self._closed = True
        self.session.enforce(self._evaluate_whole())

    def _evaluate_whole(self) -> Evaluation:
        return self.session.guard.evaluate("".join(self._received), Stage.OUTPUT, vault=self.session.vault)

    def _emit(self, *, final: bool) -> str:
        guard = self.session.guard
        evaluation = guard.evaluate(self._pending, Stage.OUTPUT, vault=self.session.vault)
        if evaluation.decision.action is Action.BLOCK:
            self._closed = True
            whole = self._evaluate_whole()
            return self.session.enforce(whole if whole.decision.action is Action.BLOCK else evaluation)
        self._pending = evaluation.text  # as cleaned by normalising scanners (hygiene): the text cut and emitted
        evaluation = with_held(evaluation, self._held)
        cut = len(self._pending) if final else safe_cut(self._pending, evaluation, self.holdback)
        redactions = evaluation.decision.redactions
        self._held = tuple(
            replace(r, start=r.start - cut, end=r.end - cut) for r in redactions if r.start >= max(cut, 0)
        )
        if cut <= 0:
            return ""
        piece = guard.transform(evaluation, self.session.vault, upto=cut)
        self._pending = self._pending[cut:]
        return self.session.restore(piece)


def with_held(evaluation: Evaluation, held: Sequence[Redaction]) -> Evaluation:
    """``evaluation`` also redacting the values an earlier window found (``held``): a value announced by words
    already emitted ("my driver license is D1234567") may score below the threshold without them, and must not come
    out raw for that. Overlapping spans are joined when the text is transformed (``merge_spans``)."""
    if not held:
        return evaluation
    redactions = tuple(dict.fromkeys((*evaluation.decision.redactions, *held)))  # the same value found again: once
    return replace(evaluation, decision=replace(evaluation.decision, redactions=redactions))


def safe_cut(text: str, evaluation: Evaluation, holdback: int) -> int:
    """The longest prefix of ``text`` before the holdback that ends outside every finding, value to redact and
    pseudonym, preferably after whitespace; 0 when nothing can be emitted yet."""
    spans = [
        (f.start, f.end) for v in evaluation.verdicts for f in v.findings if f.start is not None and f.end is not None
    ]
    spans += [(r.start, r.end) for r in evaluation.decision.redactions]
    cut = len(text) - holdback
    while cut > 0:
        new = cut
        for start, end in spans:
            if start < new < end:
                new = start
        opening = text.rfind("<", max(0, new - 40), new)
        if opening != -1 and ">" not in text[opening:new]:
            new = opening
        if new > 0 and not text[new - 1].isspace():
            space = max(text.rfind(" ", 0, new), text.rfind("\n", 0, new))
            new = space + 1 if space >= 0 else new
        if new == cut:
            return cut
        cut = new
    return 0
