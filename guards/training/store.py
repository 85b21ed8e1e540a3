"""An on-disk cache of window embeddings for training (under .cache/, never committed), keyed by text hash."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from guards.models.encoder import Encoder

logger = logging.getLogger(__name__)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class EmbeddingStore:
    """Window embeddings of many texts, computed once per encoder setting and kept in one npz file."""

    def __init__(self, encoder: Encoder, directory: Path | None) -> None:
        self.encoder = encoder
        self.path = None
        if directory is not None:
            tag = hashlib.sha1(encoder.config.key.encode()).hexdigest()[:12]
            self.path = directory / f"embeddings-{tag}.npz"
        self._rows: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.exists():
            with np.load(self.path, allow_pickle=False) as z:
                keys, starts, flat = z["keys"], z["starts"], z["flat"]
            for i, k in enumerate(keys):
                self._rows[str(k)] = flat[starts[i] : starts[i + 1]]

    def get(self, texts: Sequence[str], chunk: int = 2048) -> list[np.ndarray]:
        """``(n_windows, dim)`` embeddings for every text, encoding and saving the ones not stored yet."""
        missing = list(dict.fromkeys(t for t in texts if _key(t) not in self._rows))
        if missing:
            logger.info("encoding %d new texts", len(missing))
            t0 = time.perf_counter()
            for i in range(0, len(missing), chunk):
                part = missing[i : i + chunk]
                for t, e in zip(part, self.encoder.embed_windows(part), strict=True):
                    self._rows[_key(t)] = e
                logger.info("encoded %d/%d (%.0f s)", i + len(part), len(missing), time.perf_counter() - t0)
            self._save()
        return [self._rows[_key(t)] for t in texts]

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._rows)
        sizes = np.array([len(self._rows[k]) for k in keys])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        flat = np.concatenate([self._rows[k] for k in keys]).astype(np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), starts=starts, flat=flat)
        tmp.replace(self.path)
