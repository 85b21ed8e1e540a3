"""Text hygiene: invisible and bidi-control Unicode, control bytes, undecodable input and oversized text."""

from __future__ import annotations

import re
from typing import ClassVar

import regex

from guards.errors import PolicyError
from guards.scanners.base import ParamTypes, ScanContext, ScannerBase
from guards.types import Finding, Verdict

DEFAULT_MAX_CHARS = 32_000

# Zero-width and other invisible format characters, including Unicode "tag" characters used to smuggle
# hidden instructions (ASCII smuggling) and variation selectors.
_INVISIBLE = (
    r"\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200d\u2060-\u2064\u3164"
    r"\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef"
)
# ...except where emoji need them: a variation selector after a pictograph (❤️) or in a keycap (1️⃣), and a
# zero-width joiner inside an emoji sequence (👨‍👩‍👧). Removing these would change what the user sees, and flag every
# chat message with emoji.
_PICTOGRAPH = r"\p{Extended_Pictographic}\p{Emoji_Modifier}"
_EMOJI_PART = (
    rf"(?<=[{_PICTOGRAPH}])[\ufe0e\ufe0f]"
    r"|(?<=[0-9#*])\ufe0f(?=\u20e3)"  # keycaps: 1️⃣
    rf"|(?<=[{_PICTOGRAPH}\ufe0f])\u200d(?=\p{{Extended_Pictographic}})"
)
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_PATTERNS = {
    "INVISIBLE_CHAR": regex.compile(f"(?:(?!{_EMOJI_PART})[{_INVISIBLE}])+"),
    "BIDI_CONTROL": re.compile(f"[{_BIDI}]+"),
    "CONTROL_CHAR": re.compile(f"[{_CONTROL}]+"),
    "INVALID_UTF8": re.compile("\ufffd+"),
}


class HygieneScanner(ScannerBase):
    """Finds characters that hide or reorder text, and texts above the size limit (``params.max_chars``).

    A normaliser: what the policy redacts here (e.g. ``operator: remove``) is gone before later scanners
    run, so ``J\u200bohn`` cannot slip past the PII scanner.
    """

    type_name = "hygiene"
    params_types: ClassVar[ParamTypes] = {"max_chars": int}
    normalizes = True
    labels: ClassVar[frozenset[str] | None] = frozenset({*_PATTERNS, "OVERSIZE"})

    def validate(self) -> None:
        """Also: ``max_chars`` is at least 1."""
        super().validate()
        if self.max_chars < 1:
            raise PolicyError(f"scanner {self.id!r}: params.max_chars must be at least 1")

    @property
    def max_chars(self) -> int:
        """Longest text accepted without an OVERSIZE finding."""
        return int(self.params.get("max_chars", DEFAULT_MAX_CHARS))

    @property
    def size_limit(self) -> int | None:
        """``max_chars``: a longer text is OVERSIZE."""
        return self.max_chars

    def scan(self, text: str, ctx: ScanContext) -> Verdict:
        """One finding per run of suspicious characters; OVERSIZE (no span) past the limit."""
        if len(text) > self.max_chars:
            detail = {"length": len(text), "max_chars": self.max_chars}
            return Verdict.of(self.id, [Finding("OVERSIZE", 1.0, detail=detail)])
        findings = [
            Finding(label, 1.0, m.start(), m.end(), {"count": m.end() - m.start()})
            for label, pattern in _PATTERNS.items()
            for m in pattern.finditer(text)
        ]
        return Verdict.of(self.id, findings)
