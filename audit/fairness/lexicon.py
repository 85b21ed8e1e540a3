"""The identity lexicon: which identity groups a text mentions (whole-word, case-insensitive, on redacted text)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LEXICON = Path(__file__).with_name("identity_terms.yaml")
"""The project-maintained lexicon shipped with ombud."""


@dataclass(frozen=True, slots=True)
class IdentityGroup:
    """One identity group of one category, e.g. ``religion/muslim``."""

    category: str
    group: str

    def __str__(self) -> str:
        return f"{self.category}/{self.group}"


_NOTHING: frozenset[IdentityGroup] = frozenset()
_WORDS = re.compile(r"<[A-Za-z_]+>|\w+(?:[-'’]\w+)*")
"""Words of a text; a redaction placeholder (``<PERSON>``) is a token of its own that no term can span."""
_ASCII_WORD_BYTES = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789_'-<>" else 32 for c in range(256))
"""Bytes that may belong to a word of lower-case ASCII text; every other byte becomes a space."""
_LOOSE_JOINER = re.compile(r"['-](?<![a-z0-9_]['-])|['-](?![a-z0-9_])")
"""A hyphen or apostrophe that does not join two word characters (it ends or separates words instead)."""
_LOOSE_ANGLE = re.compile(r"<(?:(?<=[a-z0-9_'<>-]<)|(?![a-z_]+>(?![a-z0-9_'<>-])))")
"""A ``<`` that does not open a redaction placeholder standing apart from any word."""
Index = tuple[dict[Any, tuple[int, ...]], dict[tuple[Any, ...], frozenset[IdentityGroup]], frozenset[Any]]
"""Phrase lengths by first word; each phrase's group as a one-element set; the first words of longer phrases.
Words are str (any text) or bytes (ASCII text)."""


def _ascii_words(lower: str) -> list[bytes] | None:
    """The ``_WORDS`` of lower-case ASCII text, split at the byte level (several times faster than the regex), or
    None where that could differ: non-ASCII text, a hyphen or apostrophe that joins no words, a ``<`` or ``>``
    outside a placeholder that stands apart."""
    if not lower.isascii():
        return None
    if ("'" in lower or "-" in lower) and _LOOSE_JOINER.search(lower):
        return None
    if ("<" in lower or ">" in lower) and (_LOOSE_ANGLE.search(lower) or lower.count("<") != lower.count(">")):
        return None  # (with every "<" opening a placeholder, equal counts put every ">" in one)
    return lower.encode().translate(_ASCII_WORD_BYTES).split()


def _index(phrases: Mapping[tuple[Any, ...], IdentityGroup]) -> Index:
    lengths: dict[Any, set[int]] = {}
    for phrase in phrases:
        lengths.setdefault(phrase[0], set()).add(len(phrase))
    ordered = {w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()}
    longer = frozenset(w for w, n in ordered.items() if n != (1,))
    return ordered, {phrase: frozenset([group]) for phrase, group in phrases.items()}, longer


def _match(words: Sequence[Any], index: Index) -> frozenset[IdentityGroup]:
    """The groups whose phrases occur in ``words`` (longest first: "trans women" is one phrase, not two)."""
    lengths, phrases, longer = index
    starts = lengths.keys() & words
    if not starts:  # most texts: no word can start a phrase
        return _NOTHING
    if longer.isdisjoint(starts):  # one-word phrases only: no overlaps to resolve
        return phrases[(starts.pop(),)] if len(starts) == 1 else _NOTHING.union(*[phrases[(w,)] for w in starts])
    found, free = _NOTHING, 0
    for i, word in enumerate(words):
        if i < free or word not in lengths:
            continue
        for n in lengths[word]:
            group = phrases.get(tuple(words[i : i + n]))
            if group is not None:
                found, free = found | group, i + n  # set union reuses stored hashes
                break
    return found


@dataclass(frozen=True)
class IdentityLexicon:
    """Identity terms by category and group; ``find(text)`` names the groups a text mentions."""

    terms: Mapping[str, IdentityGroup]
    version: str = "1"
    _text: Index = field(init=False, repr=False, compare=False)
    _ascii: Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phrases = {tuple(term.split()): group for term, group in self.terms.items()}
        object.__setattr__(self, "_text", _index(phrases))
        object.__setattr__(self, "_ascii", _index({tuple(w.encode() for w in p): g for p, g in phrases.items()}))

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories of the lexicon, in file order."""
        return tuple(dict.fromkeys(g.category for g in self.terms.values()))

    def groups(self, category: str) -> tuple[str, ...]:
        """The groups of ``category``, in file order."""
        return tuple(dict.fromkeys(g.group for g in self.terms.values() if g.category == category))

    def find(self, text: str) -> frozenset[IdentityGroup]:
        """The identity groups that ``text`` mentions (whole words, longest term first: "trans women" is one)."""
        lower = text.lower()
        words = _ascii_words(lower)
        if words is None:
            return _match(_WORDS.findall(lower), self._text)
        return _match(words, self._ascii)


def parse_lexicon(document: Mapping[str, object]) -> IdentityLexicon:
    """Build a lexicon from its YAML structure (``categories: {category: {group: [terms]}}``)."""
    terms: dict[str, IdentityGroup] = {}
    categories = document.get("categories")
    if not isinstance(categories, Mapping):
        raise ValueError("an identity lexicon needs a 'categories' mapping")
    for category, groups in categories.items():
        for group, words in groups.items():
            for word in words:
                key = " ".join(str(word).lower().split())
                if key in terms and terms[key] != IdentityGroup(category, group):
                    raise ValueError(f"identity term {key!r} is in both {terms[key]} and {category}/{group}")
                terms[key] = IdentityGroup(str(category), str(group))
    return IdentityLexicon(terms, version=str(document.get("version", "1")))


@cache
def load_lexicon(path: Path | str | None = None) -> IdentityLexicon:
    """The lexicon at ``path`` (default: the shipped ``identity_terms.yaml``), parsed once per process."""
    with open(path or DEFAULT_LEXICON, encoding="utf-8") as fh:
        return parse_lexicon(yaml.safe_load(fh))
