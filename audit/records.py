"""Domain objects the store returns (dataclasses), and the conversion of a ``Decision`` into stored values."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from audit.errors import AuditValueError
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _US


def from_us(micros: int) -> datetime:
    """The UTC datetime of ``micros`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_C_ENCODE = json.encoder.c_make_encoder  # type: ignore[attr-defined]
_FAST = (
    _C_ENCODE(None, str, json.encoder.c_encode_basestring, None, ":", ",", True, False, True)  # type: ignore[attr-defined]
    if _C_ENCODE is not None
    else None
)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text (used for stored JSON and for hashing).

    Calls the C encoder built once, instead of building one per call as ``json.dumps`` with options does.
    """
    if _FAST is not None and isinstance(value, list | dict):
        return "".join(_FAST(value, 0))
    return _ENCODER.encode(value)


def column_json(value: Any) -> str:
    """The text of a JSON column (subject, outcome, rules, verdicts): sorted keys, no whitespace, UTF-8, via orjson.

    Not byte-for-byte ``dumps`` (NaN and infinities become ``null``; floats below 1e-4 are spelt differently, e.g.
    ``1e-9`` for ``1e-09``), which is fine: the hash covers the stored text, never a re-encoding of it. Values orjson
    refuses (non-string keys, integers beyond 64 bits) take ``dumps``.
    """
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return dumps(value)


_PLAIN = frozenset({str, int, bool, type(None)})


def _orjson_writes_alike(items: Iterable[Any]) -> bool:
    """Whether orjson writes ``items`` byte for byte as ``dumps`` does: exact strings, integers, booleans and None,
    floats that both write in positional notation (zero, or 1e-4 <= |x| < 1e16; not NaN, infinities, or
    subclasses such as numpy's), and lists and tuples of these."""
    for v in items:
        t = type(v)
        if t in _PLAIN or (t is float and (v == 0.0 or 1e-4 <= abs(v) < 1e16)):
            continue
        if (t is list or t is tuple) and _orjson_writes_alike(v):
            continue
        return False
    return True


def encode(value: list[Any]) -> bytes:
    """``dumps(value)`` in UTF-8, by orjson (several times faster) when it writes the very same bytes."""
    if _orjson_writes_alike(value):
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate: let dumps decide
            pass
    return dumps(value).encode()


def canonical(values: Sequence[Any], index: Sequence[Sequence[Any]] | None = None) -> bytes:
    """``dumps([*values, index])`` in UTF-8 (``[*values]`` without ``index``): a record's part of its hashed form."""
    return encode([*values, index] if index is not None else [*values])


IndexRow = tuple[int, str, str, float, int | None, int | None]
"""One ``audit_finding`` row without its decision seq: ord, scanner, label, score, start, end."""


DECISION_COLUMNS = (
    "id", "ts_us", "stage", "action", "request_id", "session_id", "application", "model", "policy_name",
    "policy_version", "policy_sha256", "latency_ms", "safe_text", "original_length", "original_enc", "subject",
    "outcome", "rules", "verdicts",
)  # fmt: skip
"""The stored decision columns in canonical order (after ``seq`` and ``prev_hash``, before ``hash``)."""
FEEDBACK_COLUMNS = ("id", "decision_id", "ts_us", "label", "reviewer", "note")
"""The stored feedback columns in canonical order (after ``seq`` and ``prev_hash``, before ``hash``)."""
INDEX_COLUMNS = ("ord", "scanner", "label", "score", "span_start", "span_end")
"""The ``audit_finding`` columns of an ``IndexRow``."""


class Kind(NamedTuple):
    """What a column stores exactly as it is hashed: instances of ``types`` (never a bool; a float only finite)."""

    types: tuple[type, ...]
    description: str


_TEXT = Kind((str,), "a str")
_OPTIONAL_TEXT = Kind((str, type(None)), "a str or None")
_INTEGER = Kind((int,), "an int")
_OPTIONAL_INTEGER = Kind((int, type(None)), "an int or None")
_REAL = Kind((float,), "a finite float")
DECISION_KINDS = (
    _TEXT, _INTEGER, _TEXT, _TEXT, _OPTIONAL_TEXT, _OPTIONAL_TEXT, _OPTIONAL_TEXT, _OPTIONAL_TEXT, _TEXT, _TEXT,
    _TEXT, _REAL, _TEXT, _INTEGER, _OPTIONAL_TEXT, _TEXT, _TEXT, _TEXT, _TEXT,
)  # fmt: skip
"""The kind of each of ``DECISION_COLUMNS``."""
INDEX_KINDS = (_INTEGER, _TEXT, _TEXT, _REAL, _OPTIONAL_INTEGER, _OPTIONAL_INTEGER)
FEEDBACK_KINDS = (_TEXT, _TEXT, _INTEGER, _TEXT, _TEXT, _TEXT)


def _fits(value: Any, kind: Kind) -> bool:
    if not isinstance(value, kind.types) or isinstance(value, bool):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def check_values(columns: Sequence[str], kinds: Sequence[Kind], values: Sequence[Any]) -> None:
    """Raise ``AuditValueError`` naming the first value its column would not store as it is hashed (SQLite keeps
    ``12345`` as the text ``'12345'`` in a text column, ``5.0`` as ``5`` in an integer one, NaN as NULL)."""
    if len(values) != len(columns):
        raise AuditValueError(f"an audit record has {len(values)} fields, not {len(columns)}")
    for column, kind, value in zip(columns, kinds, values, strict=True):
        if not _fits(value, kind):
            got = f"{type(value).__name__} {value!r:.60}"
            raise AuditValueError(f"audit field {column} must be {kind.description}, not {got}")


def _plain(kinds: Sequence[Kind]) -> frozenset[tuple[type, ...]]:
    """Every tuple of exact types that values of ``kinds`` may have (subclasses, e.g. ``StrEnum`` members, and
    non-finite floats are left to ``check_values``)."""
    return frozenset(itertools.product(*(kind.types for kind in kinds)))


_PLAIN_DECISION, _PLAIN_INDEX = _plain(DECISION_KINDS), _plain(INDEX_KINDS)
_LATENCY, _SCORE = DECISION_COLUMNS.index("latency_ms"), INDEX_COLUMNS.index("score")


def check_record(values: Sequence[Any], index: Sequence[Sequence[Any]]) -> bool:
    """``check_values`` for a decision record and each of its findings index rows (a fast look at the values'
    exact types first: this runs on every write). True when every value has exactly its column's type and every
    float is written the same by orjson and ``dumps`` (0, or 1e-4 <= |x| < 1e16): the record's canonical form can
    then be written by orjson without looking at each value again."""
    plain = True
    if tuple(map(type, values)) not in _PLAIN_DECISION or not _positional(values[_LATENCY]):
        check_values(DECISION_COLUMNS, DECISION_KINDS, values)
        plain = False
    for row in index:
        if tuple(map(type, row)) not in _PLAIN_INDEX or not _positional(row[_SCORE]):
            check_values(INDEX_COLUMNS, INDEX_KINDS, row)
            plain = False
    return plain


def _positional(x: float) -> bool:
    """Finite, and written in positional notation by both JSON encoders."""
    return x == 0.0 or 1e-4 <= abs(x) < 1e16


@dataclass(frozen=True, slots=True)
class Prepared:
    """A record ready to be chained: its column values in canonical order and its findings index rows."""

    values: tuple[Any, ...]
    index: list[IndexRow]
    body: bytes | None = None
    """``canonical(values, index)`` when already encoded (the journal frame and the chain hash share it)."""


# Members and values map to the plain value string (a StrEnum member hashes and compares as its value).
_STAGES: dict[str, str] = {m._value_: m._value_ for m in Stage}
_ACTIONS: dict[str, str] = {m._value_: m._value_ for m in Action}


def prepare_decision(decision: Decision, encrypt: Callable[[str], str]) -> Prepared:
    """The stored values of ``decision`` in ``DECISION_COLUMNS`` order; raw text appears only encrypted.

    Runs in the caller's thread for every guarded call, hence written for speed (one pass over the findings;
    enum members go to the JSON encoder as the strings they are). The findings index holds the detections: every
    located finding, and a whole-text classifier's label only when it fired a rule (its score for every label
    stays in the verdicts column). Latencies and scores are stored as floats; any other value its column would
    not store exactly as hashed (a number for a text field such as ``request_id``) raises ``AuditValueError``.
    """
    ctx = decision.context
    verdicts = []
    index: list[IndexRow] = []
    fired = {(r.scanner, r.label) for r in decision.rules}
    for v in decision.verdicts:
        findings = []
        for f in v.findings:
            findings.append([f.label, f.score, f.start, f.end, dict(f.detail) if f.detail else {}])
            if f.start is not None or (v.scanner, f.label) in fired:
                index.append((len(index), v.scanner, f.label, float(f.score), f.start, f.end))
        verdicts.append([v.scanner, v.score, v.latency_ms, v.error, findings])
    rules = [[r.scanner, r.label, r.score, r.threshold, r.action, r.operator, r.reason] for r in decision.rules]
    values = (
        decision.id,
        to_us(decision.timestamp),
        _STAGES.get(decision.stage) or Stage(decision.stage)._value_,
        _ACTIONS.get(decision.action) or Action(decision.action)._value_,
        ctx.request_id,
        ctx.session_id,
        ctx.application,
        ctx.model,
        decision.policy.name,
        decision.policy.version,
        decision.policy.sha256,
        float(decision.latency_ms),
        decision.safe_text,
        decision.original_length or len(decision.original),
        encrypt(decision.original) if decision.original else None,
        column_json(dict(ctx.subject)) if ctx.subject else "{}",
        column_json(dict(ctx.outcome)) if ctx.outcome else "{}",
        column_json(rules),
        column_json(verdicts),
    )
    if check_record(values, index):  # plain values: orjson writes them as dumps does, no need to look again
        with suppress(orjson.JSONEncodeError):  # a lone surrogate or an integer beyond 64 bits: dumps decides
            return Prepared(values, index, orjson.dumps([*values, index]))
    return Prepared(values, index, canonical(values, index))


@dataclass(frozen=True, slots=True)
class Feedback:
    """A human reviewer's verdict on one decision (e.g. label ``"false_positive"``)."""

    id: str
    decision_id: str
    label: str
    reviewer: str
    note: str
    timestamp: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored decision as the audit log holds it: no raw text, only ``safe_text`` and span offsets."""

    seq: int
    id: str
    timestamp: datetime
    stage: Stage
    action: Action
    policy: PolicyRef
    context: CallContext
    latency_ms: float
    safe_text: str
    original_length: int
    has_original: bool
    verdicts: tuple[Verdict, ...]
    rules: tuple[RuleHit, ...]
    hash: str
    feedback: tuple[Feedback, ...] = field(default=())

    @property
    def outcome(self) -> Mapping[str, Any]:
        """The model outcome the caller attached (e.g. ``{"approved": True, "ground_truth": False}``)."""
        return self.context.outcome

    @property
    def subject(self) -> Mapping[str, str]:
        """The subject attributes the caller attached for fairness analysis."""
        return self.context.subject


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """A policy version seen by the store, with its canonical document and first/last use."""

    name: str
    version: str
    sha256: str
    document: str
    first_seen: datetime
    last_seen: datetime


def _verdict(v: list[Any]) -> Verdict:
    scanner, score, latency_ms, error, findings = v
    found = tuple(Finding(lb, sc, a, b, MappingProxyType(detail)) for lb, sc, a, b, detail in findings)
    return Verdict(scanner, score, found, latency_ms, error)


def _rule(r: list[Any]) -> RuleHit:
    scanner, label, score, threshold, action, operator, reason = r
    return RuleHit(scanner, label, score, threshold, Action(action), operator, reason)


def record_from_row(row: Any, feedback: tuple[Feedback, ...] = ()) -> AuditRecord:
    """Build an ``AuditRecord`` from a ``DecisionRow`` (or any object with its attributes)."""
    return AuditRecord(
        seq=row.seq,
        id=row.id,
        timestamp=from_us(row.ts_us),
        stage=Stage(row.stage),
        action=Action(row.action),
        policy=PolicyRef(row.policy_name, row.policy_version, row.policy_sha256),
        context=CallContext(
            request_id=row.request_id,
            session_id=row.session_id,
            application=row.application,
            model=row.model,
            subject=MappingProxyType(json.loads(row.subject)),
            outcome=MappingProxyType(json.loads(row.outcome)),
        ),
        latency_ms=row.latency_ms,
        safe_text=row.safe_text,
        original_length=row.original_length,
        has_original=row.original_enc is not None,
        verdicts=tuple(_verdict(v) for v in json.loads(row.verdicts)),
        rules=tuple(_rule(r) for r in json.loads(row.rules)),
        hash=row.hash,
        feedback=feedback,
    )
