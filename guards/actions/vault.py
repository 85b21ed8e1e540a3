"""A per-session, thread-safe vault for reversible pseudonyms: ``<PERSON_1>`` in, the original value back out."""

from __future__ import annotations

import re
import threading
from collections import defaultdict

_TOKEN = re.compile(r"<?\b([A-Z][A-Z_]*?)_(\d+)\b>?")


class Vault:
    """Maps detected values to stable pseudonyms for one session, and back.

    Values live only in this object's memory: they are never logged, stored or exported.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_token: dict[str, str] = {}
        self._restorable: set[str] = set()
        self._counters: defaultdict[str, int] = defaultdict(int)

    def pseudonym(self, label: str, value: str, *, restorable: bool = True) -> str:
        """The pseudonym for ``value`` (the same value always gets the same one in this session).

        Only restorable pseudonyms are put back by ``restore``: those of values the caller sent. A value
        first seen in a model's answer gets a pseudonym that stays a pseudonym.
        """
        key = (label, value)
        with self._lock:
            token = self._by_value.get(key)
            if token is None:
                self._counters[label] += 1
                token = f"<{label}_{self._counters[label]}>"
                self._by_value[key] = token
                self._by_token[token] = value
                if restorable:
                    self._restorable.add(token)
            return token

    def restore(self, text: str) -> str:
        """Replace every known pseudonym in ``text`` (with or without its angle brackets) by its value."""
        with self._lock:
            if not self._restorable:
                return text
            known = {token: self._by_token[token] for token in self._restorable}

        def swap(match: re.Match[str]) -> str:
            token = f"<{match.group(1)}_{match.group(2)}>"
            return known.get(token, match.group(0))

        return _TOKEN.sub(swap, text)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)

    def __repr__(self) -> str:
        return f"Vault({len(self)} pseudonyms)"
