"""SHAP token attributions for a text scorer: a partition explainer over a text masker, one per scorer per process.

SHAP's first explanation in a process compiles numba code (seconds); the explainers are therefore cached by key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
Scorer = Callable[[Sequence[str]], Sequence[float]]
"""Texts in, one score in [0, 1] per text out (the model output that SHAP explains)."""
DEFAULT_MAX_EVALS = 200
"""Model evaluations per explanation: enough for short texts, cheap on CPU."""
WORD_TOKENS = r"\W+"
"""Fallback tokenizer: words (SHAP's regex splitter)."""
_explainers: dict[str, Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Attribution:
    """Token attributions of one text: ``base_value + sum(values)`` is the model score (SHAP additivity)."""

    tokens: tuple[str, ...]
    values: tuple[float, ...]
    base_value: float
    score: float

    @property
    def additivity_error(self) -> float:
        """``|base_value + sum(values) - score|``: zero up to float error for an exact explanation."""
        return abs(self.base_value + sum(self.values) - self.score)


def encoder_tokenizer() -> Any:
    """The shipped encoder's (fast) tokenizer, so tokens are those the classifier scanners see."""
    from transformers import AutoTokenizer

    from guards.models.encoder import default_encoder_path

    return AutoTokenizer.from_pretrained(default_encoder_path())


def explainer(key: str, scorer: Scorer, *, tokenizer: Any = WORD_TOKENS) -> Any:
    """The cached SHAP explainer of ``scorer`` (built on first use under ``key``)."""
    with _lock:
        if key not in _explainers:
            import shap

            masker = shap.maskers.Text(tokenizer)

            def model(texts: Any) -> np.ndarray:
                return np.asarray(scorer([str(t) for t in texts]), dtype=float)

            _explainers[key] = shap.Explainer(model, masker, algorithm="partition")
        return _explainers[key]


def attribute(
    text: str,
    scorer: Scorer,
    *,
    key: str,
    tokenizer: Any = WORD_TOKENS,
    max_evals: int = DEFAULT_MAX_EVALS,
) -> Attribution:
    """SHAP attributions of ``scorer``'s score on ``text`` to its tokens (empty text: no tokens)."""
    score = float(np.asarray(scorer([text]), dtype=float)[0])
    if not text.strip():
        return Attribution((), (), score, score)
    shap_explainer = explainer(key, scorer, tokenizer=tokenizer)
    if sum(1 for segment in shap_explainer.masker.token_segments(text)[0] if segment) < 2:
        # One token: its Shapley value is the whole change from the empty text (the partition tree needs two).
        base = float(np.asarray(scorer([""]), dtype=float)[0])
        return Attribution((text,), (score - base,), base, score)
    result = shap_explainer([text], max_evals=max_evals, silent=True)
    tokens = tuple(str(t) for t in result.data[0])
    values = tuple(float(v) for v in np.asarray(result.values[0], dtype=float))
    return Attribution(tokens, values, float(np.asarray(result.base_values[0]).reshape(-1)[0]), score)
