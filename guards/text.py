"""Turning whatever the caller hands the guard into text it can scan, with clear errors for what it cannot."""

from __future__ import annotations

from guards.errors import InputError


def coerce_text(value: object, *, lenient: bool) -> str:
    """Return ``value`` as ``str``.

    Bytes are decoded as UTF-8. Invalid UTF-8 raises ``InputError`` naming the byte offset, unless
    ``lenient`` (a hygiene scanner will report the U+FFFD replacement characters instead).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if lenient:
                return raw.decode("utf-8", errors="replace")
            raise InputError(f"text is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    raise InputError(f"the guard checks text (str or UTF-8 bytes), got {type(value).__name__}")
