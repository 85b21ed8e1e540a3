"""The fairness metrics as weighted rates over (ground truth, prediction) cells, usable by fairlearn's MetricFrame.

A rate is ``sum(w * numerator) / sum(w * denominator)`` over rows; ``y_true`` is 1 / 0 / -1 (unknown) and ``y_pred`` the
guard's action severity (0 allow, 1 flag, 2 redact, 3 block) or the model's outcome (1 positive, 0 negative). Written
as masks so one definition serves fairlearn (``rate(y_true, y_pred, sample_weight=...)``) and a vectorised bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Mask = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.bool_]]


@dataclass(frozen=True, slots=True)
class Rate:
    """A metric: the weighted share of rows in ``denominator`` that are also in ``numerator``."""

    name: str
    description: str
    numerator: Mask
    denominator: Mask
    needs_truth: bool = False

    def __call__(self, y_true: object, y_pred: object, sample_weight: object = None) -> float:
        """The rate over rows (fairlearn metric signature); NaN when the denominator is empty."""
        yt, yp = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
        w = np.ones(len(yt)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        den = float(w @ self.denominator(yt, yp))
        return float(w @ (self.numerator(yt, yp) & self.denominator(yt, yp))) / den if den else float("nan")

    def masks(
        self, y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], ...]:
        """Numerator and denominator indicators of each row, as floats for matrix products."""
        den = self.denominator(y_true, y_pred)
        return (self.numerator(y_true, y_pred) & den).astype(float), den.astype(float)


def _all(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return np.ones(len(yt), dtype=bool)


def _labelled(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return yt >= 0


def _neg(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return yt == 0


def _pos(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return yt == 1


def _action(code: int) -> Mask:
    return lambda yt, yp: yp == code


def _positive(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return yp >= 1


def _negative(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return yp == 0


def _correct(yt: npt.NDArray[np.int64], yp: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return (yp >= 1) == (yt == 1)


FALSE_POSITIVE_RATE = Rate("false_positive_rate", "share of true negatives predicted positive", _positive, _neg, True)
FALSE_NEGATIVE_RATE = Rate("false_negative_rate", "share of true positives predicted negative", _negative, _pos, True)
TRUE_POSITIVE_RATE = Rate("true_positive_rate", "share of true positives predicted positive", _positive, _pos, True)

GUARD_RATES: tuple[Rate, ...] = (
    Rate("block_rate", "share of decisions blocked", _action(3), _all),
    Rate("flag_rate", "share of decisions flagged", _action(1), _all),
    Rate("redaction_rate", "share of decisions redacted", _action(2), _all),
    Rate("intervention_rate", "share of decisions flagged, redacted or blocked", _positive, _all),
    FALSE_POSITIVE_RATE,
    FALSE_NEGATIVE_RATE,
    TRUE_POSITIVE_RATE,
)
"""Rates of the guard's decisions; a reviewer label gives the truth (should the guard have intervened?)."""

MODEL_RATES: tuple[Rate, ...] = (
    Rate("selection_rate", "share of decisions with a positive outcome", _positive, _all),
    FALSE_POSITIVE_RATE,
    FALSE_NEGATIVE_RATE,
    TRUE_POSITIVE_RATE,
    Rate("accuracy", "share of labelled outcomes equal to the ground truth", _correct, _labelled, True),
)
"""Rates of the wrapped model's outcomes against their ground truth."""

GUARD_PARITY = ("intervention_rate", "block_rate")
"""Guard rates whose between-group ratio is held to the policy's demographic-parity threshold."""
MODEL_PARITY = ("selection_rate",)
"""Model rates whose between-group ratio is held to the policy's demographic-parity threshold."""
