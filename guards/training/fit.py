"""Fitting one head: a small MLP on frozen window embeddings, class-balanced, early-stopped on validation AUC."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from guards.models.heads import Head
from guards.training.metrics import mean_roc_auc

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FitConfig:
    """Hyper-parameters of a head."""

    hidden: int = 256
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 40
    batch_size: int = 256
    patience: int = 6
    max_pos_weight: float = 10.0


@dataclass(frozen=True, slots=True)
class Matrix:
    """Training rows (one per window): embeddings, targets and sample weights."""

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray


def rows(windows: list[np.ndarray], y: np.ndarray, w: np.ndarray) -> Matrix:
    """One row per window; a text's weight is shared by its windows."""
    counts = np.array([len(e) for e in windows])
    return Matrix(
        x=np.concatenate(windows).astype(np.float32),
        y=np.repeat(y, counts, axis=0).astype(np.float32),
        w=np.repeat(w / counts, counts).astype(np.float32),
    )


def fit_head(
    name: str,
    labels: tuple[str, ...],
    train: Matrix,
    val_windows: list[np.ndarray],
    val_y: np.ndarray,
    *,
    seed: int,
    config: FitConfig = FitConfig(),
    removed: np.ndarray | None = None,
) -> Head:
    """Train an MLP head and return the epoch with the best mean validation ROC AUC."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = train.x
    if removed is not None:
        x = x - (x @ removed) @ removed.T
    model = classifier(x.shape[1], train.y.shape[1], config)
    loss_fn = balanced_loss(train.y, train.w, config.max_pos_weight)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(train.y)
    wt = torch.from_numpy(train.w / train.w.mean())
    best: tuple[float, Head | None] = (-1.0, None)
    stale = 0
    for epoch in range(config.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        for b in range(0, len(order), config.batch_size):
            idx = order[b : b + config.batch_size]
            loss = loss_fn(model(xt[idx]), yt[idx], wt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head = _export(name, labels, model, removed)
        scores = head.score_windows(val_windows)
        auc = mean_roc_auc(val_y, scores)
        logger.info("%s epoch %d val AUC %.4f", name, epoch, auc)
        if auc > best[0] + 1e-4:
            best, stale = (auc, head), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    assert best[1] is not None
    return best[1]


def classifier(dim: int, labels: int, config: FitConfig) -> Any:
    """A head's MLP (torch): dropout → Linear(dim → hidden) → ReLU → dropout → Linear(→ labels), logits out."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Dropout(0.1),
        torch.nn.Linear(dim, config.hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(config.dropout),
        torch.nn.Linear(config.hidden, labels),
    )


def balanced_loss(y: np.ndarray, w: np.ndarray, max_pos_weight: float) -> Callable[[Any, Any, Any], Any]:
    """``loss(logits, y, w)``: the ``w``-weighted mean of per-example binary cross-entropy, each label's positives
    weighted by its (``w``-weighted) negatives over positives in ``y``, between 1 and ``max_pos_weight``."""
    import torch

    pos = (y * w[:, None]).sum(0)
    neg = ((1 - y) * w[:, None]).sum(0)
    pos_weight = torch.tensor(np.clip(neg / np.maximum(pos, 1e-6), 1.0, max_pos_weight), dtype=torch.float32)
    bce = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
    return lambda logits, targets, weights: (bce(logits, targets).mean(1) * weights).mean()


def _export(name: str, labels: tuple[str, ...], model: object, removed: np.ndarray | None) -> Head:
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]  # type: ignore[attr-defined]
    layers = tuple((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears)
    return Head(name=name, labels=labels, layers=layers, meta={}, removed=removed)
