"""Turning whatever the caller hands the guard into text it can scan, with clear errors for what it cannot."""

from __future__ import annotations

import re
import unicodedata

from guards.errors import InputError

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A UTF-16 surrogate code point: never valid in Unicode text (undecodable bytes under ``surrogateescape``)."""


def coerce_text(value: object, *, lenient: bool) -> str:
    """Return ``value`` as ``str``.

    Bytes are decoded as UTF-8. Invalid UTF-8 raises ``InputError`` naming the byte offset, unless
    ``lenient`` (a hygiene scanner will report the U+FFFD replacement characters instead). A string holding lone
    surrogates (undecodable bytes smuggled in by ``surrogateescape``, e.g. from ``sys.argv``, or a bad ``\ud800``
    JSON escape) is not text either: each becomes U+FFFD when ``lenient``, else ``InputError``.
    """
    if isinstance(value, str):
        bad = LONE_SURROGATE.search(value)
        if bad is None:
            return value
        if lenient:
            return LONE_SURROGATE.sub("\ufffd", value)
        raise InputError(f"text holds a lone surrogate (not Unicode text) at character {bad.start()}")
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if lenient:
                return raw.decode("utf-8", errors="replace")
            raise InputError(f"text is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    raise InputError(f"the guard checks text (str or UTF-8 bytes), got {type(value).__name__}")


class _Folding(dict[int, str]):
    """A ``str.translate`` table that works out each character's plain form the first time it is seen."""

    def __missing__(self, code: int) -> str:
        plain = _plain(chr(code))
        if len(self) < _FOLDING_CACHE:  # bounded: a text may hold any of a million code points
            self[code] = plain
        return plain


def _plain(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category == "Pd":
        return "-"
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    compatible = unicodedata.normalize("NFKC", char)
    return compatible if len(compatible) == 1 else char


_FOLDING_CACHE = 65_536
_FOLDING = _Folding()


def fold_lookalikes(text: str) -> str:
    """``text`` with look-alike characters made plain, one character for one (so offsets stay valid for ``text``):
    Unicode spaces (no-break, narrow no-break, figure, ideographic) become spaces, dashes hyphens, digits of any
    script ASCII digits, and compatibility forms their plain character (full-width ``＠`` and ``４``). Detectors
    scan this, so that a card number grouped with no-break spaces or an address with a full-width ``＠`` is found."""
    return text if text.isascii() else text.translate(_FOLDING)
