"""The toxicity head's lexical channel: hashed n-grams, blind to identity terms."""

from __future__ import annotations

import zlib

import numpy as np

from guards.models import lexical


def _ids(grams: list[str], n: int) -> list[int]:
    return sorted({zlib.crc32(g.encode()) % n for g in grams})


def test_features_are_words_bigrams_and_character_4grams_of_long_words() -> None:
    grams = ["w:hello", "w:big", "w:world", "b:hello big", "b:big world"]
    grams += ["c:<hel", "c:hell", "c:ello", "c:llo>", "c:<wor", "c:worl", "c:orld", "c:rld>"]
    assert lexical.features("Hello, big World!", 1 << 18) == _ids(grams, 1 << 18)


def test_identity_terms_hash_alike() -> None:
    assert lexical.features("I am a proud Muslim woman", 1 << 18) == lexical.features(
        "I am a proud Christian woman", 1 << 18
    )
    assert lexical.tokens("I am a Muslim") == ["i", "am", "a", lexical.IDENTITY_TOKEN]


def test_features_depend_on_the_table_size_not_on_earlier_calls() -> None:
    text = "an unbelievably ridiculous comparison"
    wide = lexical.features(text, 1 << 18)
    narrow = lexical.features(text, 97)
    assert max(narrow) < 97 and narrow != wide
    assert lexical.features(text, 1 << 18) == wide


def test_logits_of_texts_without_words_are_the_bias() -> None:
    weights = np.ones((97, 2), dtype=np.float32)
    bias = np.array([0.5, -1.0], dtype=np.float32)
    out = lexical.logits(["", "?!"], weights, bias)
    assert out.shape == (2, 2) and np.allclose(out, bias)
    assert lexical.logits([], weights, bias).shape == (0, 2)
