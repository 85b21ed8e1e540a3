"""The classifier scanner behind a stored verdict, rebuilt from the policy version that took the decision."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.store import AuditStore

log = logging.getLogger(__name__)
CLASSIFIER_TYPES = frozenset({"toxicity", "bias", "injection"})
"""Scanner types explained by SHAP; every other scanner is explained by its findings."""
_scanners: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def scanner_type(store: AuditStore, policy_sha256: str, scanner: str) -> str | None:
    """The type of scanner id ``scanner`` in the stored policy version (None when unknown)."""
    spec = _spec(store, policy_sha256, scanner)
    return None if spec is None else str(spec.type)


def _spec(store: AuditStore, policy_sha256: str, scanner: str) -> Any:
    from guards.errors import PolicyError
    from guards.policy import parse_policy

    docs = [p.document for p in store.list_policies() if p.sha256 == policy_sha256]
    if not docs:
        return None
    try:
        specs = {s.id: s for s in parse_policy(docs[0]).model.scanners}
    except PolicyError as exc:  # a document this version of ombud cannot read: explain by findings
        log.warning("cannot read stored policy %s: %s", policy_sha256[:12], exc)
        return None
    return specs.get(scanner)


def classifier(store: AuditStore, policy_sha256: str, scanner: str) -> Any:
    """The scanner object (with ``score_batch``), built once per process per policy version and scanner id."""
    key = (policy_sha256, scanner)
    with _lock:
        if key not in _scanners:
            from guards.scanners.base import scanner_class

            spec = _spec(store, policy_sha256, scanner)
            if spec is None or spec.type not in CLASSIFIER_TYPES:
                raise LookupError(f"scanner {scanner!r} of policy {policy_sha256[:12]} is not a classifier scanner")
            _scanners[key] = scanner_class(spec.type)(spec.id, spec.params)
        return _scanners[key]


def label_scorer(scanner: Any, label: str) -> Any:
    """A function texts → the scanner's score of ``label`` per text."""

    def score(texts: Sequence[str]) -> list[float]:
        verdicts = scanner.score_batch(list(texts))
        return [next((f.score for f in v.findings if f.label == label), v.score) for v in verdicts]

    return score
