"""An identity-blind lexical channel: hashed word and character n-grams with identity terms masked.

Frozen sentence embeddings blur the exact words that make text abusive (slurs, obfuscated profanity);
a hashed bag of n-grams keeps them. Identity terms are replaced by one placeholder token before hashing,
so this channel cannot learn that mentioning a group is toxic. Pure Python + numpy: no vocabulary file.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from guards.models.identities import IDENTITY_RE

_TOKEN = re.compile(r"[a-z0-9*@']+")
IDENTITY_TOKEN = "zzidentityzz"


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens with every identity term replaced by one placeholder token."""
    return _TOKEN.findall(IDENTITY_RE.sub(f" {IDENTITY_TOKEN} ", text.lower()))


def _hashed(grams: Iterable[str], n_features: int) -> set[int]:
    return {zlib.crc32(g.encode()) % n_features for g in grams}


@lru_cache(maxsize=1 << 16)
def _word_features(word: str, n_features: int) -> frozenset[int]:
    """The ids of one word's unigram and, for words longer than four letters, its character 4-grams (cached:
    most words of a text were seen before)."""
    grams = [f"w:{word}"]
    if word != IDENTITY_TOKEN and len(word) > 4:
        padded = f"<{word}>"
        grams += [f"c:{padded[i : i + 4]}" for i in range(len(padded) - 3)]
    return frozenset(_hashed(grams, n_features))


def features(text: str, n_features: int) -> list[int]:
    """Hashed feature ids: word unigrams and bigrams, and character 4-grams inside words."""
    words = tokens(text)
    ids = _hashed((f"b:{a} {b}" for a, b in itertools.pairwise(words)), n_features)
    for w in words:
        ids |= _word_features(w, n_features)
    return sorted(ids)


def design_matrix(texts: Iterable[str], n_features: int) -> Any:
    """A scipy CSR matrix of L2-normalised binary hashed features (training only)."""
    from scipy.sparse import csr_matrix

    indptr, indices, data = [0], [], []
    for t in texts:
        f = features(t, n_features)
        indices += f
        data += [1.0 / np.sqrt(max(len(f), 1))] * len(f)
        indptr.append(len(indices))
    return csr_matrix((np.array(data, dtype=np.float32), indices, indptr), shape=(len(indptr) - 1, n_features))


def logits(texts: Iterable[str], weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``(n_texts, n_labels)`` logits of the linear lexical model."""
    rows = []
    for t in texts:
        f = features(t, weights.shape[0])
        rows.append(bias + weights[f].sum(axis=0) / np.sqrt(max(len(f), 1)))
    return np.array(rows, dtype=np.float32).reshape(-1, len(bias))
