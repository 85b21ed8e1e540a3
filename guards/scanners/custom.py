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


_ENTITY_FIELDS = frozenset({"label", "patterns", "deny_list", "context", "case_sensitive", "score"})
_PATTERN_FIELDS = frozenset({"regex", "score"})


def parse_custom_entities(specs: Sequence[Any], where: str) -> tuple[CustomEntity, ...]:
    """Build custom entities from policy params (``label``, ``patterns``, ``deny_list``, ``context``,
    ``case_sensitive``, ``score``), checking every field: a malformed one fails the policy, not a scan."""
    return tuple(_entity(spec, f"{where}[{index}]") for index, spec in enumerate(specs))


def _entity(spec: Any, at: str) -> CustomEntity:
    if not isinstance(spec, Mapping):
        raise PolicyError(f"{at}: expected a mapping with `label` and `patterns` or `deny_list`, not {spec!r}")
    _no_unknown(spec, _ENTITY_FIELDS, at)
    label = spec.get("label")
    if not isinstance(label, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", label):
        raise PolicyError(f"{at}.label: an UPPER_CASE entity name is required, got {label!r}")
    case_sensitive = spec.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise PolicyError(f"{at}.case_sensitive: must be true or false, not {case_sensitive!r}")
    flags = 0 if case_sensitive else regex.IGNORECASE
    patterns = [_compile(p, flags, f"{at}.patterns[{i}]") for i, p in enumerate(_list(spec, "patterns", at))]
    deny = _words(spec, "deny_list", at)
    if deny:
        words = "|".join(regex.escape(w) for w in sorted(deny, key=len, reverse=True))
        patterns.append((regex.compile(rf"(?<!\w)(?:{words})(?!\w)", flags), _score(spec.get("score", 1.0), at)))
    if not patterns:
        raise PolicyError(f"{at}: a custom entity needs `patterns` or `deny_list`")
    context = tuple(w.lower() for w in _words(spec, "context", at))
    return CustomEntity(label, tuple(patterns), context)


def _compile(spec: Any, flags: int, at: str) -> tuple[regex.Pattern[str], float]:
    if isinstance(spec, Mapping):
        _no_unknown(spec, _PATTERN_FIELDS, at)
        text, score = spec.get("regex"), _score(spec.get("score", 0.6), at)
    else:
        text, score = spec, 0.6
    if not isinstance(text, str):
        raise PolicyError(f"{at}.regex: a regular expression string is required, not {text!r}")
    try:
        return regex.compile(text, flags), score
    except regex.error as exc:
        raise PolicyError(f"{at}.regex: invalid regular expression: {exc}") from exc


def _no_unknown(spec: Mapping[str, Any], known: frozenset[str], at: str) -> None:
    unknown = set(spec) - known
    if unknown:
        raise PolicyError(f"{at}: unknown field(s) {sorted(unknown)} (known: {', '.join(sorted(known))})")


def _list(spec: Mapping[str, Any], key: str, at: str) -> list[Any]:
    value = spec.get(key, [])
    if not isinstance(value, list):  # a string would be taken character by character
        raise PolicyError(f"{at}.{key}: expected a list, not {value!r}")
    return value


def _words(spec: Mapping[str, Any], key: str, at: str) -> list[str]:
    """The non-empty words (strings, or whole numbers as YAML reads ``12345``) of list ``key``."""
    words = _list(spec, key, at)
    if not all(isinstance(w, str | int) and not isinstance(w, bool) and str(w).strip() for w in words):
        raise PolicyError(f"{at}.{key}: every entry must be a non-empty word or phrase")
    return [str(w) for w in words]


def _score(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise PolicyError(f"{at}.score: must be a number in [0, 1], got {value!r}")
    return float(value)
