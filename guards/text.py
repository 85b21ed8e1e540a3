"""Turning whatever the caller hands the guard into text it can scan, with clear errors for what it cannot."""

from __future__ import annotations

import re

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
