"""Evaluate the shipped classifier heads on labelled data (the ../shared/data formats), as JSON-ready metrics.

Understood formats (CSV or JSONL, detected from the columns):
- ``text`` + ``label`` (0/1 or a class name such as ``neither``/``normal``/``hate_speech``; a ``toxic`` column wins),
  optionally ``hate`` and ``identity_terms`` (then per-identity FPR and Borkan AUCs are added); a class name not
  known as negative counts as positive, and ``label_names_read_as`` in the result shows how each name was read;
- CrowS-Pairs pairs ``sent_more`` / ``sent_less`` / ``stereo_antistereo`` (pairwise share + stereotype-vs-other AUC);
- identity-fuzzed pairs ``text`` / ``text_fuzzed`` / ``label`` (AUC on both copies and the mean score change);
- BBQ (``context``, ``question``, ``answer_info``: statements built from negative questions, contexts as neutral);
- StereoSet (``stereotype`` / ``anti-stereotype`` / ``unrelated``).
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from guards.models.runtime import ClassifierModel, load_model
from guards.training.metrics import at_threshold, borkan, generalized_mean, roc_auc

logger = logging.getLogger(__name__)

TASKS = ("toxicity", "bias", "injection")
MAIN_LABEL = {"toxicity": "toxic", "bias": "stereotype", "injection": "injection"}
NEGATIVE_NAMES = frozenset(
    {"0", "neither", "normal", "nontoxic", "non-toxic", "benign", "safe", "neutral", "false", "no"}
)
HATE_NAMES = frozenset({"hate_speech", "hatespeech", "hate"})
ERR_TASK = "unknown task {task!r}: expected one of toxicity, bias, injection"
ERR_EMPTY = "no CSV or JSONL rows found in {path}"
ERR_COLUMNS = (
    "{path}: row {row} has no {missing} (expected text and label columns, or a CrowS-Pairs, StereoSet or BBQ layout)"
)
CHUNK = 256


def _records(path: Path) -> Iterator[dict[str, Any]]:
    files = sorted(p for p in path.rglob("*") if p.suffix in (".csv", ".jsonl")) if path.is_dir() else [path]
    for f in files:
        if f.suffix == ".jsonl":
            with f.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        yield _json_record(line, f, number)
        else:
            csv.field_size_limit(sys.maxsize)
            with f.open(newline="", encoding="utf-8") as fh:
                yield from csv.DictReader(fh)


def _json_record(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{number}: invalid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object per line")
    return record


def _label(value: Any) -> float:
    text = str(value).strip().lower()
    try:
        return float(float(text) > 0.5)
    except ValueError:
        return 0.0 if text in NEGATIVE_NAMES else 1.0


def _label_names(values: Sequence[Any]) -> dict[str, list[str]]:
    """How the non-numeric label values were read (any name not known as negative counts as positive)."""
    names: dict[str, list[str]] = {"negative": [], "positive": []}
    for text in sorted({str(v).strip().lower() for v in values}):
        try:
            float(text)
        except ValueError:
            names["positive" if _label(text) else "negative"].append(text)
    return names


def _scores(model: ClassifierModel, texts: Sequence[str]) -> np.ndarray:
    parts = [model.scores(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, len(model.head.labels)))


def _binary(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(y), "positives": int(y.sum()), "roc_auc": roc_auc(y, s)}
    out |= at_threshold(y, s, threshold)
    if y.sum() == 0:
        out["note"] = "benign only: fpr is the share flagged"
    elif y.sum() == len(y):
        out["note"] = "positives only: recall is the share flagged"
    return out


def evaluate(
    task: str, data: Path, *, threshold: float | None = None, limit: int | None = None, baseline: bool = True
) -> dict[str, Any]:
    """Metrics of head ``task`` on ``data`` (a file, or a folder searched for CSV/JSONL files; only its first
    ``limit`` records when given).

    ``threshold`` defaults to the head's shipped recommended threshold for its main label. For toxicity,
    ``baseline`` adds alt-profanity-check's metrics on the same rows.
    """
    if task not in TASKS:
        raise ValueError(ERR_TASK.format(task=task))
    rows = list(itertools.islice(_records(Path(data)), limit))
    if not rows:
        raise ValueError(ERR_EMPTY.format(path=data))
    model = load_model(task)
    label = MAIN_LABEL[task]
    t = float(threshold if threshold is not None else model.head.thresholds[label])
    j = model.head.labels.index(label)
    result: dict[str, Any] = {"task": task, "data": str(data), "label": label, "threshold": t}
    cols = set(rows[0])
    if {"sent_more", "sent_less"} <= cols:
        result |= _crows(model, rows, j, t)
    elif {"stereotype", "anti-stereotype", "unrelated"} <= cols:
        result |= _stereoset(model, rows, j, t)
    elif {"context", "question", "answer_info"} <= cols:
        result |= _bbq(model, rows, j, t)
    else:
        result |= _labelled(task, model, rows, j, t, baseline=baseline, data=Path(data))
    return _json_ready(result)


def _labelled(
    task: str, model: ClassifierModel, rows: list[dict[str, Any]], j: int, t: float, *, baseline: bool, data: Path
) -> dict[str, Any]:
    key = "toxic" if task == "toxicity" and "toxic" in rows[0] else "label"
    for number, r in enumerate(rows, 1):
        missing = [c for c in ("text", key) if c not in r]
        if missing:
            raise ValueError(ERR_COLUMNS.format(path=data, row=number, missing=" or ".join(missing)))
    texts = [str(r["text"]) for r in rows]
    y = np.array([_label(r[key]) for r in rows])
    scores = _scores(model, texts)
    out: dict[str, Any] = _binary(y, scores[:, j], t)
    names = _label_names([r[key] for r in rows])
    if names["negative"] or names["positive"]:
        out["label_names_read_as"] = names
    if task == "toxicity":
        if "hate" in rows[0] or any(str(r.get("label", "")).lower() in HATE_NAMES for r in rows):
            hate = np.array(
                [_label(r["hate"]) if "hate" in r else float(str(r["label"]).lower() in HATE_NAMES) for r in rows]
            )
            k = model.head.labels.index("hate")
            out["hate"] = _binary(hate, scores[:, k], model.head.thresholds["hate"])
        if "identity_terms" in rows[0]:
            out["identity"] = _identity(y, scores[:, j], [str(r["identity_terms"]) for r in rows], t)
        if baseline:
            out["baseline"] = {"alt_profanity_check": _profanity_baseline(texts, y)}
    if "text_fuzzed" in rows[0]:
        fuzzed = _scores(model, [str(r["text_fuzzed"]) for r in rows])[:, j]
        out["fuzzed"] = {
            "roc_auc": roc_auc(y, fuzzed),
            "mean_abs_score_change": float(np.mean(np.abs(fuzzed - scores[:, j]))),
        }
    return out


def _profanity_baseline(texts: list[str], y: np.ndarray) -> dict[str, Any] | str:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return "not installed (pip install alt-profanity-check)"
    return _binary(y, np.asarray(predict_prob(texts), dtype=float), 0.5)


def _identity(y: np.ndarray, s: np.ndarray, terms: list[str], t: float) -> dict[str, Any]:
    groups = [set(filter(None, x.split(";"))) for x in terms]
    names = sorted({i for g in groups for i in g})
    fpr = {}
    for ident in names:
        m = np.array([ident in g for g in groups]) & (y == 0)
        if m.any():
            fpr[ident] = float(np.mean(s[m] >= t))
    per = borkan(y, s, groups, names)
    return {
        "identity_fpr": fpr,
        "max_identity_fpr": max(fpr.values(), default=float("nan")),
        "borkan": per,
        "mean_subgroup_auc": generalized_mean([v["subgroup_auc"] for v in per.values()]),
        "mean_bpsn_auc": generalized_mean([v["bpsn_auc"] for v in per.values()]),
        "mean_bnsp_auc": generalized_mean([v["bnsp_auc"] for v in per.values()]),
    }


def _crows(model: ClassifierModel, rows: list[dict[str, Any]], j: int, t: float) -> dict[str, Any]:
    more = _scores(model, [r["sent_more"] for r in rows])[:, j]
    less = _scores(model, [r["sent_less"] for r in rows])[:, j]
    stereo = np.array([r.get("stereo_antistereo", "stereo") == "stereo" for r in rows])
    pos = np.where(stereo, more, less)
    neg = np.where(stereo, less, more)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    return {
        "pairs": len(rows),
        "pairwise_more_over_less": float(np.mean(more > less)),
        "pairwise_stereotype_over_other": float(np.mean(pos > neg)),
        "stereotype_vs_other": _binary(y, np.r_[pos, neg], t),
    }


def _stereoset(model: ClassifierModel, rows: list[dict[str, Any]], j: int, t: float) -> dict[str, Any]:
    def full(r: dict[str, Any], key: str) -> str:
        return r[key] if r.get("type") == "intrasentence" else f"{r['context']} {r[key]}"

    st, an, un = (
        _scores(model, [full(r, k) for r in rows])[:, j] for k in ("stereotype", "anti-stereotype", "unrelated")
    )
    ones, zeros = np.ones(len(st)), np.zeros(len(st))
    return {
        "rows": len(rows),
        "stereotype_vs_unrelated": _binary(np.r_[ones, zeros], np.r_[st, un], t),
        "roc_auc_stereotype_vs_anti_stereotype": roc_auc(np.r_[ones, zeros], np.r_[st, an]),
        "pairwise_stereotype_over_anti": float(np.mean(st > an)),
    }


def _bbq(model: ClassifierModel, rows: list[dict[str, Any]], j: int, t: float) -> dict[str, Any]:
    from guards.training.data import bbq_rows

    examples = bbq_rows(rows)
    s = _scores(model, [e[0] for e in examples])[:, j]
    y = np.array([e[1] for e in examples])
    return {"statements": _binary(y, s, t)}


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else round(float(value), 4)
    if isinstance(value, np.integer):
        return int(value)
    return value
