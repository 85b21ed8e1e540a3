"""The Guard: scanners detect, the policy decides, actions transform, the sink records — around any model call."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from guards.actions import OperatorKeys, Operators, Vault
from guards.errors import GuardError, InputError, PolicyError, ScannerError, SinkError
from guards.policy import Policy, PolicyDecision, decide, load_policy
from guards.policy.schema import MEDIA_SCANNER
from guards.runner import run_scanner
from guards.scanners.base import ScanContext, ScannerBase, check_label_names, scanner_class
from guards.sink import Sink, resolve_sink
from guards.text import coerce_text
from guards.types import Action, CallContext, Decision, Finding, RuleHit, Stage, Verdict

if TYPE_CHECKING:
    from guards.session import GuardSession

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_STAGES = tuple(s.value for s in Stage)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Scanners' verdicts and the policy's decision for one text, before anything is recorded."""

    text: str
    stage: Stage
    verdicts: tuple[Verdict, ...]
    decision: PolicyDecision
    errors: tuple[ScannerError, ...]
    latency_ms: float
    received: str = ""
    unscanned: tuple[str, ...] = ()
    """Span scanners (PII, secrets...) that did not run because an earlier scanner blocked (``fail_fast``)."""


class Guard:
    """Checks texts against a policy and guards model calls.

    >>> guard = Guard.from_policy("default")
    >>> decision = guard.check("My card is 4111 1111 1111 1111")
    >>> decision.action, decision.text
    (<Action.REDACT: 'redact'>, 'My card is **** **** **** 1111')
    """

    def __init__(
        self,
        policy: Policy,
        *,
        audit: Sink | str | None = None,
        application: str | None = None,
        model: str | None = None,
    ) -> None:
        self.policy = policy
        self.sink = resolve_sink(audit)
        self.application = application
        self.model = model
        self.scanners: dict[str, ScannerBase] = {
            spec.id: scanner_class(spec.type)(spec.id, spec.params) for spec in policy.model.scanners if spec.enabled
        }
        self._specs = {spec.id: spec for spec in policy.model.scanners if spec.enabled}
        self.operators = Operators(policy.model.operators, OperatorKeys.from_env(policy.model.operators))
        self.operators.check_available(_operators_in(policy), policy.source)
        with self._policy_errors():
            for scanner in self.scanners.values():
                scanner.validate()
        self._labels_checked: set[str] = set()
        if self.sink is not None:
            self.sink.register_policy(policy.ref, policy.document)

    @classmethod
    def from_policy(
        cls,
        policy: str | Path | Policy = "default",
        *,
        audit: Sink | str | None = None,
        application: str | None = None,
        model: str | None = None,
    ) -> Guard:
        """A guard for a shipped policy name, a policy file path, or a loaded Policy."""
        loaded = policy if isinstance(policy, Policy) else load_policy(policy)
        return cls(loaded, audit=audit, application=application, model=model)

    def warmup(self) -> Guard:
        """Load every scanner's model now, so the first call is not slow, and check the policy's per-label
        overrides against the labels each loaded scanner reports (e.g. the installed presidio's entity types)."""
        for scanner_id, scanner in self.scanners.items():
            with self._policy_errors():
                scanner.warmup()
            self._check_labels(scanner_id)
        return self

    def _check_labels(self, scanner_id: str) -> None:
        """Check, once per scanner (after its model loaded), that the policy's label overrides name labels it
        reports: a misspelt one would never match. Raises ``PolicyError``."""
        if scanner_id in self._labels_checked:
            return
        known = self.scanners[scanner_id].known_labels()
        if known is not None:
            with self._policy_errors():
                check_label_names(self._specs[scanner_id].labels, known, f"scanner {scanner_id!r}: labels")
        self._labels_checked.add(scanner_id)

    def _first_use(self, scanner_id: str) -> None:
        """Before a scanner's first scan in a guard that was not warmed up: load it and check its labels. Any
        failure but a ``PolicyError`` is left to the scan, which reports it as the scanner's error verdict."""
        try:
            with self._policy_errors():
                self.scanners[scanner_id].warmup()
        except PolicyError:
            raise
        except Exception:  # reported by run_scanner, which loads the model again
            return
        self._check_labels(scanner_id)

    @contextmanager
    def _policy_errors(self) -> Iterator[None]:
        """Name this guard's policy file in any ``PolicyError`` raised inside."""
        try:
            yield
        except PolicyError as exc:
            raise PolicyError(f"{self.policy.source}: {exc}") from None

    # -- checking -------------------------------------------------------------------------------

    def evaluate(
        self,
        text: str | bytes,
        stage: Stage | str = Stage.INPUT,
        *,
        vault: Vault | None = None,
        role: str | None = None,
    ) -> Evaluation:
        """Scan and decide without recording anything (used by streams for their intermediate windows).

        Scanners run in policy order. A normalising scanner's redactions (hygiene) are applied at once,
        so later scanners, the caller and the audit all see the cleaned text; its findings keep the offsets
        of the text as received. ``role`` is the chat role of the message the text comes from, for
        scanners that the policy limits to some roles.
        """
        if stage not in _STAGES:
            raise InputError(f"unknown stage {stage!r}: use one of {', '.join(_STAGES)}")
        stage = Stage(stage)
        lenient = any(self.scanners[i].type_name == "hygiene" and s.scans(stage, role) for i, s in self._specs.items())
        received = coerce_text(text, lenient=lenient)
        value = received
        ctx = ScanContext(stage=stage)
        verdicts: list[Verdict] = []
        errors: list[ScannerError] = []
        normalized: set[str] = set()
        unscanned: tuple[str, ...] = ()
        due = [(scanner_id, spec) for scanner_id, spec in self._specs.items() if spec.scans(stage, role)]
        for n, (scanner_id, spec) in enumerate(due):
            scanner = self.scanners[scanner_id]
            if scanner_id not in self._labels_checked:
                self._first_use(scanner_id)
            with self._policy_errors():
                verdict, error = run_scanner(scanner, value, ctx, spec.timeout_ms)
            verdicts.append(verdict)
            if error is not None:
                errors.append(error)
            alone = decide(self.policy.model, [verdict])
            if self.policy.model.fail_fast and alone.action is Action.BLOCK:
                unscanned = tuple(i for i, _ in due[n + 1 :] if self.scanners[i].spans)
                break
            if scanner.normalizes and alone.redactions:
                value = self.operators.apply(value, alone.redactions, None)
                normalized.add(scanner_id)
        started = time.perf_counter()
        policy_decision = _without_applied(decide(self.policy.model, verdicts), normalized)
        # Scanning time excludes one-off model loading (see run_scanner); deciding is added on top.
        latency = sum(v.latency_ms for v in verdicts) + (time.perf_counter() - started) * 1000
        return Evaluation(value, stage, tuple(verdicts), policy_decision, tuple(errors), latency, received, unscanned)

    def evaluate_media(self, kinds: Sequence[str], stage: Stage | str) -> Evaluation | None:
        """The policy's ``media`` rule for content parts of these types that no scanner can read (images, audio,
        files), as an evaluation to record: scanner ``media``, one finding and rule per part type, the text a
        placeholder per part (``[image_url]``). None when the policy allows such parts silently."""
        mode = self.policy.model.media
        if mode == "allow":
            return None
        action = Action(mode)
        labels = sorted(set(kinds))
        verdict = Verdict(MEDIA_SCANNER, 1.0, tuple(Finding(label, 1.0) for label in labels))
        rules = tuple(RuleHit(MEDIA_SCANNER, label, 1.0, 1.0, action, reason="unreadable") for label in labels)
        text = " ".join(f"[{kind}]" for kind in kinds)
        return Evaluation(text, Stage(stage), (verdict,), PolicyDecision(action, rules, (), ()), (), 0.0, text)

    def size_limit(self, stage: Stage) -> int | None:
        """The shortest ``size_limit`` of the scanners that run at ``stage``, if one has a limit."""
        limits = (s.size_limit for i, s in self.scanners.items() if self._specs[i].scans(stage, None))
        return min((n for n in limits if n is not None), default=None)

    def check(
        self,
        text: str | bytes,
        stage: Stage | str = Stage.INPUT,
        *,
        context: CallContext | None = None,
        vault: Vault | None = None,
        role: str | None = None,
    ) -> Decision:
        """Check one text: scan, decide, transform, record. Never raises Blocked; inspect ``decision.action``."""
        return self.record(self.evaluate(text, stage, vault=vault, role=role), context, vault)

    async def acheck(
        self,
        text: str | bytes,
        stage: Stage | str = Stage.INPUT,
        *,
        context: CallContext | None = None,
        vault: Vault | None = None,
        role: str | None = None,
    ) -> Decision:
        """``check`` for async code: the same logic, run in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.check, text, stage, context=context, vault=vault, role=role)

    def transform(self, evaluation: Evaluation, vault: Vault | None, *, upto: int | None = None) -> str:
        """The caller's text for ``evaluation`` (optionally only its first ``upto`` characters)."""
        text = evaluation.text if upto is None else evaluation.text[:upto]
        redactions = [r for r in evaluation.decision.redactions if upto is None or r.end <= upto]
        return self.operators.apply(text, redactions, vault, restorable=evaluation.stage is Stage.INPUT)

    def record(self, evaluation: Evaluation, context: CallContext | None, vault: Vault | None) -> Decision:
        """Turn an evaluation into the Decision the caller gets, and hand it to the audit sink."""
        pd = evaluation.decision
        if pd.action is Action.BLOCK:
            text = self.policy.model.block_message
        elif pd.action is Action.REDACT:
            text = self.transform(evaluation, vault)
        else:
            text = evaluation.text
        ctx = (context or CallContext()).with_ids()
        if ctx.application is None and ctx.model is None and (self.application or self.model):
            ctx = CallContext(ctx.request_id, ctx.session_id, self.application, self.model, ctx.subject, ctx.outcome)
        decision = Decision(
            action=pd.action,
            stage=evaluation.stage,
            text=text,
            safe_text=self._safe_text(evaluation),
            verdicts=evaluation.verdicts,
            rules=pd.rules,
            policy=self.policy.ref,
            context=ctx,
            latency_ms=evaluation.latency_ms,
            original=evaluation.received if self.policy.model.audit.store_raw_text else "",
            original_length=len(evaluation.received),
        )
        self._write(decision)
        return decision

    def _safe_text(self, evaluation: Evaluation) -> str:
        """The text that may be stored: every located finding replaced; withheld whole if a span scanner failed or
        did not run (an earlier scanner blocked the text first), since its findings are then unknown."""
        failed = [v.scanner for v in evaluation.verdicts if v.failed and self.scanners[v.scanner].spans]
        if failed:
            return f"[text withheld: scanner {', '.join(failed)} failed, {len(evaluation.text)} characters]"
        if evaluation.unscanned:
            skipped = ", ".join(evaluation.unscanned)
            return f"[text withheld: scanner {skipped} did not run (blocked first), {len(evaluation.text)} characters]"
        # Spans are replaced in the stored text, never removed: removing a character the policy only flagged (a
        # U+FFFD inside an address) would join the value around it back together.
        redactions = [
            replace(r, operator="replace") if r.operator == "remove" else r
            for r in evaluation.decision.audit_redactions
        ]
        return self.operators.apply(evaluation.text, redactions, None)

    def _write(self, decision: Decision) -> None:
        if self.sink is None:
            return
        try:
            self.sink.write(decision)
        except Exception as exc:
            if self.policy.model.audit.on_error == "block":
                raise SinkError(f"the audit store did not accept decision {decision.id}: {exc}") from exc
            logger.error("audit sink failed for decision %s (policy allows continuing): %s", decision.id, exc)

    def close(self) -> None:
        """Flush the audit sink."""
        if self.sink is not None:
            self.sink.flush()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- guarding model calls -------------------------------------------------------------------

    def session(self, prompt: str | bytes | None = None, *, context: CallContext | None = None) -> GuardSession:
        """A guarded exchange: ``with guard.session(prompt) as s: answer = s.output(llm(s.prompt))``."""
        from guards.session import GuardSession

        return GuardSession(self, prompt, context=context)

    def wrap(self, fn: F | None = None, *, prompt_arg: str | None = None, context: CallContext | None = None) -> Any:
        """Guard a sync or async model call: check its prompt, call it, check its answer (also streamed answers).

        Usable as ``guard.wrap(fn)``, ``@guard.wrap`` or ``@guard``. ``prompt_arg`` names the argument holding
        the prompt when it is not the first positional string, ``prompt=`` or ``messages=``.
        """
        if fn is None:
            return functools.partial(self.wrap, prompt_arg=prompt_arg, context=context)
        from guards.wrapping import wrap_callable

        return wrap_callable(self, fn, prompt_arg=prompt_arg, context=context)

    __call__ = wrap

    def stream(self, chunks: Iterable[str | bytes], *, context: CallContext | None = None) -> Iterator[str]:
        """Guard a stream of answer chunks on its own (no prompt): yields safe text, never a split PII value."""
        with self.session(context=context) as s:
            yield from s.stream(chunks)

    async def astream(
        self, chunks: AsyncIterable[str | bytes], *, context: CallContext | None = None
    ) -> AsyncIterator[str]:
        """``stream`` for async iterators."""
        async with self.session(context=context) as s:
            async for piece in s.astream(chunks):
                yield piece

    def __repr__(self) -> str:
        ref = self.policy.ref
        return f"Guard(policy={ref.name!r} v{ref.version} {ref.sha256[:12]}, scanners={list(self.scanners)})"


def _without_applied(decision: PolicyDecision, scanners: set[str]) -> PolicyDecision:
    """The decision without the redactions of normalising scanners, which were applied already."""
    if not scanners:
        return decision
    return replace(
        decision,
        redactions=tuple(r for r in decision.redactions if r.scanner not in scanners),
        audit_redactions=tuple(r for r in decision.audit_redactions if r.scanner not in scanners),
    )


def _operators_in(policy: Policy) -> set[str]:
    specs = policy.model.scanners
    return {s.operator for s in specs} | {r.operator for s in specs for r in s.labels.values() if r.operator}


__all__ = ["Evaluation", "Guard", "GuardError"]
