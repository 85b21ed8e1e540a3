"""Actions transform text: named operators for redaction and a vault for reversible pseudonyms."""

from guards.actions.operators import OperatorKeys, Operators, decrypt, new_encryption_key
from guards.actions.vault import Vault

__all__ = ["OperatorKeys", "Operators", "Vault", "decrypt", "new_encryption_key"]
