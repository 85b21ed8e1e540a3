"""Metrics shared by training and evaluation: AUC, thresholded scores, threshold choice, Borkan bias AUCs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=float)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return ranks


def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic (ties count half; NaN when only one class is present)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=float)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((_ranks(s)[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def mean_roc_auc(y: np.ndarray, s: np.ndarray) -> float:
    """The mean over labels (columns of ``y`` and ``s``) of each label's ROC AUC."""
    return float(np.mean([roc_auc(y[:, j], s[:, j]) for j in range(y.shape[1])]))


def at_threshold(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, F1, FPR and accuracy when flagging ``s >= threshold``."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(s) >= threshold
    tp, fp = float((p & y).sum()), float((p & ~y).sum())
    fn, tn = float((~p & y).sum()), float((~p & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": fp / (fp + tn) if fp + tn else float("nan"),
        "accuracy": (tp + tn) / max(len(y), 1),
    }


def best_f1_threshold(y: np.ndarray, s: np.ndarray, *, max_fpr: float | None = None) -> float:
    """The threshold with the best F1 on ``(y, s)``, optionally only among those with FPR ≤ ``max_fpr``."""
    candidates = np.unique(np.round(np.asarray(s), 3))
    best, best_t = -1.0, 0.5
    for t in candidates[(candidates > 0.02) & (candidates < 0.99)]:
        m = at_threshold(y, s, float(t))
        if max_fpr is not None and m["fpr"] > max_fpr:
            continue
        if m["f1"] > best:
            best, best_t = m["f1"], float(t)
    return round(best_t, 3)


def quantile_threshold(benign_scores: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold (3 decimals) that flags at most ``max_fpr`` of ``benign_scores`` (ties aside)."""
    if not len(benign_scores):
        return 0.0
    t = float(np.ceil(np.quantile(benign_scores, 1 - max_fpr) * 1000) / 1000)
    return round(min(t, 0.99), 3)


def borkan(y: np.ndarray, s: np.ndarray, groups: Sequence[set[str]], identities: Sequence[str]) -> dict:
    """Borkan et al. (2019) subgroup AUC, BPSN and BNSP AUC per identity, plus the FPR context is left to callers.

    ``groups[i]`` is the set of identities mentioned by example ``i``.
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(s)
    out: dict[str, dict[str, float]] = {}
    for ident in identities:
        g = np.array([ident in gs for gs in groups])
        if g.sum() == 0:
            continue
        sub = roc_auc(y[g], s[g])
        bpsn_mask = (g & ~y) | (~g & y)
        bnsp_mask = (g & y) | (~g & ~y)
        out[ident] = {
            "n": int(g.sum()),
            "subgroup_auc": sub,
            "bpsn_auc": roc_auc(y[bpsn_mask], s[bpsn_mask]),
            "bnsp_auc": roc_auc(y[bnsp_mask], s[bnsp_mask]),
        }
    return out


def generalized_mean(values: Sequence[float], p: float = -5.0) -> float:
    """The power mean used by the Jigsaw bias benchmark to summarise per-identity AUCs (p = -5)."""
    v = np.clip(np.array([x for x in values if not np.isnan(x)], dtype=float), 1e-6, None)
    if len(v) == 0:
        return float("nan")
    return float(np.power(np.mean(np.power(v, p)), 1.0 / p))
