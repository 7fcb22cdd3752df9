"""Reading a CSV file's bytes into cells: the header found, the known columns kept.

The first step of loading a tidy CSV (``apps.analysis.tidy``): it checks the
file's shape — UTF-8, a header with the required columns, data rows — and not
yet the values. Files are parsed by pandas' C reader, so 720,000 rows load in
seconds; when that reader refuses a file (bytes that are not UTF-8, a row with
more cells than the header) the standard ``csv`` module reads it again, row by
row, to name the rows at fault.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from apps.analysis.tidy_errors import RowError, TidyError

Source = str | Path | bytes


def read_source(source: Source) -> tuple[bytes, str]:
    """The file's bytes and the name to show in errors (``<bytes>`` for bytes)."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "<bytes>"
    path = Path(source)
    return path.read_bytes(), path.name


def read_columns(
    data: bytes,
    name: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    max_rows: int,
) -> pd.DataFrame:
    """The file's data rows as stripped strings under lower-case column names,
    plus ``row`` (1-based, the header row counted; blank lines are skipped but
    counted, so numbers match an editor or a spreadsheet). Only the known
    columns are kept. Raises :class:`TidyError` when rows cannot be read at all."""
    if not data.strip():
        raise TidyError([RowError(1, None, "the file is empty")], source=name)
    try:
        cells = pd.read_csv(
            io.BytesIO(data),
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8",
            engine="c",
        )
    except pd.errors.EmptyDataError:
        raise TidyError([RowError(1, None, "the file is empty")], source=name) from None
    except (UnicodeDecodeError, pd.errors.ParserError):
        cells = _parse_slowly(data, name, max_rows)
    cells = pd.DataFrame(
        {j: _stripped(cells[j]) for j in cells.columns},
        index=np.arange(1, len(cells) + 1),
        dtype=object,
    )
    blank = cells.isna().all(axis=1)
    if blank.all():
        raise TidyError([RowError(1, None, "the file is empty")], source=name)
    header_row = int(blank.idxmin())
    header = [(c or "").removeprefix("\ufeff").strip().lower() for c in cells.loc[header_row]]

    missing = [c for c in required if c not in header]
    if missing:
        hint = _delimiter_hint(cells.loc[header_row])
        errors = [RowError(header_row, c, "required column missing", hint) for c in missing]
        raise TidyError(errors, source=name, max_rows=max_rows)
    duplicated = sorted({c for c in header if c and header.count(c) > 1})
    if duplicated:
        errors = [RowError(header_row, c, "column appears twice") for c in duplicated]
        raise TidyError(errors, source=name, max_rows=max_rows)

    body = cells[(cells.index > header_row) & ~blank]
    if body.empty:
        error = RowError(header_row, None, "no data rows after the header")
        raise TidyError([error], source=name)
    known = [c for c in (*required, *optional) if c in header]
    frame = body.iloc[:, [header.index(c) for c in known]]
    frame.columns = known
    frame = frame.reset_index(names="row")
    return frame


def _stripped(column: pd.Series) -> np.ndarray:
    """The column's cells without surrounding spaces, as Python str, None for an
    empty cell. Stripped once per distinct value: ids and scores repeat."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return np.array([str(u).strip() or None for u in uniques], dtype=object)[codes]


def _parse_slowly(data: bytes, name: str, max_rows: int) -> pd.DataFrame:
    """Read row by row with the csv module to name rows the C reader refused:
    undecodable bytes, rows with more (non-empty) cells than the header."""
    # surrogateescape keeps undecodable bytes visible so we can name their rows.
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    errors: list[RowError] = []
    rows: list[list[str]] = []
    not_utf8 = f"bytes that are not UTF-8 ({_encoding_hint(data)})"
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            if any(_has_bad_bytes(cell) for cell in row):
                errors.append(RowError(number, None, not_utf8))
            rows.append(row)
    except csv.Error as exc:
        errors.append(RowError(len(rows) + 1, None, f"unreadable CSV: {exc}"))
    if errors:
        raise TidyError(errors, source=name, max_rows=max_rows)
    width = next((len(r) for r in rows if any(c.strip() for c in r)), 0)
    for number, row in enumerate(rows, start=1):
        if len(row) > width and any(c.strip() for c in row[width:]):
            detail = f"{len(row)} cells, the header has {width}"
            errors.append(RowError(number, None, "more cells than columns", detail))
    if errors:
        raise TidyError(errors, source=name, max_rows=max_rows)
    padded = [(row + [""] * width)[:width] for row in rows]
    return pd.DataFrame(padded, dtype=str)


def _has_bad_bytes(cell: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def _encoding_hint(data: bytes) -> str:
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return "save the file as UTF-8"
    return "looks like GBK/GB18030: save it as 'CSV UTF-8'"


def _delimiter_hint(header_cells: Iterable[str]) -> str:
    cells = [c for c in header_cells if c]
    if len(cells) == 1:
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs")):
            if delimiter in cells[0]:
                return f"the header is separated by {label}; use commas"
    return ""
