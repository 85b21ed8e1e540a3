"""A guarded exchange with a model: the prompt in, the answer out, pseudonyms restored for the caller."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from guards.actions import Vault
from guards.errors import Blocked
from guards.types import CallContext, Decision, Stage

if TYPE_CHECKING:
    from guards.guard import Evaluation, Guard


class GuardSession:
    """One model call (or one conversation turn): checks inputs and outputs under one request id and one vault.

    With ``on_block: raise`` (the default) a blocked text raises ``Blocked``; with ``on_block: message``
    the policy's safe message takes its place and ``blocked`` turns true, so the caller can skip the model.
    """

    def __init__(self, guard: Guard, prompt: str | bytes | None = None, *, context: CallContext | None = None) -> None:
        ctx = context or CallContext()
        self.guard = guard
        self.context = CallContext(
            request_id=ctx.request_id or uuid.uuid4().hex,
            session_id=ctx.session_id or uuid.uuid4().hex,
            application=ctx.application or guard.application,
            model=ctx.model or guard.model,
            subject=ctx.subject,
            outcome=ctx.outcome,
        )
        self.vault = Vault()
        self.decisions: list[Decision] = []
        self.blocked = False
        self._prompt = prompt
        self.prompt: str | None = None

    def __enter__(self) -> GuardSession:
        if self._prompt is not None:
            self.prompt = self.input(self._prompt)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> GuardSession:
        if self._prompt is not None:
            self.prompt = await self.ainput(self._prompt)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def input(self, text: str | bytes, role: str | None = None) -> str:
        """Check a prompt (or one message of it, of chat ``role``); returns what may be sent to the model."""
        return self.enforce(self.guard.evaluate(text, Stage.INPUT, vault=self.vault, role=role))

    def output(self, text: str | bytes) -> str:
        """Check the model's answer; returns what the caller may see, pseudonyms restored when the policy says so."""
        return self.restore(self.enforce(self.guard.evaluate(text, Stage.OUTPUT, vault=self.vault)))

    def media(self, kinds: Sequence[str], stage: Stage) -> str | None:
        """Apply the policy's ``media`` rule to content parts of these types (``image_url``, ``input_audio``...)
        that no scanner can read. Returns None when they may pass (recorded as flagged if
        the policy says ``flag``), else the policy's message (``on_block: message``); raises ``Blocked`` when the
        policy blocks them and says ``on_block: raise``."""
        evaluation = self.guard.evaluate_media(kinds, stage)
        if evaluation is None:
            return None
        text = self.enforce(evaluation)
        return text if self.decisions[-1].blocked else None

    async def ainput(self, text: str | bytes, role: str | None = None) -> str:
        """``input`` for async code."""
        return await asyncio.to_thread(self.input, text, role)

    async def aoutput(self, text: str | bytes) -> str:
        """``output`` for async code."""
        return await asyncio.to_thread(self.output, text)

    def stream(self, chunks: Iterable[str | bytes]) -> Iterator[str]:
        """Guard a streamed answer chunk by chunk; never yields part of a PII value."""
        from guards.streaming import OutputStream

        out = OutputStream(self)
        try:
            for chunk in chunks:
                if piece := out.feed(chunk):
                    yield piece
            if tail := out.finish():
                yield tail
        finally:  # stopped early: the text received so far still gets its decision
            out.close()

    async def astream(self, chunks: AsyncIterable[str | bytes]) -> AsyncGenerator[str, None]:
        """``stream`` for async iterators; scanning runs in a worker thread."""
        from guards.streaming import OutputStream

        out = OutputStream(self)
        try:
            async for chunk in chunks:
                if piece := await asyncio.to_thread(out.feed, chunk):
                    yield piece
            if tail := await asyncio.to_thread(out.finish):
                yield tail
        finally:  # stopped early: the decision is recorded in a worker thread, even if this task is cancelled
            if not out.recorded:
                await asyncio.shield(asyncio.to_thread(out.close))

    def enforce(self, evaluation: Evaluation) -> str:
        """Record the decision for ``evaluation``; raise Blocked or return the text the policy allows."""
        decision = self.guard.record(evaluation, self.context, self.vault)
        self.decisions.append(decision)
        if decision.blocked:
            self.blocked = True
            if self.guard.policy.model.on_block == "raise":
                cause = evaluation.errors[0] if evaluation.errors else None
                raise Blocked(decision) from cause
        return decision.text

    @property
    def first_blocked(self) -> Decision | None:
        """This session's first blocking decision, if any."""
        return next((d for d in self.decisions if d.blocked), None)

    @property
    def refusal(self) -> str:
        """The policy's message for this session's first blocked text (empty while nothing was blocked)."""
        first = self.first_blocked
        return first.text if first is not None else ""

    def restore(self, text: str) -> str:
        """Put the original values back in place of this session's pseudonyms, when the policy allows."""
        if self.blocked or not self.guard.policy.model.restore_pseudonyms:
            return text
        return self.vault.restore(text)
