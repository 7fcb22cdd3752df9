"""What every reader produces: a table of text cells, numbered as the user sees them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from apps.core.spreadsheets import unneutralise_cell

from .limits import MAX_ROWS

CSV, XLSX, JSON, JSONL = "csv", "xlsx", "json", "jsonl"
FORMATS = (CSV, XLSX, JSON, JSONL)


@dataclass
class Table:
    format: str
    columns: list[str]  # normalised names, in file order
    header_row: int | None  # None for JSON/JSONL, which have no header row
    rows: Iterator[tuple[int, dict[str, str]]]
    warnings: list[str] = field(default_factory=list)


def too_many_rows_message(where: str) -> str:
    return (
        f"too many rows: a batch holds at most {MAX_ROWS:,} prompts and this file has "
        f"more ({where}); split it into several files"
    )


# --- cells --------------------------------------------------------------------

# C0 control characters but tab, line feed and carriage return, and DEL: no text holds
# them (PostgreSQL refuses NUL outright), whatever format the cell came in
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    control = CONTROL_CHARACTER.search(value)
    if control is None:
        return None
    return f"contains the invisible control character U+{ord(control.group()):04X}: delete it"


def clean_cell(value: str, *, spreadsheet: bool) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return unneutralise_cell(value) if spreadsheet else value


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)
