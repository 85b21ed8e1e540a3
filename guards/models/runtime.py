"""A head bound to its encoder: texts in, per-label scores out, through the process-wide embedding cache."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from guards.models.cache import shared_cache
from guards.models.encoder import (
    DEFAULT_OVERLAP,
    DEFAULT_WINDOW,
    TUNED_FILE,
    EncoderConfig,
    default_encoder_path,
    set_threads,
    thread_count,
    window_problem,
)
from guards.models.heads import WEIGHTS_DIR, Head, load_head, shipped_head_dir

logger = logging.getLogger(__name__)

SHIPPED_TUNED = WEIGHTS_DIR / "encoder" / TUNED_FILE
"""The shipped heads' fine-tuned encoder layers (written by ``python -m guards.training``)."""


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
    (head directory; default the shipped one), ``tuned_layers`` (fine-tuned layers over the encoder: a file, or
    ``false`` for none; default those the head was trained with), ``quantize`` (int8 encoder, default as
    trained), ``window``, ``overlap`` and ``threads`` (windows encoded in parallel; default
    ``$OMBUD_TORCH_THREADS`` or 1).
    """
    p = dict(params or {})
    directory = head_dir(head, p)
    loaded = load_head(directory)
    config = encoder_config(p, trained_setting(directory, loaded.meta))
    return ClassifierModel(encoder=config, head=loaded)


def trained_setting(directory: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The encoder setting in a head's ``meta``, its ``tuned`` layers made a path (stored relative to the folder that
    holds the head's ``directory``)."""
    setting = dict(meta.get("encoder", {}))
    if setting.get("tuned"):
        setting["tuned"] = str(directory.parent / str(setting["tuned"]))
    return setting


def head_dir(head: str, params: Mapping[str, Any]) -> Path:
    """The directory of head ``head``'s weights: ``params.weights``, else the shipped one."""
    return Path(str(params.get("weights") or shipped_head_dir(head))).expanduser()


def encoder_config(params: Mapping[str, Any], trained: Mapping[str, Any] | None = None) -> EncoderConfig:
    """The encoder setting of scanner params (``encoder``, ``tuned_layers``, ``quantize``, ``window``, ``overlap``),
    defaulting to the setting a head was ``trained`` with (see ``trained_setting``), else the shipped MiniLM's;
    applies ``threads`` (see ``set_threads``)."""
    t = trained or {}
    set_threads(int(params["threads"]) if "threads" in params else None)
    window, overlap = _windowing(params, t)
    return EncoderConfig(
        name=str(params.get("encoder") or default_encoder_path()),
        tuned=tuned_layers(params, trained),
        quantize=bool(params.get("quantize", t.get("quantize", True))),
        window=window,
        overlap=overlap,
    )


def tuned_layers(params: Mapping[str, Any], trained: Mapping[str, Any] | None) -> str | None:
    """The file of fine-tuned layers applied over the encoder: ``params.tuned_layers`` (``false``: none), else the
    one a head was ``trained`` with, else, for a scanner that is not a head (``trained`` None) on the default
    encoder, the shipped one: it then shares the heads' encoder pass."""
    if "tuned_layers" in params:
        value = params["tuned_layers"]
        return None if value is False else str(Path(str(value)).expanduser())
    if trained is not None:
        return str(trained["tuned"]) if trained.get("tuned") else None
    return str(SHIPPED_TUNED) if not params.get("encoder") and SHIPPED_TUNED.is_file() else None


def check_encoder_params(params: Mapping[str, Any], trained: Mapping[str, Any] | None = None) -> None:
    """Raise ``ValueError`` naming the param (``params.threads``, ``params.window``, ``params.overlap``,
    ``params.tuned_layers``) when ``encoder_config`` would refuse them; loads nothing, so a policy is checked
    before any scan."""
    if params.get("tuned_layers") is True:
        raise ValueError("params.tuned_layers must be a file of tuned layers or false, not true")
    tuned = tuned_layers(params, trained)
    if tuned is not None and not Path(tuned).is_file():
        where = "params.tuned_layers" if "tuned_layers" in params else "the head's tuned encoder layers"
        raise ValueError(f"{where}: no file {tuned}")
    try:
        thread_count(int(params["threads"]) if "threads" in params else None)
    except ValueError as exc:
        raise ValueError(f"params.{exc}" if "threads" in params else str(exc)) from None
    problem = window_problem(*_windowing(params, trained or {}))
    if problem:
        raise ValueError(f"params.{problem}")


def _windowing(params: Mapping[str, Any], trained: Mapping[str, Any]) -> tuple[int, int]:
    """``(window, overlap)`` from the params, else as ``trained``, else the shipped MiniLM's."""
    window = int(params.get("window", trained.get("window", DEFAULT_WINDOW)))
    return window, int(params.get("overlap", trained.get("overlap", DEFAULT_OVERLAP)))
