"""Small classifier heads on the shared embeddings: a numpy MLP with sigmoid outputs, loaded from npz + JSON.

A head directory holds ``head.npz`` (``W0, b0, W1, b1, ...``; optionally ``U``, an orthonormal basis of
directions removed from the embedding before the MLP, and ``LW``/``Lb``, the lexical channel's
weights) and ``meta.json`` (labels, recommended thresholds,
the encoder settings it was trained with, metrics and data provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from guards.models import lexical

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
HEAD_FILE = "head.npz"
META_FILE = "meta.json"


@dataclass(frozen=True)
class Head:
    """A trained head: ``predict`` maps ``(n, dim)`` embeddings to ``(n, len(labels))`` probabilities."""

    name: str
    labels: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    meta: dict[str, Any]
    removed: np.ndarray | None = None
    lexical: tuple[np.ndarray, np.ndarray] | None = None
    mix: float = 1.0

    @property
    def thresholds(self) -> dict[str, float]:
        """The recommended threshold per label (chosen on a validation split; the policy applies them)."""
        return {k: float(v) for k, v in self.meta.get("thresholds", {}).items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Sigmoid probabilities per label for each row of ``x``."""
        h = np.asarray(x, dtype=np.float32)
        if self.removed is not None:
            h = h - (h @ self.removed) @ self.removed.T
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-np.clip(h, -30.0, 30.0)))

    def score_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """``(n_texts, n_labels)`` scores from each text's window embeddings: the max over its windows."""
        if not windows:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        probs = self.predict(np.concatenate(windows))
        bounds = np.cumsum([0, *(len(e) for e in windows)])
        return np.stack([probs[bounds[i] : bounds[i + 1]].max(axis=0) for i in range(len(windows))])

    def score(self, texts: list[str], windows: list[np.ndarray]) -> np.ndarray:
        """Final ``(n_texts, n_labels)`` scores: the window MLP, mixed in logit space with the lexical channel."""
        p = self.score_windows(windows)
        if self.lexical is None or not texts:
            return p
        q = np.clip(p, 1e-7, 1 - 1e-7)
        z = self.mix * np.log(q / (1 - q)) + (1 - self.mix) * lexical.logits(texts, *self.lexical)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))

    def save(self, directory: Path) -> None:
        """Write ``head.npz`` and ``meta.json`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"W{i}": w for i, (w, _) in enumerate(self.layers)}
        arrays |= {f"b{i}": b for i, (_, b) in enumerate(self.layers)}
        if self.removed is not None:
            arrays["U"] = self.removed
        if self.lexical is not None:
            arrays["LW"], arrays["Lb"] = self.lexical
        np.savez_compressed(
            directory / HEAD_FILE, allow_pickle=False, **{k: v.astype(np.float32) for k, v in arrays.items()}
        )
        meta = dict(self.meta, name=self.name, labels=list(self.labels), mix=self.mix)
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_head(directory: str | Path) -> Head:
    """Load a head from its directory (``head.npz`` + ``meta.json``)."""
    return _load(str(Path(directory).resolve()))


def read_meta(directory: str | Path) -> dict[str, Any]:
    """A head's ``meta.json`` alone (its labels, thresholds and encoder setting), without its weights."""
    meta: dict[str, Any] = json.loads((Path(directory) / META_FILE).read_text())
    return meta


@cache
def _load(directory: str) -> Head:
    path = Path(directory)
    meta = read_meta(path)
    with np.load(path / HEAD_FILE, allow_pickle=False) as z:
        n = sum(1 for k in z.files if k.startswith("W"))
        layers = tuple((z[f"W{i}"], z[f"b{i}"]) for i in range(n))
        removed = z["U"] if "U" in z.files else None
        lex = (z["LW"], z["Lb"]) if "LW" in z.files else None
    return Head(
        name=meta["name"],
        labels=tuple(meta["labels"]),
        layers=layers,
        meta=meta,
        removed=removed,
        lexical=lex,
        mix=float(meta.get("mix", 1.0)),
    )


def shipped_head_dir(name: str) -> Path:
    """Where the weights of the shipped head ``name`` live."""
    return WEIGHTS_DIR / name
