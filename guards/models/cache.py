"""Process-wide encoders and a small LRU of embeddings, so scanners on the same text share one encoder pass."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from guards.models.encoder import Encoder, EncoderConfig

DEFAULT_CACHE_SIZE = 256

_encoders: dict[str, Encoder] = {}
_caches: dict[str, EmbeddingCache] = {}
_lock = threading.Lock()


class EmbeddingCache:
    """Window embeddings keyed by text, least recently used evicted first; computes the misses in one batch."""

    def __init__(self, encoder: Encoder, size: int = DEFAULT_CACHE_SIZE) -> None:
        self.encoder = encoder
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, texts: Sequence[str]) -> list[np.ndarray]:
        """The ``(n_windows, dim)`` embeddings of every text, encoding only those not cached."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for t in texts:
                if t in self._items:
                    self._items.move_to_end(t)
                    found[t] = self._items[t]
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        self.hits += len(texts) - len([t for t in texts if t not in found])
        self.misses += len(missing)
        if missing:
            for t, emb in zip(missing, self.encoder.embed_windows(missing), strict=True):
                found[t] = emb
            with self._lock:
                for t in missing[-self.size :]:
                    self._items[t] = found[t]
                    self._items.move_to_end(t)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return [found[t] for t in texts]

    def clear(self) -> None:
        """Forget every cached embedding and reset the counters."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


def shared_cache(config: EncoderConfig) -> EmbeddingCache:
    """The one embedding cache (and encoder) of this process for ``config``."""
    with _lock:
        cache = _caches.get(config.key)
        if cache is None:
            encoder = _encoders.setdefault(config.key, Encoder(config))
            cache = _caches[config.key] = EmbeddingCache(encoder)
        return cache
