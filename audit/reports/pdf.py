"""The PDF export: the same content as the HTML, laid out with fpdf2 (pure Python) in DejaVu Sans for Unicode."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.reports.content import Figure, Heading, Paragraph, Section, Table, summary

if TYPE_CHECKING:
    from audit.reports.model import Report

TONES = {"": (34, 34, 34), "ok": (30, 107, 46), "warn": (138, 93, 0), "fail": (170, 17, 17)}


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def render_pdf(report: Report, sections: list[Section]) -> bytes:
    """The report as PDF bytes."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(report.generated_at)
    pdf.set_title(report.title)
    pdf.set_creator(f"ombud {report.tool_version}")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(0, 8, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    for key, value in summary(report):
        pdf.set_font("DejaVu", "B", 8)
        pdf.cell(25, 5, key)
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")
    for section in sections:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 13)
        pdf.set_text_color(*TONES[""])
        pdf.multi_cell(0, 7, section.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(180, 180, 180)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(2)
        for block in section.blocks:
            _block(pdf, block)
    return bytes(pdf.output())


def _block(pdf: Any, block: Any) -> None:
    if isinstance(block, Heading):
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 10.5)
        pdf.set_text_color(*TONES[""])
        pdf.multi_cell(0, 6, block.text, new_x="LMARGIN", new_y="NEXT")
    elif isinstance(block, Paragraph):
        pdf.set_font("DejaVu", "B" if block.tone else "", 9)
        pdf.set_text_color(*TONES[block.tone])
        pdf.multi_cell(0, 5, block.text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*TONES[""])
        pdf.ln(1)
    elif isinstance(block, Table):
        _table(pdf, block)
    elif isinstance(block, Figure):
        width = pdf.w - pdf.l_margin - pdf.r_margin
        pdf.image(io.BytesIO(block.png), w=min(width, 170))
        pdf.set_font("DejaVu", "", 7.5)
        pdf.multi_cell(0, 4, block.caption, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    else:
        raise TypeError(f"unknown report block {block!r}")


def _table(pdf: Any, table: Table) -> None:
    if table.caption:
        pdf.set_font("DejaVu", "B", 8.5)
        pdf.multi_cell(0, 5, table.caption, new_x="LMARGIN", new_y="NEXT")
    columns = len(table.headers)
    size = 7 if columns <= 6 else 6
    pdf.set_font("DejaVu", "", size)
    widths = _widths(table)
    with pdf.table(
        col_widths=widths, text_align="LEFT", line_height=size * 0.55, padding=0.8, headings_style=_heading_style()
    ) as grid:
        header = grid.row()
        for h in table.headers:
            header.cell(h)
        for row in table.rows:
            cells = grid.row()
            for value in row:
                cells.cell(value)
    pdf.ln(2)


def _heading_style() -> Any:
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=(243, 245, 248))


def _widths(table: Table) -> tuple[float, ...]:
    """Column widths in proportion to their longest cell (bounded), so hashes and notes get room."""
    longest = [max([len(h)] + [len(r[i]) for r in table.rows]) for i, h in enumerate(table.headers)]
    return tuple(min(max(n, 4), 60) for n in longest)
