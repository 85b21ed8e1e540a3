"""Scanners: detect PII, secrets, unsafe Unicode and unsafe content; they score, the policy decides."""

from guards.scanners.base import BatchScanner, ScanContext, Scanner, ScannerBase, register, scanner_types

__all__ = ["BatchScanner", "ScanContext", "Scanner", "ScannerBase", "register", "scanner_types"]
