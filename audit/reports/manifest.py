"""The export bundle's manifest: SHA-256 of every file, the chain head, generation time, tool version; verification.

When ``OMBUD_AUDIT_SIGNING_KEY`` is set the manifest is also signed (Ed25519), and verification checks the signature
with ``OMBUD_AUDIT_VERIFY_KEY`` when that is set, so the manifest itself cannot be rewritten unnoticed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit import keys
from audit.records import dumps

MANIFEST = "manifest.json"
"""The manifest's file name inside a bundle."""
FORMAT = 1


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """The result of verifying a bundle: ``ok`` when every listed file is present and unchanged and none was added."""

    directory: Path
    checked: int
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    signature: str = "absent"
    head_hash: str | None = None
    manifest_sha256: str | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing was changed, removed or added, and a present signature is valid or unchecked."""
        return not (self.changed or self.missing or self.unexpected or self.problems) and self.signature != "invalid"


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST
    )


def write_manifest(directory: Path, *, meta: dict[str, Any]) -> Path:
    """Hash every file under ``directory`` and write ``manifest.json`` (signed when a signing key is set)."""
    files = {
        name: {"sha256": sha256_file(directory / name), "bytes": (directory / name).stat().st_size}
        for name in _files(directory)
    }
    manifest: dict[str, Any] = {"format": FORMAT, **meta, "files": files}
    private = keys.signing_key_from_env()
    if private is not None:
        manifest["signature"] = {
            "key_id": keys.key_id(private.public_key()),
            "ed25519": keys.sign(private, dumps(manifest).encode()),
        }
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def verify_bundle(directory: Path | str) -> BundleCheck:
    """Check every file of a bundle against its manifest (and the manifest's signature where possible)."""
    root = Path(directory)
    path = root / MANIFEST
    if not path.is_file():
        return BundleCheck(root, 0, problems=(f"no {MANIFEST} in {root}",))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        listed: dict[str, Any] = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        return BundleCheck(root, 0, problems=(f"unreadable manifest: {exc}",))
    changed, missing = [], []
    for name, entry in sorted(listed.items()):
        target = root / name
        if not target.is_file():
            missing.append(name)
        elif sha256_file(target) != entry.get("sha256"):
            changed.append(name)
    unexpected = [name for name in _files(root) if name not in listed]
    return BundleCheck(
        root,
        len(listed),
        tuple(changed),
        tuple(missing),
        tuple(unexpected),
        _signature(manifest),
        manifest.get("chain_head_hash"),
        sha256_file(path),
    )


def _signature(manifest: dict[str, Any]) -> str:
    """``absent``, ``unchecked`` (no verify key set), ``valid`` or ``invalid``."""
    signed = manifest.pop("signature", None)
    if not isinstance(signed, dict):
        return "absent"
    public = keys.verify_key_from_env()
    if public is None:
        return "unchecked"
    valid = keys.signature_valid(public, dumps(manifest).encode(), str(signed.get("ed25519", "")))
    return "valid" if valid and signed.get("key_id") == keys.key_id(public) else "invalid"
