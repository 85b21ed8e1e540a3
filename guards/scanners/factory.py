"""Build a single scanner outside a guard: by type name with default params, or by id from a policy."""

from __future__ import annotations

from guards.errors import PolicyError
from guards.scanners.base import ScannerBase, scanner_class, scanner_types


def build_scanner(name: str, policy: str | None = None) -> ScannerBase:
    """A scanner for ``name``: a scanner id in ``policy`` when given, else a registered type with default params."""
    if policy is not None:
        from guards.policy import load_policy

        specs = {spec.id: spec for spec in load_policy(policy).model.scanners}
        if name not in specs:
            raise PolicyError(f"policy {policy!r} has no scanner with id {name!r} (ids: {', '.join(specs)})")
        spec = specs[name]
        scanner = scanner_class(spec.type)(spec.id, spec.params)
    elif name in scanner_types():
        scanner = scanner_class(name)(name, {})
    else:
        raise PolicyError(f"unknown scanner {name!r} (types: {', '.join(sorted(scanner_types()))})")
    scanner.validate()
    return scanner
