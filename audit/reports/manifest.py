"""The export bundle's manifest: SHA-256 of every file, the chain head, generation time, tool version; verification.

When ``OMBUD_AUDIT_SIGNING_KEY`` is set the manifest is also signed (Ed25519), and verification checks the signature
with ``OMBUD_AUDIT_VERIFY_KEY`` when that is set, so the manifest itself cannot be rewritten unnoticed: with that key
set, a manifest without a (well-formed) signature fails verification.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from audit import keys
from audit.records import dumps

MANIFEST = "manifest.json"
"""The manifest's file name inside a bundle (only the top-level one is the manifest)."""
FORMAT = 1
FAILED_SIGNATURES = frozenset({"invalid", "missing"})
"""Signature states that fail verification: ``invalid`` (changed, malformed or another key's), ``missing`` (a verify
key is set but the manifest is unsigned)."""


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """The result of verifying a bundle: ``ok`` when every listed file is present and unchanged and none was added.

    ``links``: symbolic links (never followed) and other entries that are neither regular files nor directories; a
    bundle written by ombud has none. ``problems``: why the bundle could not be checked at all (no or unreadable
    manifest).
    """

    directory: Path
    checked: int
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    signature: str = "absent"
    head_hash: str | None = None
    manifest_sha256: str | None = None
    problems: tuple[str, ...] = field(default=())
    links: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing was changed, removed, added or linked, and the signature did not fail."""
        return (
            not (self.changed or self.missing or self.unexpected or self.problems or self.links)
            and self.signature not in FAILED_SIGNATURES
        )


@dataclass(frozen=True, slots=True)
class Contents:
    """What a directory tree holds, as POSIX paths relative to it: regular ``files`` and ``links`` (symbolic links,
    to files or directories, and special files), found without following any link."""

    files: tuple[str, ...]
    links: tuple[str, ...]


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _raise(exc: OSError) -> NoReturn:
    raise exc


def scan(directory: Path) -> Contents:
    """Every entry under ``directory`` (an unreadable subdirectory raises rather than being skipped)."""
    files: list[str] = []
    links: list[str] = []
    for top, dirs, names in os.walk(directory, onerror=_raise):  # a symlinked directory is listed, never entered
        for name in (*dirs, *names):
            path = Path(top, name)
            mode = path.lstat().st_mode
            if not stat.S_ISDIR(mode):
                (files if stat.S_ISREG(mode) else links).append(path.relative_to(directory).as_posix())
    return Contents(tuple(sorted(files)), tuple(sorted(links)))


def read_manifest(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest at ``path`` and its listed files (name → SHA-256); ``ValueError`` when it is malformed."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ValueError('not a JSON object with a "files" object')
    listed: dict[str, str] = {}
    for name, entry in manifest["files"].items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"file name {name!r} is not a path inside the bundle")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ValueError(f"entry {name!r} has no sha256")
        listed[name] = entry["sha256"]
    return manifest, listed


def write_manifest(directory: Path, names: Iterable[str], *, meta: dict[str, Any]) -> Path:
    """Hash the files ``names`` (relative to ``directory``) and write ``manifest.json`` (signed when a signing key
    is set)."""
    files = {
        name: {"sha256": sha256_file(directory / name), "bytes": (directory / name).stat().st_size}
        for name in sorted(names)
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
        manifest, listed = read_manifest(path)
    except ValueError as exc:
        return BundleCheck(root, 0, problems=(f"unreadable manifest: {exc}",))
    found = scan(root)
    present = set(found.files)
    return BundleCheck(
        root,
        len(listed),
        changed=tuple(n for n in sorted(listed) if n in present and sha256_file(root / n) != listed[n]),
        missing=tuple(n for n in sorted(listed) if n not in present and n not in found.links),
        unexpected=tuple(n for n in found.files if n not in listed and n != MANIFEST),
        signature=_signature(manifest),
        head_hash=manifest.get("chain_head_hash"),
        manifest_sha256=sha256_file(path),
        links=found.links,
    )


def _signature(manifest: dict[str, Any]) -> str:
    """``valid`` or ``invalid`` (also when malformed) when a verify key is set, ``missing`` when it is set but there
    is no signature; without a key: ``unchecked``, or ``absent`` when there is none."""
    signed = manifest.pop("signature", None)
    public = keys.verify_key_from_env()
    if public is None:
        return "absent" if signed is None else "unchecked"
    if signed is None:
        return "missing"
    if not isinstance(signed, dict):
        return "invalid"
    valid = keys.signature_valid(public, dumps(manifest).encode(), str(signed.get("ed25519", "")))
    return "valid" if valid and signed.get("key_id") == keys.key_id(public) else "invalid"
