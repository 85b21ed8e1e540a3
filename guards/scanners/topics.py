"""Topic scanner: how close a text comes to subjects the policy describes by example phrases (off-limits topics,
harmful requests, competitors), by cosine similarity on the shared encoder's embeddings.

The text's embeddings come from the same process-wide cache as the classifier scanners', so next to them a topic
check costs no encoder pass; the examples are encoded once, when the scanner loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from guards.errors import PolicyError
from guards.models.cache import shared_cache
from guards.models.encoder import EncoderConfig
from guards.models.runtime import encoder_config
from guards.scanners.base import ParamTypes
from guards.scanners.classifiers import ENCODER_PARAMS, ModelScanner, sentences

MAX_EXAMPLES = 1000
"""Example phrases per scanner at most (each is one embedding kept in memory and compared with every text)."""


@dataclass(frozen=True)
class TopicModel:
    """The encoder setting and the embeddings of every topic's examples (rows of ``examples``, L2-normalised)."""

    encoder: EncoderConfig
    labels: tuple[str, ...]
    examples: np.ndarray
    owners: np.ndarray
    """For each row of ``examples``, the index of its topic in ``labels``."""

    sentences: bool = True
    """Whether a text longer than one window is also scored sentence by sentence."""

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), len(labels))``: per topic, the highest cosine similarity between any window of the text
        (or, in a text longer than one window, any of its sentences) and any of the topic's examples, in [0, 1]."""
        cache = shared_cache(self.encoder)
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for i, (text, windows) in enumerate(zip(texts, cache.get(list(texts)), strict=True)):
            if self.sentences and len(windows) > 1:  # a brief request inside a long window is averaged away
                windows = np.concatenate([windows, *cache.encoder.embed_windows(sentences(text))])
            np.maximum.at(out[i], self.owners, (windows @ self.examples.T).max(axis=0))
        return np.clip(out, 0.0, 1.0)


def topic_examples(scanner_id: str, params: Mapping[str, Any]) -> dict[str, list[str]]:
    """``params.topics`` checked: a mapping of topic label to a non-empty list of non-empty example phrases."""
    where = f"scanner {scanner_id!r}: params.topics"
    topics = params.get("topics")
    if not isinstance(topics, Mapping) or not topics:
        raise PolicyError(f"scanner {scanner_id!r} needs params.topics: a mapping of topic name to example phrases")
    out: dict[str, list[str]] = {}
    for label, examples in topics.items():
        if not isinstance(label, str) or not label.strip():
            raise PolicyError(f"{where}: topic names must be non-empty strings, not {label!r}")
        if isinstance(examples, str) or not isinstance(examples, Sequence) or not examples:
            raise PolicyError(f"{where}.{label}: expected a non-empty list of example phrases")
        if not all(isinstance(e, str) and e.strip() for e in examples):
            raise PolicyError(f"{where}.{label}: every example must be a non-empty string")
        out[label] = list(examples)
    total = sum(len(e) for e in out.values())
    if total > MAX_EXAMPLES:
        raise PolicyError(f"{where}: {total} example phrases; at most {MAX_EXAMPLES} are allowed")
    return out


class TopicScanner(ModelScanner[TopicModel]):
    """Scores whole texts against the topics in ``params.topics``; one finding per topic, labelled with its name.

    Params: ``topics`` (required: ``{name: [example, ...]}``), ``sentences`` (default true: a text longer than one
    encoder window is also scored sentence by sentence, so a short request inside a long text is not averaged away;
    costs an encoder pass per sentence of such texts), and like the classifier scanners ``encoder``, ``quantize``,
    ``window``, ``overlap`` and ``threads``. Set thresholds in the policy as for any scanner; the
    score is a cosine similarity, so paraphrases of an example typically score 0.6 or more (see docs/guard.md).
    """

    type_name = "topics"
    params_types: ClassVar[ParamTypes] = {**ENCODER_PARAMS, "topics": dict}

    def validate(self) -> None:
        """Check ``params.topics`` (and a local ``params.encoder``) without loading the encoder."""
        super().validate()
        topic_examples(self.id, self.params)

    def _load(self) -> TopicModel:
        topics = topic_examples(self.id, self.params)
        config = encoder_config(self.params)
        phrases = [e for examples in topics.values() for e in examples]
        owners = np.repeat(np.arange(len(topics)), [len(e) for e in topics.values()])
        windows = shared_cache(config).encoder.embed_windows(phrases)
        rows = np.concatenate(windows)
        row_owners = np.repeat(owners, [len(w) for w in windows])
        return TopicModel(config, tuple(topics), rows, row_owners, self.params.get("sentences", True))

    def known_labels(self) -> frozenset[str]:
        """The topic names (the labels a policy's ``labels:`` may override)."""
        return frozenset(topic_examples(self.id, self.params))

    def warmup(self) -> None:
        """Load the encoder and encode the examples now."""
        _ = self.model
