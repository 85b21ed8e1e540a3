"""Outcomes of the wrapped model and their ground truth, for fairness reports on the model's own decisions.

A call logs the model's outcome in ``CallContext.outcome`` (e.g. ``{"approved": True}``), optionally with its ground
truth when already known (``{"approved": True, "ground_truth": False}``). A ground truth that becomes known later is
recorded with ``record_ground_truth``: a reviewer feedback record labelled ``ground_truth:<outcome>=<true|false>``,
so it sits on the feedback hash chain and is as tamper-evident as the decision itself. The latest such record wins.

Reviewer labels on the guard's own actions (``confirmed``, ``false_positive`` ...) are read by ``guard_truth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.records import Feedback
    from audit.store import AuditStore

GROUND_TRUTH_PREFIX = "ground_truth:"
"""Feedback labels starting with this carry a model outcome's ground truth."""
INLINE_TRUTH_KEY = "ground_truth"
"""The ``CallContext.outcome`` key of a ground truth known at call time."""
CORRECT_LABELS = frozenset({"confirmed", "correct", "true_positive", "true_negative"})
"""Feedback labels saying the guard's action was right."""
INCORRECT_LABELS = frozenset({"incorrect", "wrong"})
"""Feedback labels saying the guard's action was wrong (see also ``false_positive`` / ``false_negative``)."""
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


def ground_truth_label(outcome: str, value: bool) -> str:
    """The feedback label that records ``value`` as the ground truth of ``outcome``."""
    if not outcome or "=" in outcome:
        raise ValueError(f"invalid outcome name {outcome!r}")
    return f"{GROUND_TRUTH_PREFIX}{outcome}={'true' if value else 'false'}"


def record_ground_truth(
    store: AuditStore, decision_id: str, value: bool, *, outcome: str = "approved", reviewer: str, note: str = ""
) -> Feedback:
    """Record the ground truth of the model outcome ``outcome`` of a logged decision (hash-chained feedback)."""
    return store.add_feedback(decision_id, label=ground_truth_label(outcome, value), reviewer=reviewer, note=note)


def parse_ground_truth(label: str | None, outcome: str) -> bool | None:
    """The ground truth a feedback label records for ``outcome``, or None when it records none."""
    prefix = f"{GROUND_TRUTH_PREFIX}{outcome}="
    if label is None or not label.startswith(prefix):
        return None
    return as_bool(label[len(prefix) :])


def as_bool(value: Any) -> bool | None:
    """A stored outcome value as a boolean (JSON true/false, 1/0, "yes"/"no" ...); None when not boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        v = value.strip().lower()
        return True if v in _TRUE else False if v in _FALSE else None
    return None


def guard_truth(label: str | None, intervened: bool) -> bool | None:
    """Whether the guard *should* have intervened, from a reviewer label on its action; None when unknown."""
    if label is None:
        return None
    if label == "false_positive":
        return False
    if label == "false_negative":
        return True
    if label in CORRECT_LABELS:
        return intervened
    if label in INCORRECT_LABELS:
        return not intervened
    return None
