"""``export_report``: write a report as a bundle (HTML, PDF, JSON, CSV) with a manifest an auditor can verify."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from audit.reports.content import sections
from audit.reports.manifest import MANIFEST, read_manifest, scan, write_manifest

if TYPE_CHECKING:
    from audit.reports.model import Report

log = logging.getLogger(__name__)
FORMATS = ("html", "pdf", "json", "csv")
"""Export formats: ``report.html``, ``report.pdf``, ``report.json``, ``csv/*.csv``."""
NOT_EMPTY = "{path} is not empty; choose a new directory for the bundle (or pass overwrite=True)"
NOT_A_BUNDLE = "{path} holds {what}; overwrite replaces only an earlier bundle: choose a new directory for the bundle"


def export_formats(formats: Iterable[str]) -> list[str]:
    """``formats`` in lower case, without blanks or repeats; ``ValueError`` when one is unknown or none is given."""
    chosen = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"unknown export format(s) {unknown or chosen}; choose from {', '.join(FORMATS)}")
    return chosen


def files_to_replace(out_dir: Path | str, *, overwrite: bool = False) -> list[str]:
    """The files of an earlier bundle in ``out_dir`` that the export replaces; ``FileExistsError`` when it cannot.

    A missing or empty directory takes a bundle; with ``overwrite`` so does one that holds an earlier bundle and
    nothing else: its readable manifest and files that manifest lists (no other file, no symbolic link).
    """
    out = Path(out_dir)
    if not out.exists():
        return []
    if not out.is_dir():
        raise FileExistsError(f"{out} is not a directory")
    if not any(out.iterdir()):
        return []
    if not overwrite:
        raise FileExistsError(NOT_EMPTY.format(path=out))
    try:
        _, listed = read_manifest(out / MANIFEST)
    except (OSError, ValueError) as exc:
        raise FileExistsError(NOT_A_BUNDLE.format(path=out, what=f"no readable {MANIFEST} ({exc})")) from exc
    found = scan(out)
    foreign = [*found.links, *(n for n in found.files if n not in listed and n != MANIFEST)]
    if foreign:
        raise FileExistsError(
            NOT_A_BUNDLE.format(path=out, what=f"entries its {MANIFEST} does not list: {', '.join(foreign)}")
        )
    return [*(n for n in found.files if n in listed), MANIFEST]


def _remove(out: Path, names: Iterable[str]) -> None:
    """Delete the files ``names`` of ``out``, then the subdirectories they leave empty."""
    paths = [out / name for name in names]
    for path in paths:
        path.unlink(missing_ok=True)
    for parent in sorted({p.parent for p in paths} - {out}, key=lambda p: len(p.parts), reverse=True):
        with suppress(OSError):  # not empty
            parent.rmdir()


def _write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def export_report(
    report: Report, out_dir: Path | str, formats: Iterable[str] = FORMATS, *, overwrite: bool = False
) -> Path:
    """Write ``report`` in ``formats`` into ``out_dir`` with its ``manifest.json``; returns the manifest's path.

    The manifest lists the SHA-256 and size of every file written, the decision chain's head hash, the generation
    time and the tool version; ``verify_bundle(out_dir)`` (``ombud report verify DIR``) detects any changed byte.
    ``out_dir`` must be missing or empty; with ``overwrite`` it may hold an earlier bundle, whose files are removed
    first (a directory holding anything else is refused: see ``files_to_replace``).
    """
    chosen = export_formats(formats)
    out = Path(out_dir)
    stale = files_to_replace(out, overwrite=overwrite)
    _remove(out, stale)
    out.mkdir(parents=True, exist_ok=True)
    content = sections(report) if {"html", "pdf"} & set(chosen) else []
    written: list[Path] = []
    if "json" in chosen:
        data = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        written.append(_write(out / "report.json", data + "\n"))
    if "csv" in chosen:
        from audit.reports.tables import write_csv

        written += write_csv(report, out / "csv")
    if "html" in chosen:
        from audit.reports.html import render_html

        written.append(_write(out / "report.html", render_html(report, content)))
    if "pdf" in chosen:
        from audit.reports.pdf import render_pdf

        written.append(_write(out / "report.pdf", render_pdf(report, content)))
    meta = {
        "tool": "ombud",
        "tool_version": report.tool_version,
        "generated_at": report.generated_at.isoformat(),
        "title": report.title,
        "since": report.since.isoformat() if report.since else None,
        "until": report.until.isoformat() if report.until else None,
        "policy": report.policy,
        "decisions": report.activity.total,
        "chain_ok": report.chain.ok,
        "chain_head_seq": report.chain.head_seq,
        "chain_head_hash": report.chain.head_hash,
        "formats": chosen,
    }
    path = write_manifest(out, (p.relative_to(out).as_posix() for p in written), meta=meta)
    log.info("wrote report bundle %s (%s)", out, ", ".join(chosen))
    return path
