"""The self-contained HTML export: one file, charts embedded as base64 PNG, no external resources."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.reports.content import Figure, Heading, Paragraph, Section, Table, summary

if TYPE_CHECKING:
    import jinja2

    from audit.reports.model import Report

TEMPLATE = "report.html.j2"


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    loader = jinja2.FileSystemLoader(Path(__file__).with_name("templates"))
    return jinja2.Environment(loader=loader, autoescape=True, keep_trailing_newline=True)


def _block(block: Any) -> dict[str, Any]:
    if isinstance(block, Heading):
        return {"kind": "heading", "text": block.text}
    if isinstance(block, Paragraph):
        return {"kind": "paragraph", "text": block.text, "tone": block.tone}
    if isinstance(block, Table):
        return {"kind": "table", "headers": block.headers, "rows": block.rows, "caption": block.caption}
    if isinstance(block, Figure):
        return {"kind": "figure", "caption": block.caption, "data": base64.b64encode(block.png).decode()}
    raise TypeError(f"unknown report block {block!r}")


def render_html(report: Report, sections: list[Section]) -> str:
    """The report as one HTML document."""
    rendered = [{"title": s.title, "blocks": [_block(b) for b in s.blocks]} for s in sections]
    return _environment().get_template(TEMPLATE).render(report=report, summary=summary(report), sections=rendered)
