"""Write a report dict as files: report.json, report.html, report.xlsx, one CSV per table.

Everything here reads only the report dict, so a stored ``report.json`` can be
turned into the other files again. The tables (``report_tables``) are the
same in the CSVs, the workbook and the HTML page (``report_html``).

* CSVs are UTF-8 with a BOM (Excel then shows Chinese correctly; R's
  ``read.csv(fileEncoding = "UTF-8-BOM")`` and pandas read them), comma
  separated, an empty cell for a missing value.
* Every text cell of a CSV or the workbook — headers included, since they carry
  model and dimension names — goes through ``neutralise_cell`` against formula
  injection.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from apps.analysis.report_html import write_html
from apps.analysis.report_tables import Table, report_tables
from apps.core.spreadsheets import neutralise_cell

__all__ = ["Table", "report_tables", "write_report_files"]


def write_report_files(report: dict, out_dir: Path) -> list[Path]:
    """Write every file of the report into ``out_dir`` (created if needed) and
    return their paths: report.json, report.html, report.xlsx, then the CSVs."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = report_tables(report)
    paths = [
        _write_json(report, out_dir / "report.json"),
        write_html(report, tables, out_dir / "report.html"),
        _write_xlsx(tables, out_dir / "report.xlsx"),
    ]
    paths += [_write_csv(table, out_dir / f"{table.name}.csv") for table in tables]
    return paths


def _write_json(report: dict, path: Path) -> Path:
    text = json.dumps(report, ensure_ascii=False, indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return neutralise_cell(value)


def _write_csv(table: Table, path: Path) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([_csv_cell(c) for c in table.columns])
        writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
    return path


def _xlsx_cell(value: Any) -> Any:
    value = neutralise_cell(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _write_xlsx(tables: Iterable[Table], path: Path) -> Path:
    # Write-only mode streams rows: several times faster on large tables.
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name[:31])
        sheet.freeze_panes = "B2"
        header = []
        for name in table.columns:
            cell = WriteOnlyCell(sheet, value=_xlsx_cell(name))
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([_xlsx_cell(v) for v in row])
    workbook.save(path)
    return path
