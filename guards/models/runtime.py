"""A head bound to its encoder: texts in, per-label scores out, through the process-wide embedding cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guards.models.cache import shared_cache
from guards.models.encoder import DEFAULT_OVERLAP, DEFAULT_WINDOW, EncoderConfig, default_encoder_path, set_threads
from guards.models.heads import Head, load_head, shipped_head_dir

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassifierModel:
    """One head on the shared encoder; scanners of the same encoder setting share its cached embeddings."""

    encoder: EncoderConfig
    head: Head

    @property
    def labels(self) -> tuple[str, ...]:
        """The head's labels, in the order of the score columns."""
        return self.head.labels

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(head.labels))`` probabilities; long texts score the max over their windows."""
        texts = list(texts)
        return self.head.score(texts, shared_cache(self.encoder).get(texts))

    def windows(self, text: str) -> int:
        """How many encoder windows ``text`` spans (cached, so free after scoring)."""
        return len(shared_cache(self.encoder).get([text])[0])

    def warmup(self) -> None:
        """Load the encoder and run one pass."""
        shared_cache(self.encoder).encoder.warmup()


def load_model(head: str, params: Mapping[str, Any] | None = None) -> ClassifierModel:
    """Build the model of head ``head`` from scanner params.

    Params (all optional): ``encoder`` (local path or hub id; default the shipped MiniLM), ``weights``
    (head directory; default the shipped one), ``quantize`` (int8 encoder, default as trained), ``window``,
    ``overlap`` and ``threads`` (windows encoded in parallel; default ``$OMBUD_TORCH_THREADS`` or 1).
    """
    p = dict(params or {})
    loaded = load_head(Path(p.get("weights") or shipped_head_dir(head)))
    config = encoder_config(p, loaded.meta.get("encoder", {}))
    return ClassifierModel(encoder=config, head=loaded)


def encoder_config(params: Mapping[str, Any], trained: Mapping[str, Any] | None = None) -> EncoderConfig:
    """The encoder setting of scanner params (``encoder``, ``quantize``, ``window``, ``overlap``), defaulting to the
    setting a head was ``trained`` with, else the shipped MiniLM's; applies ``threads`` (see ``set_threads``)."""
    t = trained or {}
    set_threads(int(params["threads"]) if "threads" in params else None)
    return EncoderConfig(
        name=str(params.get("encoder") or default_encoder_path()),
        quantize=bool(params.get("quantize", t.get("quantize", True))),
        window=int(params.get("window", t.get("window", DEFAULT_WINDOW))),
        overlap=int(params.get("overlap", t.get("overlap", DEFAULT_OVERLAP))),
    )
