"""Classifier scanners (toxicity, bias, injection): small heads on one shared encoder pass; they score, never decide."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from guards.models.runtime import ClassifierModel, load_model
from guards.scanners.base import ScanContext, ScannerBase
from guards.types import Finding, Verdict


class ClassifierScanner(ScannerBase):
    """Scores whole texts with one head; findings carry one score per label and no span."""

    head: ClassVar[str]
    spans: ClassVar[bool] = False

    def __init__(self, scanner_id: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(scanner_id, params)
        self._model: ClassifierModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> ClassifierModel:
        """The head and encoder, loaded on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = load_model(self.head, self.params)
        return self._model

    def warmup(self) -> None:
        """Load the encoder and head now."""
        self.model.warmup()

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Score one text."""
        return self.score_batch([text])[0]

    def score_batch(self, texts: Sequence[str]) -> list[Verdict]:
        """Score many texts in one batched encoder pass (shared with the other classifier scanners)."""
        start = time.perf_counter()
        return label_verdicts(self.id, self.model.head.labels, self.model.scores(texts), start)


def label_verdicts(scanner_id: str, labels: Sequence[str], scores: np.ndarray, started: float) -> list[Verdict]:
    """One verdict per row of ``scores`` (a finding per label, clipped to [0, 1]); each text's latency is its
    share of the time since ``started`` (a ``time.perf_counter()`` reading)."""
    per_text = (time.perf_counter() - started) * 1000 / max(len(scores), 1)
    verdicts = []
    for row in scores:
        findings = tuple(Finding(label, float(min(max(v, 0.0), 1.0))) for label, v in zip(labels, row, strict=True))
        verdicts.append(Verdict(scanner_id, Verdict.of(scanner_id, findings).score, findings, latency_ms=per_text))
    return verdicts


class ToxicityScanner(ClassifierScanner):
    """Toxic text, with the sub-labels ``hate`` (hate speech) and ``offensive`` (offensive language)."""

    type_name = "toxicity"
    labels = frozenset({"toxic", "hate", "offensive"})
    head = "toxicity"


class BiasScanner(ClassifierScanner):
    """Text that stereotypes or demeans a social group (label ``stereotype``)."""

    type_name = "bias"
    labels = frozenset({"stereotype"})
    head = "bias"


class InjectionScanner(ClassifierScanner):
    """Prompt injection and jailbreak attempts (label ``injection``)."""

    type_name = "injection"
    labels = frozenset({"injection"})
    head = "injection"
