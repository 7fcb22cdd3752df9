"""Prompt batches back to files, with the columns of the sample prompt file, so
that an export imports again to the same rows.

CSV is UTF-8 with a byte-order mark, which Excel needs to show Chinese text
rather than mojibake; XLSX is written by openpyxl. Every cell passes through
``neutralise_cell``: a prompt typed as ``=…`` is stored as typed, but a
spreadsheet must not run it.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import PurePosixPath

from django.db.models import QuerySet

from apps.core.spreadsheets import neutralise_cell
from apps.studies.imports.columns import COLUMNS, REFERENCE_IMAGE
from apps.studies.models import Prompt, PromptBatch, Study

HEADER = [column.name for column in COLUMNS]


def _prompts(study: Study, batch: PromptBatch | None) -> QuerySet[Prompt]:
    prompts = Prompt.objects.filter(study=study).order_by("position", "id")
    return prompts.filter(batch=batch) if batch is not None else prompts


def _image_name(prompt: Prompt) -> str:
    return PurePosixPath(prompt.reference_image.name).name if prompt.reference_image else ""


def prompt_table(study: Study, *, batch: PromptBatch | None = None) -> tuple[list[str], list]:
    """(header, rows) of a study's prompts, or one batch's. The ``reference_image``
    column is added when a prompt has an image; it names the file in
    :func:`prompt_images_zip`."""
    prompts = list(_prompts(study, batch))
    with_images = any(prompt.reference_image for prompt in prompts)
    header = HEADER + ([REFERENCE_IMAGE] if with_images else [])
    rows = [
        [getattr(prompt, column.field) for column in COLUMNS]
        + ([_image_name(prompt)] if with_images else [])
        for prompt in prompts
    ]
    return header, rows


def write_csv(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)  # Excel's dialect: commas, CRLF, quotes where needed
    writer.writerow(header)
    writer.writerows([neutralise_cell(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_cell(value: object) -> object:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # XML cannot hold them
    return neutralise_cell(value)


def write_xlsx(header: list[str], rows: list[list[str]], *, title: str = "prompts") -> bytes:
    # imported here: openpyxl pulls in NumPy, and this module loads with the admin's
    # URLs in every web and worker process
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    for index, name in enumerate(header):
        letter = chr(ord("A") + index)
        sheet.column_dimensions[letter].width = 60 if name.startswith("prompt_") else 18
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def prompts_to_csv(study: Study, *, batch: PromptBatch | None = None) -> bytes:
    """The study's prompts (or one batch's) as CSV, UTF-8 with BOM."""
    return write_csv(*prompt_table(study, batch=batch))


def prompts_to_xlsx(study: Study, *, batch: PromptBatch | None = None) -> bytes:
    """The study's prompts (or one batch's) as an XLSX workbook."""
    return write_xlsx(*prompt_table(study, batch=batch))


def prompt_images_zip(study: Study, *, batch: PromptBatch | None = None) -> bytes:
    """The reference images, named as the export's ``reference_image`` column names them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # images are compressed already
        for prompt in _prompts(study, batch).exclude(reference_image=""):
            with prompt.reference_image.open("rb") as image:
                archive.writestr(_image_name(prompt), image.read())
    return buffer.getvalue()
