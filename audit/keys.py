"""Keys from the environment: Fernet for opted-in raw text, Ed25519 for signing and checking purge checkpoints.

- ``OMBUD_AUDIT_KEY``: a Fernet key (``ombud audit keygen`` prints one) that encrypts ``Decision.original``.
- ``OMBUD_AUDIT_SIGNING_KEY`` (or ``OMBUD_AUDIT_SIGNING_KEY_FILE``): base64 Ed25519 private key that signs checkpoints.
- ``OMBUD_AUDIT_VERIFY_KEY``: base64 Ed25519 public key that checks them (derived from the signing key when unset),
  so an auditor can verify without being able to forge.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from audit.errors import AuditKeyError

ENCRYPTION_KEY_ENV = "OMBUD_AUDIT_KEY"
SIGNING_KEY_ENV = "OMBUD_AUDIT_SIGNING_KEY"
SIGNING_KEY_FILE_ENV = "OMBUD_AUDIT_SIGNING_KEY_FILE"
VERIFY_KEY_ENV = "OMBUD_AUDIT_VERIFY_KEY"

MISSING_ENCRYPTION_KEY = (
    f"the policy keeps raw text (audit.store_raw_text) but {ENCRYPTION_KEY_ENV} is not set: raw text is only "
    f"ever stored encrypted. Create a key with `ombud audit keygen` and export {ENCRYPTION_KEY_ENV}"
)
MISSING_SIGNING_KEY = (
    f"purging needs a checkpoint signing key: set {SIGNING_KEY_ENV} (or {SIGNING_KEY_FILE_ENV}); "
    "`ombud audit keygen` prints one"
)
MISSING_VERIFY_KEY = (
    f"the chain starts at a signed purge checkpoint: set {VERIFY_KEY_ENV} (or {SIGNING_KEY_ENV}) to check it"
)


def fernet_from_env() -> Fernet | None:
    """The Fernet of ``$OMBUD_AUDIT_KEY``, or None when unset."""
    key = os.environ.get(ENCRYPTION_KEY_ENV)
    if not key:
        return None
    try:
        return Fernet(key.strip().encode())
    except ValueError as exc:
        raise AuditKeyError(f"{ENCRYPTION_KEY_ENV} is not a valid Fernet key (32 url-safe base64 bytes)") from exc


def decrypt(fernet: Fernet, token: str) -> str:
    """Decrypt stored raw text; a wrong key raises ``AuditKeyError``."""
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise AuditKeyError(f"{ENCRYPTION_KEY_ENV} does not decrypt this record (wrong key?)") from exc


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise AuditKeyError(f"{what} is not valid base64") from exc
    if len(raw) != 32:
        raise AuditKeyError(f"{what} must decode to 32 bytes, got {len(raw)}")
    return raw


def signing_key_from_env() -> Ed25519PrivateKey | None:
    """The checkpoint signing key from ``$OMBUD_AUDIT_SIGNING_KEY`` or the file named by ``..._FILE``."""
    value = os.environ.get(SIGNING_KEY_ENV)
    path = os.environ.get(SIGNING_KEY_FILE_ENV)
    if not value and path:
        value = Path(path).read_text()
    if not value:
        return None
    return Ed25519PrivateKey.from_private_bytes(_unb64(value, SIGNING_KEY_ENV))


def verify_key_from_env() -> Ed25519PublicKey | None:
    """The checkpoint verification key: ``$OMBUD_AUDIT_VERIFY_KEY``, else the signing key's public half."""
    value = os.environ.get(VERIFY_KEY_ENV)
    if value:
        return Ed25519PublicKey.from_public_bytes(_unb64(value, VERIFY_KEY_ENV))
    private = signing_key_from_env()
    return private.public_key() if private else None


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of a verification key (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def sign(private: Ed25519PrivateKey, message: bytes) -> str:
    """Base64 Ed25519 signature of ``message``."""
    return _b64(private.sign(message))


def signature_valid(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """True when ``signature`` is ``public``'s signature of ``message``."""
    try:
        public.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def generate() -> dict[str, str]:
    """Fresh keys as environment assignments: encryption key, signing key and its verification key."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {
        ENCRYPTION_KEY_ENV: Fernet.generate_key().decode(),
        SIGNING_KEY_ENV: _b64(raw),
        VERIFY_KEY_ENV: _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
    }
