"""Classifier scanners (toxicity, bias, injection): small heads on one shared encoder pass; they score, never decide."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from guards.errors import PolicyError
from guards.models.heads import META_FILE, read_meta
from guards.models.runtime import ClassifierModel, check_encoder_params, head_dir, load_model, trained_setting
from guards.scanners.base import ParamTypes, ScanContext, ScannerBase
from guards.types import Finding, Verdict


class ScoringModel(Protocol):
    """What a whole-text scanner's model offers: its labels and a score per label for every text."""

    @property
    def labels(self) -> Sequence[str]:
        """The labels, in the order of the score columns."""
        ...

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(labels))`` scores in [0, 1]."""
        ...


M = TypeVar("M", bound=ScoringModel)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    """The sentences of ``text``: split after ``.``, ``!`` or ``?`` followed by white space, and at line breaks."""
    return [s for s in (part.strip() for part in _SENTENCE_BREAK.split(text)) if s]


ENCODER_PARAMS: ParamTypes = {
    "encoder": str,
    "tuned_layers": (str, bool),
    "quantize": bool,
    "window": int,
    "overlap": int,
    "threads": int,
    "sentences": bool,
}
"""The params of every scanner on the shared encoder (see ``guards.models.runtime.encoder_config``)."""


class ModelScanner(ScannerBase, Generic[M]):
    """Scores whole texts with a model loaded on first use (once, under a lock); one finding per label, no span."""

    spans: ClassVar[bool] = False

    def __init__(self, scanner_id: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(scanner_id, params)
        self._model: M | None = None
        self._lock = threading.Lock()

    def _load(self) -> M:  # pragma: no cover - abstract
        raise NotImplementedError

    def validate(self) -> None:
        """The params' names and types, a local ``params.encoder`` and the encoder setting (``threads``, ``window``,
        ``overlap``), without loading a model: a scan must never be the first to find them wrong."""
        super().validate()
        self._check_encoder_path()
        try:
            check_encoder_params(self.params, self.trained_encoder())
        except ValueError as exc:
            raise PolicyError(f"scanner {self.id!r}: {exc}") from None

    def _check_encoder_path(self) -> None:
        """A local ``params.encoder`` must be a model directory (a hub id is left to the loader)."""
        encoder = str(self.params.get("encoder") or "")
        path = Path(encoder).expanduser()
        if not encoder or not (encoder.startswith(("/", "./", "../", "~")) or path.exists()):
            return
        if not path.exists():
            raise PolicyError(f"scanner {self.id!r}: params.encoder {encoder} does not exist")
        if not (path / "config.json").is_file():
            raise PolicyError(
                f"scanner {self.id!r}: params.encoder {encoder} is not a model directory (no config.json)"
            )

    def trained_encoder(self) -> Mapping[str, Any] | None:
        """The encoder setting the model was trained with: the defaults of ``window``, ``overlap``, ``quantize`` and
        ``tuned`` layers (None: the model is not a trained head)."""
        return None

    @property
    def model(self) -> M:
        """The model, loaded on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """Score one text."""
        return self.score_batch([text])[0]

    def score_batch(self, texts: Sequence[str]) -> list[Verdict]:
        """Score many texts in one batch (their embeddings are shared with the other encoder scanners)."""
        start = time.perf_counter()
        return label_verdicts(self.id, self.model.labels, self.model.scores(texts), start)


class ClassifierScanner(ModelScanner[ClassifierModel]):
    """Scores whole texts with one classifier head on the shared encoder.

    ``params.sentences: true`` also scores every sentence of a text on its own and keeps the highest score per
    label, so that one toxic sentence in a long, otherwise harmless answer is not averaged away (one more encoder
    pass per sentence); by default a text is scored as a whole (in windows when it is long).
    """

    head: ClassVar[str]
    params_types: ClassVar[ParamTypes] = {**ENCODER_PARAMS, "weights": str}

    def score_batch(self, texts: Sequence[str]) -> list[Verdict]:
        """Score many texts in one batch (and, with ``params.sentences``, their sentences too)."""
        if not self.params.get("sentences", False) or not texts:
            return super().score_batch(texts)
        start = time.perf_counter()
        units = [[text, *parts] if len(parts := sentences(text)) > 1 else [text] for text in texts]
        scores = self.model.scores([u for per_text in units for u in per_text])
        starts = np.cumsum([0, *(len(per_text) for per_text in units[:-1])])
        return label_verdicts(self.id, self.model.labels, np.maximum.reduceat(scores, starts, axis=0), start)

    def _load(self) -> ClassifierModel:
        return load_model(self.head, self.params)

    def trained_encoder(self) -> Mapping[str, Any]:
        """The encoder setting in the head's ``meta.json``; a weights directory without one is a PolicyError."""
        directory = head_dir(self.head, self.params)
        if not (directory / META_FILE).is_file():
            weights = self.params.get("weights")
            where = f"params.weights {weights}" if weights is not None else f"the shipped head folder {directory}"
            raise PolicyError(
                f"scanner {self.id!r}: {where} holds no trained head "
                f"({META_FILE} missing; heads are written by python -m guards.training)"
            )
        return trained_setting(directory, read_meta(directory))

    def warmup(self) -> None:
        """Load the encoder and head now."""
        self.model.warmup()


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
