"""Named text operators that replace a detected span: replace, mask, hash, encrypt, pseudonymize, remove."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guards.actions.vault import Vault
from guards.errors import PolicyError
from guards.policy.decide import Redaction
from guards.policy.schema import OperatorSettings

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


@dataclass(frozen=True, slots=True)
class OperatorKeys:
    """Secrets the operators need, read once from the environment variables the policy names."""

    hash_salt: bytes | None
    encryption_key: bytes | None

    @classmethod
    def from_env(cls, settings: OperatorSettings) -> OperatorKeys:
        """Read the salt and key; absent variables leave the operators that need them unusable."""
        salt = os.environ.get(settings.hash_salt_env)
        key = os.environ.get(settings.encryption_key_env)
        return cls(salt.encode() if salt else None, key.encode() if key else None)


class Operators:
    """Applies redactions to a text with the policy's operator settings and the session's vault."""

    def __init__(self, settings: OperatorSettings, keys: OperatorKeys) -> None:
        self.settings = settings
        self.keys = keys

    def check_available(self, operators: set[str], source: str) -> None:
        """Fail at policy load, not mid-request, when an operator's secret is missing."""
        if "hash" in operators and not self.keys.hash_salt:
            raise PolicyError(f"{source}: the hash operator needs a secret salt in ${self.settings.hash_salt_env}")
        if "encrypt" in operators:
            if not self.keys.encryption_key:
                raise PolicyError(f"{source}: the encrypt operator needs a key in ${self.settings.encryption_key_env}")
            _fernet(self.keys.encryption_key)

    def apply(self, text: str, redactions: Sequence[Redaction], vault: Vault | None, *, restorable: bool = True) -> str:
        """Transform every redacted span; overlapping spans are merged and the widest one's operator wins.

        ``restorable`` says whether new pseudonyms may later be restored (true for the caller's own input).
        """
        out: list[str] = []
        cursor = 0
        for red in merge_spans(redactions):
            out.append(text[cursor : red.start])
            out.append(self._replace(red, text[red.start : red.end], vault, restorable))
            cursor = red.end
        out.append(text[cursor:])
        return "".join(out)

    def _replace(self, red: Redaction, value: str, vault: Vault | None, restorable: bool) -> str:
        op = red.operator
        if op == "remove":
            return ""
        if op == "mask":
            keep = min(self.settings.mask_keep_last, len(value) // 2)
            head = "".join(
                c if c.isspace() or c in "-." else self.settings.mask_char for c in value[: len(value) - keep]
            )
            return head + value[len(value) - keep :]
        if op == "hash":
            assert self.keys.hash_salt is not None
            digest = hmac.new(self.keys.hash_salt, value.encode(), hashlib.sha256).hexdigest()[:16]
            return f"<{red.label}:{digest}>"
        if op == "encrypt":
            assert self.keys.encryption_key is not None
            token = _fernet(self.keys.encryption_key).encrypt(value.encode()).decode()
            return f"<{red.label}:enc:{token}>"
        if op == "pseudonymize" and vault is not None:
            return vault.pseudonym(red.label, value, restorable=restorable)
        return f"<{red.label}>"


def merge_spans(redactions: Sequence[Redaction]) -> list[Redaction]:
    """Sorted, non-overlapping spans: overlapping ones become one span labelled like the widest of them."""
    merged: list[Redaction] = []
    for red in sorted(redactions, key=lambda r: (r.start, -(r.end - r.start))):
        if merged and red.start < merged[-1].end:
            last = merged[-1]
            if red.end > last.end:
                merged[-1] = Redaction(last.start, red.end, last.label, last.operator, last.scanner)
            continue
        merged.append(red)
    return merged


def decrypt(token: str, key: str | bytes) -> str:
    """Decrypt a value written by the encrypt operator (the part after ``enc:``)."""
    return _fernet(key.encode() if isinstance(key, str) else key).decrypt(token.encode()).decode()


def _fernet(key: bytes) -> Fernet:
    from cryptography.fernet import Fernet

    try:
        return Fernet(key)
    except ValueError as exc:
        raise PolicyError(
            "the encryption key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())"
        ) from exc


def new_encryption_key() -> str:
    """A fresh key for the encrypt operator."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()
