"""Readers: bytes of a CSV, XLSX, JSON or JSONL file to a table of text cells.

Every reader gives the same shape — column names and ``(row number, {column:
text})`` pairs, numbered as the user sees them — so that validation does not
care where a row came from. Rows are produced lazily, so the row limit stops a
huge file early. Cell text is stripped, line ends become ``\\n``, and in CSV/XLSX
the apostrophe evalsite puts before a formula-like cell on export is taken off.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import PurePath

from .columns import normalise_header
from .decoding import decode_text
from .errors import ErrorCollector, ImportErrors
from .json_readers import read_json, read_jsonl
from .limits import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    XLSX_MAX_MEMBERS,
    XLSX_MAX_UNCOMPRESSED,
    human_size,
)
from .tables import (
    CSV,
    JSON,
    JSONL,
    XLSX,
    Table,
    cell_text,
    clean_cell,
    control_character_problem,
    too_many_rows_message,
)

EXTENSIONS = {
    ".csv": CSV,
    ".txt": CSV,
    ".tsv": CSV,
    ".xlsx": XLSX,
    ".xlsm": XLSX,
    ".json": JSON,
    ".jsonl": JSONL,
    ".ndjson": JSONL,
}
# blank rows count towards this looser limit, so a sheet that runs on for a million
# empty rows is refused too
MAX_PHYSICAL_ROWS = 2 * MAX_ROWS
_NOT_PROMPT_FILES = (
    (
        b"\xd0\xcf\x11\xe0",
        "an old Excel .xls workbook (or a password-protected one): "
        "save it as .xlsx or as “CSV UTF-8”",
    ),
    (b"\x89PNG", "a PNG image, not a prompt file"),
    (b"\xff\xd8\xff", "a JPEG image, not a prompt file"),
    (b"GIF8", "a GIF image, not a prompt file"),
    (b"%PDF", "a PDF document, not a prompt file"),
    (b"\x1f\x8b", "a gzip archive, not a prompt file"),
    (b"7z\xbc\xaf", "a 7-Zip archive, not a prompt file"),
    (b"Rar!", "a RAR archive, not a prompt file"),
)
_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+\d+(?::[A-Z]+(\d+))?"')


def check_size(size: int, *, errors: ErrorCollector) -> None:
    """Refuse a prompt file over the size limit before anything reads it."""
    if size > MAX_FILE_BYTES:
        raise errors.fatal(
            None,
            None,
            f"the file is {human_size(size)}; a prompt file may be at most "
            f"{human_size(MAX_FILE_BYTES)} (about {MAX_ROWS:,} prompts): split it",
        )


def detect_format(data: bytes, filename: str, *, errors: ErrorCollector) -> str:
    """The file's format from its first bytes, then from its name."""
    for magic, what in _NOT_PROMPT_FILES:
        if data.startswith(magic):
            raise errors.fatal(None, None, f"the file is {what}")
    if data.startswith(b"PK\x03\x04"):
        return XLSX  # content wins over a wrong extension
    by_name = EXTENSIONS.get(PurePath(filename).suffix.lower())
    if by_name == XLSX:
        raise errors.fatal(None, None, "the file is named .xlsx but is not an XLSX workbook")
    if by_name:
        return by_name
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"[": JSON, b"{": JSONL}.get(start, CSV)


def estimate_rows(data: bytes, fmt: str) -> int:
    """A cheap upper-bound guess of the row count, to choose inline or Celery parsing."""
    if fmt == XLSX:
        rows = _xlsx_dimension_rows(data)
        return rows if rows is not None else len(data) // 40
    if fmt == JSON:
        return data.count(b"{")
    return data.count(b"\n")


def read_table(data: bytes, *, filename: str, encoding: str, errors: ErrorCollector) -> Table:
    """Read a prompt file. Raises ``ImportErrors`` for a file that cannot be read at
    all; problems in single rows go to ``errors`` while ``rows`` is consumed."""
    check_size(len(data), errors=errors)
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise errors.fatal(None, None, "the file is empty")
    fmt = detect_format(data, filename, errors=errors)
    if fmt == XLSX:
        return _read_xlsx(data, errors)
    text = decode_text(data, declared=encoding, errors=errors)
    if fmt == JSON:
        return read_json(text, errors)
    if fmt == JSONL:
        return read_jsonl(text, errors)
    return _read_csv(text, errors)


# --- grids: CSV and XLSX ------------------------------------------------------------


def _from_grid(fmt: str, grid: Iterator[tuple[int, list[str]]], errors: ErrorCollector) -> Table:
    """A table from numbered rows of cells whose first non-blank row is the header."""
    for number, cells in grid:
        if any(cell.strip() for cell in cells):
            header_row, header = number, cells
            break
    else:
        raise errors.fatal(None, None, "the file is empty: no header row and no prompts")
    names = [normalise_header(cell) for cell in header[:MAX_COLUMNS]]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        problem = control_character_problem(name)
        if problem:
            errors.add(header_row, name, f"the column name {problem}")
        elif name and name in seen:
            errors.add(
                header_row,
                name,
                f"the column appears twice (columns {_letter(seen[name])} and {_letter(index)})",
            )
        seen.setdefault(name, index)
    if errors:
        raise ImportErrors(errors.errors)
    table = Table(fmt, [n for n in names if n], header_row, iter(()))
    if len(header) > MAX_COLUMNS and any(c.strip() for c in header[MAX_COLUMNS:]):
        table.warnings.append(f"only the first {MAX_COLUMNS} columns were read")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        count = 0
        for number, cells in grid:
            if number > MAX_PHYSICAL_ROWS:
                raise errors.fatal(
                    number,
                    None,
                    too_many_rows_message(
                        f"it runs past row {MAX_PHYSICAL_ROWS:,}, blank rows included"
                    ),
                )
            if not any(cell.strip() for cell in cells):
                continue
            count += 1
            if count > MAX_ROWS:
                raise errors.fatal(
                    number, None, too_many_rows_message(f"row {number} is prompt number {count:,}")
                )
            extra = cells[len(names) :]
            if fmt == CSV and any(cell.strip() for cell in extra):
                errors.add(
                    number,
                    None,
                    f"{len(cells)} cells, but the header has {len(names)} "
                    "columns (a comma inside a cell without quotes?)",
                )
                continue
            yield (
                number,
                {
                    name: clean_cell(cell, spreadsheet=True)
                    for name, cell in zip(names, cells, strict=False)
                    if name
                },
            )

    table.rows = rows()
    return table


def _letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: the column letter a spreadsheet shows."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _read_csv(text: str, errors: ErrorCollector) -> Table:
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        # Excel in some locales writes semicolons; "Unicode text" is tab-separated
        delimiter = "\t" if "\t" in first_line else ";" if ";" in first_line else ","

    def grid() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, cells
        except csv.Error as exc:
            raise errors.fatal(number + 1, None, f"unreadable CSV: {exc}") from None

    return _from_grid(CSV, grid(), errors)


def _read_xlsx(data: bytes, errors: ErrorCollector) -> Table:
    from .archive import check_container

    check_container(
        data,
        errors=errors,
        max_members=XLSX_MAX_MEMBERS,
        max_total=XLSX_MAX_UNCOMPRESSED,
        what="the XLSX workbook",
    )
    rows = _xlsx_dimension_rows(data)
    if rows is not None and rows > MAX_PHYSICAL_ROWS:
        raise errors.fatal(None, None, too_many_rows_message(f"its sheet has {rows:,} rows"))
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        sheets = book.worksheets
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise errors.fatal(
            None,
            None,
            f"not a readable XLSX workbook ({_describe(exc)}); save it again from Excel or WPS",
        ) from None
    if not sheets:
        raise errors.fatal(None, None, "the workbook has no worksheet")
    sheet = sheets[0]

    def grid() -> Iterator[tuple[int, list[str]]]:
        number = 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for number, values in enumerate(
                    sheet.iter_rows(min_row=1, values_only=True), start=1
                ):
                    yield number, [cell_text(v) for v in values[:MAX_COLUMNS]]
        except ImportErrors:
            raise
        except Exception as exc:  # a damaged sheet can fail half-way
            raise errors.fatal(
                number + 1, None, f"unreadable XLSX row ({_describe(exc)})"
            ) from None
        finally:
            book.close()

    table = _from_grid(XLSX, grid(), errors)
    if len(sheets) > 1:
        table.warnings.append(f"only the first sheet, “{sheet.title}”, was read")
    return table


def _xlsx_dimension_rows(data: bytes) -> int | None:
    """The last row of the first sheet's used range, read from its <dimension> tag
    without parsing the sheet; None when the tag is missing or the file unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted(
                n
                for n in archive.namelist()
                if n.startswith("xl/worksheets/") and n.endswith(".xml")
            )
            if not names:
                return None
            with archive.open(names[0]) as member:
                head = member.read(4096)
    except Exception:  # an unreadable ZIP is reported by the real reader
        return None
    match = _DIMENSION.search(head)
    if not match:
        return None
    return int(match.group(1)) if match.group(1) else 1


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
