"""The identity lexicon: which identity groups a text mentions (whole-word, case-insensitive, on redacted text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

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


@dataclass(frozen=True)
class IdentityLexicon:
    """Identity terms by category and group; ``find(text)`` names the groups a text mentions."""

    terms: Mapping[str, IdentityGroup]
    version: str = "1"
    _phrases: dict[tuple[str, ...], IdentityGroup] = field(init=False, repr=False, compare=False)
    _lengths: dict[str, tuple[int, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phrases = {tuple(term.split()): group for term, group in self.terms.items()}
        lengths: dict[str, set[int]] = {}
        for phrase in phrases:
            lengths.setdefault(phrase[0], set()).add(len(phrase))
        object.__setattr__(self, "_phrases", phrases)
        object.__setattr__(self, "_lengths", {w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()})

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories of the lexicon, in file order."""
        return tuple(dict.fromkeys(g.category for g in self.terms.values()))

    def groups(self, category: str) -> tuple[str, ...]:
        """The groups of ``category``, in file order."""
        return tuple(dict.fromkeys(g.group for g in self.terms.values() if g.category == category))

    def find(self, text: str) -> frozenset[IdentityGroup]:
        """The identity groups that ``text`` mentions (whole words, longest term first: "trans women" is one)."""
        words = _WORDS.findall(text.lower())
        lengths = self._lengths
        if lengths.keys().isdisjoint(words):  # most texts: no word can start a term
            return _NOTHING
        phrases, found, free = self._phrases, set(), 0
        for i, word in enumerate(words):
            if i < free or word not in lengths:
                continue
            for n in lengths[word]:  # longest first: "trans women" is one term, not "trans" and "women"
                group = phrases.get(tuple(words[i : i + n]))
                if group is not None:
                    found.add(group)
                    free = i + n
                    break
        return frozenset(found)


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
