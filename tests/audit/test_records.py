"""Record encoding: the canonical form stays format 1 byte for byte (the writer's spliced hash is the verifier's
reference hash), JSON columns keep their data, and a record that cannot be encoded fails alone."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit import AuditStore
from audit.chain import DECISIONS, FEEDBACK, GENESIS
from audit.errors import AuditValueError
from audit.records import canonical, column_json, dumps, encode, prepare_decision
from guards.types import Action, CallContext, Decision, Finding, PolicyRef, RuleHit, Stage, Verdict

CELLS = st.one_of(
    st.none(),
    st.text(),
    st.integers(),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),  # NaN, infinities, tiny and huge exponents
)
INDEX_ROWS = st.lists(st.tuples(st.integers(0, 99), st.text(), st.text(), st.floats(0, 1), CELLS, CELLS), max_size=4)
MakeDecision = Callable[..., Decision]
HASHES = st.one_of(st.just(GENESIS), st.text())  # a tampered head may hold anything


def _decision() -> Decision:
    findings = (Finding("PERSON", 0.85, 12, 20), Finding("EMAIL_ADDRESS", 1.0, 31, 47))
    text = "Hi, I am <PERSON>, mail me: <EMAIL_ADDRESS> — «ok»\n"
    return Decision(
        action=Action.REDACT,
        stage=Stage.INPUT,
        text=text,
        safe_text=text,
        verdicts=(Verdict("secrets", 0.0, (), 0.12), Verdict("pii", 1.0, findings, 4.2)),
        rules=tuple(RuleHit("pii", f.label, f.score, 0.5, Action.REDACT, "replace") for f in findings),
        policy=PolicyRef("default", "3", "ab" * 32),
        context=CallContext(
            request_id="req-1",
            session_id="s-1",
            application="chat",
            model="m",
            subject={"region": "EU", "age_band": "40-60"},
            outcome={"approved": True},
        ),
        latency_ms=5.25,
        original_length=60,
        id="0123456789abcdef0123456789abcdef",
        timestamp=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )


def test_a_decision_hashes_as_it_did_before_the_fast_path() -> None:
    """Pinned: the hash the previous (single-encoding) writer gave this record as the first of a chain."""
    record = prepare_decision(_decision(), str)
    expected = "264c832c8125fcad1a7204f85ead10ff3c7f69e6df5f626a90c3fafceffbd8a3"
    assert DECISIONS.digest((1, GENESIS, *record.values), record.index) == expected
    assert DECISIONS.digest_encoded(1, GENESIS, DECISIONS.encode(record)) == expected


@given(
    latency=st.floats(0, 1e20),
    scores=st.lists(st.floats(0, 1), max_size=4),
    text=st.text(),
    length=st.integers(0, 2**70),
)
def test_a_prepared_body_is_the_canonical_form(latency: float, scores: list[float], text: str, length: int) -> None:
    """Plain records skip the per-value look before orjson writes them: the bytes must still be ``dumps``'s (tiny
    and huge floats, lone surrogates and integers beyond 64 bits take the slow path)."""
    findings = tuple(Finding("PERSON", score, i, i + 1) for i, score in enumerate(scores))
    rules = tuple(RuleHit("pii", f.label, f.score, 0.5, Action.REDACT, "replace") for f in findings)
    base = _decision()
    decision = dataclasses.replace(
        base,
        safe_text=text,
        latency_ms=latency,
        original_length=length,
        rules=rules,
        verdicts=(Verdict("pii", max(scores, default=0.0), findings, 1.0),),
    )
    record = prepare_decision(decision, str)
    assert record.body == canonical(record.values, record.index)


@given(seq=st.integers(1, 2**62), prev=HASHES, values=st.lists(CELLS, min_size=1, max_size=8), index=INDEX_ROWS)
def test_the_spliced_digest_is_the_reference_digest(seq: int, prev: str, values: list[Any], index: list[Any]) -> None:
    assert DECISIONS.digest_encoded(seq, prev, canonical(values, index)) == DECISIONS.digest(
        (seq, prev, *values), index
    )
    assert FEEDBACK.digest_encoded(seq, prev, canonical(values)) == FEEDBACK.digest((seq, prev, *values))


ODD_CELLS = st.one_of(
    CELLS,
    st.booleans(),
    st.floats(-1e-3, 1e-3),  # around orjson's switch to positional notation (1e-4)
    st.floats().map(np.float64),  # a float subclass orjson will not write as a number
    st.sampled_from([Action.BLOCK, Stage.INPUT]),  # str subclasses
)


@given(st.recursive(ODD_CELLS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner), max_leaves=12))
def test_encode_writes_exactly_what_dumps_writes(value: Any) -> None:
    """The fast (orjson) path of the canonical form never changes a byte of format 1."""
    assert encode([value]) == dumps([value]).encode()


JSONABLE = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.text(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _sorted_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert keys == sorted(keys)
    return dict(pairs)


@given(JSONABLE)
def test_json_columns_hold_the_same_data_with_sorted_keys(value: Any) -> None:
    assert json.loads(column_json(value), object_pairs_hook=_sorted_object) == value


def test_json_columns_fall_back_for_what_orjson_refuses() -> None:
    assert column_json({2: "b", 1: "a"}) == dumps({2: "b", 1: "a"}) == '{"1":"a","2":"b"}'
    assert column_json([2**70]) == "[1180591620717411303424]"
    assert column_json([math.nan]) == "[null]"  # standard JSON, which SQL json functions can read


def test_a_record_that_cannot_be_encoded_is_refused_alone(store: AuditStore, make_decision: MakeDecision) -> None:
    """Encoded in the caller's thread, a bad record fails its own ``write``, not a batch on the writer thread."""
    with pytest.raises(UnicodeEncodeError):
        store.write(make_decision(text="a lone surrogate \ud800"))
    store.write(make_decision())
    store.flush()
    assert store.count() == 1 and store.verify().ok


def test_the_findings_index_holds_detections_not_every_classifier_label() -> None:
    scores = (Finding("toxic", 0.91), Finding("hate", 0.2), Finding("offensive", 0.1))
    base = _decision()
    toxicity = Verdict("toxicity", 0.91, scores, 9.0)
    fired = RuleHit("toxicity", "toxic", 0.91, 0.583, Action.FLAG)
    decision = dataclasses.replace(base, verdicts=(*base.verdicts, toxicity), rules=(*base.rules, fired))
    record = prepare_decision(decision, str)
    assert [(row[1], row[2]) for row in record.index] == [("pii", "PERSON"), ("pii", "EMAIL_ADDRESS"),
                                                          ("toxicity", "toxic")]  # fmt: skip
    stored = json.loads(record.values[-1])
    assert [f[0] for f in stored[-1][4]] == ["toxic", "hate", "offensive"]  # every label's score is kept


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: dataclasses.replace(d, context=CallContext(request_id=12345)), "request_id"),  # type: ignore[arg-type]
        (lambda d: dataclasses.replace(d, context=CallContext(session_id=7)), "session_id"),  # type: ignore[arg-type]
        (lambda d: dataclasses.replace(d, context=CallContext(application=1.5)), "application"),  # type: ignore[arg-type]
        (lambda d: dataclasses.replace(d, context=CallContext(model=True)), "model"),  # type: ignore[arg-type]
        (lambda d: dataclasses.replace(d, policy=PolicyRef("p", 2, "ab" * 32)), "policy_version"),  # type: ignore[arg-type]
        (lambda d: dataclasses.replace(d, original_length=60.0), "original_length"),
        (lambda d: dataclasses.replace(d, latency_ms=math.nan), "latency_ms"),
        (lambda d: dataclasses.replace(d, verdicts=(Verdict("pii", 1.0, (Finding(3, 1.0, 0, 4),), 1.0),)), "label"),  # type: ignore[arg-type]
        (
            lambda d: dataclasses.replace(d, verdicts=(Verdict("pii", 1.0, (Finding("P", 1.0, 0.0, 4),), 1.0),)),
            "span_start",
        ),  # type: ignore[arg-type]
    ],
    ids=["request_id", "session_id", "application", "model", "policy", "length", "latency", "label", "span"],
)
def test_a_value_its_column_would_store_otherwise_is_refused(
    store: AuditStore, change: Callable[[Decision], Decision], field: str
) -> None:
    """SQLite keeps 12345 as the text '12345' in a text column (and 60.0 as 60 in an integer one), so a record
    hashed with the number verified as TAMPERED: such values are refused, naming the field, and nothing is stored."""
    with pytest.raises(AuditValueError, match=field):
        store.write(change(_decision()))
    store.flush()
    assert store.count() == 0


def test_numbers_are_stored_as_their_columns_hold_them(store: AuditStore) -> None:
    """An integer score and latency are floats in their columns, and hashed as such; a StrEnum is its text."""
    decision = dataclasses.replace(
        _decision(),
        verdicts=(Verdict("pii", 1, (Finding("PERSON", 1, 0, 4),), 1),),  # type: ignore[arg-type]
        latency_ms=3,
        context=CallContext(application=Stage.INPUT),
    )
    store.write(decision)
    store.flush()
    assert store.verify().ok


@pytest.mark.parametrize(("field", "value"), [("label", 5), ("reviewer", 1.5), ("note", None)])
def test_feedback_fields_must_be_text(store: AuditStore, field: str, value: Any) -> None:
    store.write(_decision())
    store.flush()
    arguments: dict[str, Any] = {"label": "ok", "reviewer": "ann", "note": "", field: value}
    with pytest.raises(AuditValueError, match=field):
        store.add_feedback(_decision().id, **arguments)
    assert store.feedback() == [] and store.verify().ok
