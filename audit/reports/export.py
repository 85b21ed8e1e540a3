"""``export_report``: write a report as a bundle (HTML, PDF, JSON, CSV) with a manifest an auditor can verify."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from audit.reports.content import sections
from audit.reports.manifest import MANIFEST, write_manifest

if TYPE_CHECKING:
    from audit.reports.model import Report

log = logging.getLogger(__name__)
FORMATS = ("html", "pdf", "json", "csv")
"""Export formats: ``report.html``, ``report.pdf``, ``report.json``, ``csv/*.csv``."""
NOT_EMPTY = "{path} is not empty; choose a new directory for the bundle (or pass overwrite=True)"


def export_report(
    report: Report, out_dir: Path | str, formats: Iterable[str] = FORMATS, *, overwrite: bool = False
) -> Path:
    """Write ``report`` in ``formats`` into ``out_dir`` with its ``manifest.json``; returns the manifest's path.

    The manifest lists the SHA-256 and size of every file, the decision chain's head hash, the generation time and
    the tool version; ``verify_bundle(out_dir)`` (``ombud report verify DIR``) detects any changed byte.
    """
    chosen = list(dict.fromkeys(f.lower() for f in formats))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"unknown export format(s) {unknown or chosen}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(NOT_EMPTY.format(path=out))
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    content = sections(report) if {"html", "pdf"} & set(chosen) else []
    if "json" in chosen:
        data = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        (out / "report.json").write_text(data + "\n", encoding="utf-8")
    if "csv" in chosen:
        from audit.reports.tables import write_csv

        write_csv(report, out / "csv")
    if "html" in chosen:
        from audit.reports.html import render_html

        (out / "report.html").write_text(render_html(report, content), encoding="utf-8")
    if "pdf" in chosen:
        from audit.reports.pdf import render_pdf

        (out / "report.pdf").write_bytes(render_pdf(report, content))
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
    path = write_manifest(out, meta=meta)
    log.info("wrote report bundle %s (%s)", out, ", ".join(chosen))
    return path
