"""Span-level evaluation of the PII scanner on presidio-research style JSONL (``text`` + ``spans``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guards.errors import InputError, PolicyError
from guards.policy import load_policy
from guards.policy.decide import label_tiers
from guards.scanners.base import ScanContext
from guards.scanners.pii import PiiScanner

# Dataset labels → the entity types our PII scanner reports. None: no recogniser covers the type (reported as such).
DATASET_LABELS: dict[str, str | None] = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "ORGANIZATION": "ORGANIZATION",
    "CREDIT_CARD": "CREDIT_CARD",
    "DATE_TIME": "DATE_TIME",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "NRP": "NRP",
    "DOMAIN_NAME": "URL",
    "AGE": None,
    "TITLE": None,
    "ZIP_CODE": None,
}


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled character span."""

    label: str
    start: int
    end: int

    def matches(self, other: Span) -> bool:
        """Same type, and overlapping by at least half of the shorter span."""
        overlap = min(self.end, other.end) - max(self.start, other.start)
        shorter = min(self.end - self.start, other.end - other.start)
        return self.label == other.label and shorter > 0 and overlap * 2 >= shorter


def evaluate_pii(
    data: Path, *, policy: str = "default", scanner_id: str = "pii", limit: int | None = None
) -> dict[str, Any]:
    """Precision, recall and F1 per entity type, with detections at the policy's thresholds."""
    spec = next((s for s in load_policy(policy).model.scanners if s.id == scanner_id), None)
    if spec is None or spec.type != "pii":
        raise PolicyError(f"policy {policy!r} has no pii scanner with id {scanner_id!r}")
    scanner = PiiScanner(spec.id, spec.params)
    known = {label for label in DATASET_LABELS.values() if label}
    true_pos: Counter[str] = Counter()  # detections that match a gold span
    false_pos: Counter[str] = Counter()
    found: Counter[str] = Counter()  # gold spans that a detection matches
    false_neg: Counter[str] = Counter()
    unsupported: Counter[str] = Counter()
    records = 0
    for text, gold_raw in _records(data, limit):
        records += 1
        gold = []
        for span in gold_raw:
            mapped = DATASET_LABELS.get(span["label"])
            if mapped is None:
                unsupported[span["label"]] += 1
            else:
                gold.append(Span(mapped, span["start"], span["end"]))
        predicted = [
            Span(f.label, f.start, f.end)
            for f in scanner.scan(text, ScanContext()).findings
            if f.start is not None and f.end is not None and f.label in known
            if f.score >= min(label_tiers(spec, f.label).values())
        ]
        for p in predicted:
            (true_pos if any(p.matches(g) for g in gold) else false_pos)[p.label] += 1
        for g in gold:
            (found if any(g.matches(p) for p in predicted) else false_neg)[g.label] += 1
    labels = sorted(set(true_pos) | set(false_pos) | set(false_neg) | set(found))
    per_type = {label: _prf(true_pos[label], false_pos[label], found[label], false_neg[label]) for label in labels}
    micro = _prf(*(sum(c.values()) for c in (true_pos, false_pos, found, false_neg)))
    return {
        "dataset": str(data),
        "records": records,
        "policy": policy,
        "matching": "same type, overlap >= half of the shorter span",
        "micro": micro,
        "per_type": per_type,
        "unsupported_types": dict(sorted(unsupported.items())),
    }


def _prf(tp: int, fp: int, found: int, fn: int) -> dict[str, float | int]:
    """Precision over detections, recall over gold spans (one long detection may match several gold pieces)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = found / (found + fn) if found + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": found + fn,
        "predicted": tp + fp,
    }


def _records(data: Path, limit: int | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    files = sorted(data.glob("*.jsonl")) if data.is_dir() else [data]
    if not files:
        raise InputError(f"no .jsonl files in {data}")
    count = 0
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    text, spans = record["text"], record["spans"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(f"{path}:{number}: expected JSON with 'text' and 'spans' ({exc})") from exc
                yield text, spans
                count += 1
                if limit is not None and count >= limit:
                    return
