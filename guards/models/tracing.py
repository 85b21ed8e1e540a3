"""A TorchScript-traced, frozen forward pass of the encoder: the same kernels, without the Python module overhead.

A transformers model spends about as long in Python (module calls, keyword handling, mask building) as in
its int8 matrix products for one short text. Tracing it once at load time records the operators; freezing
inlines the weights. The traced forward is checked against the eager one on a batch of another shape, and
any mismatch or tracing error falls back to the eager model, so an encoder that does not trace still works.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

Forward = Callable[[Any, Any], Any]
"""``(input_ids, attention_mask) -> last_hidden_state``, all ``torch.Tensor``."""

_TRACE_TEXTS = ("short example", "a somewhat longer example sentence to trace the encoder with")
_CHECK_TEXTS = ("another text", "to check", "that the trace generalises to another batch size and length")
_TOLERANCE = 1e-5


@contextmanager
def _transformers_quiet() -> Iterator[None]:
    """Hold back transformers' warnings below ERROR: tracing reads every attribute of the model, and reading
    ``loss_function`` of an encoder warns about a training loss that inference never uses."""
    library = logging.getLogger("transformers")
    level = library.level
    library.setLevel(logging.ERROR)
    try:
        yield
    finally:
        library.setLevel(level)


def eager_forward(model: Any) -> Forward:
    """The model's own forward, returning only the last hidden state."""

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        return model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return forward


def traced_forward(model: Any, tokenizer: Any) -> Forward:
    """A traced and frozen forward of ``model``, or its eager forward if tracing fails or changes the outputs."""
    import torch

    eager = eager_forward(model)

    class _LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return eager(input_ids, attention_mask)

    def batch(texts: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = tokenizer(list(texts), padding=True, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    try:
        with warnings.catch_warnings(), _transformers_quiet(), torch.inference_mode():
            warnings.simplefilter("ignore")  # TracerWarnings and torch.jit's deprecation
            traced = torch.jit.freeze(torch.jit.trace(_LastHidden().eval(), batch(_TRACE_TEXTS), check_trace=False))
            ids, mask = batch(_CHECK_TEXTS)
            same = torch.allclose(traced(ids, mask), eager(ids, mask), atol=_TOLERANCE)
    except Exception as exc:  # any tracing failure means: use the eager model
        logger.warning("encoder does not trace (%s); using the eager model", exc)
        return eager
    if not same:
        logger.warning("traced encoder differs from the eager model; using the eager model")
        return eager
    return traced
