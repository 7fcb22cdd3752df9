"""Rows of a prompt file to checked prompt rows, with every problem as a RowError."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from apps.studies.models import Prompt, Study

from .archive import ImageArchive
from .columns import BY_NAME, COLUMNS, KNOWN, MEDIA_KINDS, REFERENCE_IMAGE, REQUIRED, Column
from .errors import ErrorCollector, ImportErrors
from .tables import Table, control_character_problem

Progress = Callable[[int], None]
# a code names stored files too; use fullmatch (a $ would let a trailing newline through)
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_IN_CHUNK = 900  # codes per IN (...) query; SQLite's old limit is 999 parameters


@dataclass(frozen=True)
class PromptRow:
    """One row of the file, cleaned: the Prompt's field values and where it came from."""

    row: int
    code: str
    media: str
    text_zh: str
    text_en: str = ""
    title_zh: str = ""
    title_en: str = ""
    artist_zh: str = ""
    artist_en: str = ""
    dynasty_zh: str = ""
    dynasty_en: str = ""
    genre: str = ""
    technique: str = ""
    format: str = ""
    collection: str = ""
    reference_image: str = ""  # the ZIP member, resolved

    def prompt_fields(self) -> dict[str, str]:
        """The values for ``Prompt(**fields)`` (without the image)."""
        fields = asdict(self)
        del fields["row"], fields["reference_image"]
        return fields

    def as_dict(self) -> dict:
        return asdict(self)


def validate_rows(
    table: Table,
    *,
    study: Study,
    images: ImageArchive | None,
    errors: ErrorCollector,
    progress: Progress | None = None,
) -> list[PromptRow]:
    """Check every row of ``table``; problems go to ``errors``. Returns the rows that
    could be read (with or without problems: the preview shows them all)."""
    _check_columns(table, errors)
    rows: list[PromptRow] = []
    first_row_of: dict[str, int] = {}
    for count, (number, values) in enumerate(table.rows, start=1):
        row = _check_row(number, values, images, errors)
        # only a code that passed its checks goes on to be compared: a bad one is
        # already reported, and may hold what the database refuses (a NUL)
        if _is_code(row.code):
            if row.code in first_row_of:
                errors.add(
                    number,
                    "code",
                    f"code {row.code!r} is already used on row {first_row_of[row.code]}",
                )
            else:
                first_row_of[row.code] = number
        rows.append(row)
        if progress and count % 200 == 0:
            progress(count)
    if not rows and not errors:
        errors.add(None, None, "the file has a header but no prompts")
    _check_against_study(first_row_of, study, errors)
    if images is not None:
        unused = set(images.members) - images.used
        if unused:
            table.warnings.append(
                f"{len(unused)} file(s) in the image ZIP are not named by any row: "
                + ", ".join(sorted(unused)[:5])
                + (" …" if len(unused) > 5 else "")
            )
    return rows


def _check_columns(table: Table, errors: ErrorCollector) -> None:
    missing = [name for name in REQUIRED if name not in table.columns]
    if missing:
        where = (
            "no object in the file has this field"
            if table.header_row is None
            else "the header row has no such column"
        )
        for name in missing:
            errors.add(
                table.header_row,
                name,
                f"required column missing: {where} (the "
                f"columns are {', '.join(c.name for c in COLUMNS)})",
            )
        raise ImportErrors(errors.errors)
    unknown = [name for name in table.columns if name not in KNOWN]
    if unknown:
        table.warnings.append("columns ignored (not prompt fields): " + ", ".join(unknown))


def _check_row(
    number: int, values: dict[str, str], images: ImageArchive | None, errors: ErrorCollector
) -> PromptRow:
    fields: dict[str, str] = {}
    bad_text: set[str] = set()
    for column in COLUMNS:
        value = values.get(column.name, "")
        problem = _text_problem(column, value)
        if problem:
            errors.add(number, column.name, problem)
            bad_text.add(column.name)
        fields[column.field] = value

    code = fields["code"]
    if code and "code" not in bad_text and not _is_code(code):
        errors.add(
            number,
            "code",
            f"code {code!r} may hold only Latin letters, digits and "
            "- _ . (it starts with a letter or digit)",
        )
    media = fields["media"]
    if media and "media" not in bad_text:
        kind = MEDIA_KINDS.get(media.lower())
        if kind is None:
            errors.add(
                number,
                "media",
                f"unknown media kind {media!r}: use image, video or text (图像、视频、文字)",
            )
        else:
            fields["media"] = kind

    reference = values.get(REFERENCE_IMAGE, "")
    problem = control_character_problem(reference)
    if problem:
        errors.add(number, REFERENCE_IMAGE, problem)
    elif reference:
        fields[REFERENCE_IMAGE] = _check_reference(number, reference, images, errors)
    return PromptRow(row=number, **fields)


def _text_problem(column: Column, value: str) -> str | None:
    if column.required and not value:
        return "a value is required"
    if len(value) > column.max_length:
        return f"{len(value):,} characters; at most {column.max_length:,} fit"
    return control_character_problem(value)


def _is_code(value: str) -> bool:
    return len(value) <= BY_NAME["code"].max_length and CODE.fullmatch(value) is not None


def _check_reference(
    number: int, reference: str, images: ImageArchive | None, errors: ErrorCollector
) -> str:
    if images is None:
        errors.add(
            number,
            REFERENCE_IMAGE,
            f"names {reference!r}, but no image ZIP was uploaded with the file",
        )
        return ""
    member, why_not = images.resolve(reference)
    if member is None:
        errors.add(number, REFERENCE_IMAGE, why_not or "not found")
        return ""
    images.used.add(member)
    problem = images.check_image(member)
    if problem:
        errors.add(number, REFERENCE_IMAGE, problem)
        return ""
    return member


def existing_codes(study: Study, codes: list[str]) -> set[str]:
    """Those of ``codes`` that ``study`` already has."""
    found: set[str] = set()
    for start in range(0, len(codes), _IN_CHUNK):
        found.update(
            Prompt.objects.filter(
                study=study, code__in=codes[start : start + _IN_CHUNK]
            ).values_list("code", flat=True)
        )
    return found


def _check_against_study(
    first_row_of: dict[str, int], study: Study, errors: ErrorCollector
) -> None:
    """Codes are unique within a study: a code the study already has is an error."""
    if study.pk is None:
        return
    clashes = existing_codes(study, list(first_row_of))
    for code in sorted(clashes, key=first_row_of.__getitem__):
        errors.add(first_row_of[code], "code", f"code {code!r} is already in study “{study.slug}”")
