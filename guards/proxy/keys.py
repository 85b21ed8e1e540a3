"""Client API keys, hashed at rest (sha256 or scrypt), verified in constant time and cached per process."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Sequence

from guards.proxy.settings import ClientKey

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_CACHE_SIZE = 4096


def hash_key(key: str, *, scheme: str = "scrypt") -> str:
    """The at-rest form of ``key`` for the proxy config (``scrypt`` salts and stretches; ``sha256`` is fast)."""
    if scheme == "sha256":
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    if scheme == "scrypt":
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(key.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
        return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{salt.hex()}:{digest.hex()}"
    raise ValueError(f"unknown key hash scheme {scheme!r}: use 'scrypt' or 'sha256'")


def matches(key: str, stored: str) -> bool:
    """True when ``key`` hashes to ``stored``."""
    scheme, _, rest = stored.partition(":")
    if scheme == "sha256":
        return hmac.compare_digest(hashlib.sha256(key.encode()).hexdigest(), rest.lower())
    if scheme == "scrypt":
        try:
            n, r, p, salt, digest = rest.split(":")
            got = hashlib.scrypt(key.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
        except ValueError:
            return False
        return hmac.compare_digest(got.hex(), digest.lower())
    return False


class KeyRing:
    """The configured client keys. ``verify`` remembers recent answers by the key's sha256, so scrypt runs once."""

    def __init__(self, keys: Sequence[ClientKey]) -> None:
        self.keys = tuple(keys)
        self._cache: dict[str, ClientKey | None] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when clients must present a key."""
        return bool(self.keys)

    def verify(self, key: str) -> ClientKey | None:
        """The client whose hash ``key`` matches, or None."""
        fingerprint = hashlib.sha256(key.encode()).hexdigest()
        with self._lock:
            if fingerprint in self._cache:
                return self._cache[fingerprint]
        found = None
        for client in self.keys:  # every hash is checked, so timing does not reveal which client matched
            if matches(key, client.hash) and found is None:
                found = client
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[fingerprint] = found
        return found
