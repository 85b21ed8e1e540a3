"""Custom entities declared in a policy: regex patterns and deny-lists, boosted by nearby context words.

Patterns run on the ``regex`` engine (a dependency of transformers): ``re``-compatible syntax, and a time limit per
text, so a pattern that backtracks catastrophically fails its scanner after ``PATTERN_TIMEOUT_S`` (the policy's
``on_error`` decides) instead of holding a CPU, and the interpreter lock, for ever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regex

from guards.errors import PolicyError
from guards.types import Finding

CONTEXT_WINDOW = 40
CONTEXT_BOOST = 0.35
PATTERN_TIMEOUT_S = 1.0
"""The longest one pattern may search one text."""


@dataclass(frozen=True, slots=True)
class CustomEntity:
    """One entity type: its patterns (regex, base score), deny-list words, and context words.

    A pattern with a named group ``value`` reports only that group's span (the rest of the match is context, as in
    ``my name is (?P<value>...)``)."""

    label: str
    patterns: tuple[tuple[regex.Pattern[str], float], ...]
    context: tuple[str, ...] = ()

    def find(self, text: str) -> Iterable[Finding]:
        """Every match, with its score raised when a context word is near."""
        lowered = text.lower()
        for pattern, score in self.patterns:
            group = "value" if "value" in pattern.groupindex else 0
            try:
                matches = list(pattern.finditer(text, timeout=PATTERN_TIMEOUT_S))
            except TimeoutError as exc:
                raise TimeoutError(
                    f"custom entity {self.label}: pattern {pattern.pattern!r} ran over {PATTERN_TIMEOUT_S:g} s"
                ) from exc
            for match in matches:
                start, end = match.span(group)
                if start == end:
                    continue
                near = lowered[max(0, start - CONTEXT_WINDOW) : end + CONTEXT_WINDOW]
                words = [w for w in self.context if w in near]
                boosted = min(1.0, score + CONTEXT_BOOST) if words else score
                detail = {"recognizer": f"custom:{self.label}", "context": words}
                yield Finding(self.label, boosted, start, end, detail)


def parse_custom_entities(specs: Sequence[Mapping[str, Any]], where: str) -> tuple[CustomEntity, ...]:
    """Build custom entities from policy params (``label``, ``patterns``, ``deny_list``, ``context``)."""
    entities = []
    for index, spec in enumerate(specs):
        at = f"{where}[{index}]"
        unknown = set(spec) - {"label", "patterns", "deny_list", "context", "case_sensitive", "score"}
        if unknown:
            raise PolicyError(f"{at}: unknown field(s) {sorted(unknown)}")
        label = spec.get("label")
        if not isinstance(label, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", label):
            raise PolicyError(f"{at}.label: an UPPER_CASE entity name is required, got {label!r}")
        flags = 0 if spec.get("case_sensitive", False) else regex.IGNORECASE
        patterns = [_compile(p, flags, f"{at}.patterns[{i}]") for i, p in enumerate(spec.get("patterns", []))]
        deny = [str(w) for w in spec.get("deny_list", [])]
        if deny:
            words = "|".join(regex.escape(w) for w in sorted(deny, key=len, reverse=True))
            patterns.append((regex.compile(rf"(?<!\w)(?:{words})(?!\w)", flags), float(spec.get("score", 1.0))))
        if not patterns:
            raise PolicyError(f"{at}: a custom entity needs `patterns` or `deny_list`")
        context = tuple(str(w).lower() for w in spec.get("context", []))
        entities.append(CustomEntity(label, tuple(patterns), context))
    return tuple(entities)


def _compile(spec: Mapping[str, Any] | str, flags: int, at: str) -> tuple[regex.Pattern[str], float]:
    text, score = (spec, 0.6) if isinstance(spec, str) else (spec.get("regex"), spec.get("score", 0.6))
    if not isinstance(text, str):
        raise PolicyError(f"{at}.regex: a regular expression string is required")
    if not 0.0 <= float(score) <= 1.0:
        raise PolicyError(f"{at}.score: must be in [0, 1], got {score}")
    try:
        return regex.compile(text, flags), float(score)
    except regex.error as exc:
        raise PolicyError(f"{at}.regex: invalid regular expression: {exc}") from exc
