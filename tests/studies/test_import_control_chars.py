"""Control characters in a prompt file (C0 but tab, line feed and carriage return; and
DEL): one in a cell is that cell's error, named by its row and column, in every format;
a file full of them is binary and refused whole. Nothing reaches the database."""

from __future__ import annotations

import json

import pytest

from apps.studies.imports import ImportErrors, RowError, prompt_batch_import
from apps.studies.imports.jobs import staged_import_start
from apps.studies.models import Prompt, PromptBatch
from tests.studies.data.samples import png, to_csv, to_jsonl, to_xlsx, zip_of
from tests.studies.factories import PromptFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def records(**second_row) -> list[dict[str, str]]:
    """Two valid rows, the second with ``second_row``'s values."""
    return [
        {"code": "A1", "media": "image", "title_zh": "溪山", "prompt_zh": "山水"},
        {"code": "A2", "media": "image", "title_zh": "花鸟", "prompt_zh": "花鸟画"} | second_row,
    ]


def encode(rows: list[dict[str, str]], fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "xlsx":
        return to_xlsx(rows)
    if fmt == "json":
        # one line, as most tools write it: a line number is not a row number here
        return json.dumps(rows, ensure_ascii=False).encode()
    return to_jsonl(rows)


SECOND_ROW = {"csv": 3, "xlsx": 3, "json": 2, "jsonl": 2}  # CSV/XLSX: row 1 is the header


def import_errors(data: bytes, filename: str, **kwargs) -> list[RowError]:
    study = StudyFactory()
    PromptFactory(study=study, code="P0001")  # so the study's codes are looked up
    prompts_before, batches_before = Prompt.objects.count(), PromptBatch.objects.count()
    with pytest.raises(ImportErrors) as caught:
        prompt_batch_import(study=study, data=data, filename=filename, **kwargs)
    assert (Prompt.objects.count(), PromptBatch.objects.count()) == (
        prompts_before,
        batches_before,
    )
    return caught.value.errors


def control_error(row: int, column: str, character: str) -> RowError:
    return RowError(
        row, column, f"contains the invisible control character U+{ord(character):04X}: delete it"
    )


# --- one control character in a cell --------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "column", "character"),
    [
        # a NUL in a code used to reach PostgreSQL in the study's code look-up (DataError)
        ("json", "code", "\x00"),
        ("jsonl", "code", "\x00"),
        ("csv", "code", "\x00"),
        ("csv", "prompt_zh", "\x00"),
        ("json", "title_zh", "\x1b"),
        ("jsonl", "title_zh", "\x0b"),
        ("csv", "title_zh", "\x1b"),
        # a DEL used to be "a binary file" on the line it was on (row 1 of a JSON file)
        ("json", "prompt_zh", "\x7f"),
        ("jsonl", "prompt_zh", "\x7f"),
        ("csv", "prompt_zh", "\x7f"),
        ("xlsx", "prompt_zh", "\x7f"),  # an XLSX can hold DEL (not the C0 controls)
    ],
)
def test_a_control_character_in_a_cell_is_that_cells_error_in_every_format(fmt, column, character):
    # given a valid file whose second row has one control character in one cell
    value = records()[1][column] + character + "x"
    data = encode(records(**{column: value}), fmt)

    # when it is imported
    errors = import_errors(data, f"prompts.{fmt}")

    # then the one error names that row and column, and nothing is imported
    assert errors == [control_error(SECOND_ROW[fmt], column, character)]


def test_a_control_character_after_a_multi_line_cell_names_its_row_not_its_line():
    # given a CSV whose first row has a line break in a cell and whose second has a DEL
    rows = records(prompt_zh="花鸟\x7f")
    rows[0]["prompt_zh"] = "第一行\n第二行\n第三行"

    # when it is imported, then the error names the CSV row (3), not the line (5)
    assert import_errors(to_csv(rows), "prompts.csv") == [control_error(3, "prompt_zh", "\x7f")]


def test_a_raw_control_character_inside_a_json_string_is_a_cell_error():
    # given JSON with a control character written raw inside a string (not as \\u0001)
    data = '[{"code": "A1", "media": "image", "prompt_zh": "山\x01水"}]'.encode()

    # when it is imported, then it is the cell's error, as in every other format
    assert import_errors(data, "prompts.json") == [control_error(1, "prompt_zh", "\x01")]


def test_a_control_character_in_a_reference_image_name_is_that_cells_error():
    # given a row naming an image with a DEL in its name, and a ZIP of images
    rows = records(reference_image="a\x7f.png")
    data = to_csv(rows, header=[*rows[0], "reference_image"])

    # when it is imported with the ZIP, then the error names the cell
    assert import_errors(data, "prompts.csv", images_zip=zip_of({"a.png": png()})) == [
        control_error(3, "reference_image", "\x7f")
    ]


def test_a_control_character_in_a_column_name_is_that_columns_error():
    # given a CSV whose header has a DEL in one column name
    data = to_csv(records()).replace(b"media", b"media\x7f", 1)

    # when it is imported, then the error names the header row and that column
    assert import_errors(data, "prompts.csv") == [
        RowError(
            1,
            "media\x7f",
            "the column name contains the invisible control character U+007F: delete it",
        )
    ]


def test_a_control_character_in_a_json_field_name_is_that_fields_error():
    # given JSON whose object has a field name with a bell character (written \u0007)
    data = b'[{"code": "A1", "media": "image", "prompt_zh": "x", "note\\u0007": "y"}]'

    # when it is imported, then the error names the object and that field
    assert import_errors(data, "prompts.json") == [
        RowError(
            1,
            "note\x07",
            "the field name contains the invisible control character U+0007: delete it",
        )
    ]


# --- a file full of them is binary -----------------------------------------------------------

BINARY = (
    "binary data, not text (it holds 580 control characters, the first U+0000): "
    "upload a CSV, XLSX, JSON or JSONL file"
)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_a_file_full_of_control_characters_is_refused_as_binary(fmt):
    # given a valid file with a block of binary junk appended
    data = encode(records(), fmt) + bytes(range(32)) * 20

    # when it is imported, then the whole file is refused as not text
    assert import_errors(data, f"prompts.{fmt}") == [RowError(None, None, BINARY)]


# --- half a character: a lone surrogate from a JSON \u escape -------------------------------

SURROGATE = (
    "contains \\ud800, half of a character (a lone UTF-16 surrogate): "
    "fix the \\u escape in the file"
)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_a_lone_surrogate_escape_in_json_is_that_cells_error(fmt):
    # given JSON text holding "\ud800" without its other half, which no encoding can store
    rows = records(prompt_zh="花鸟\ud800")  # json.dumps writes it as the escape \ud800
    data = (json.dumps(rows) if fmt == "json" else "\n".join(map(json.dumps, rows))).encode()

    # when it is imported, then the error names the cell (it used to reach the database)
    assert import_errors(data, f"prompts.{fmt}") == [
        RowError(SECOND_ROW[fmt], "prompt_zh", SURROGATE)
    ]


def test_a_lone_surrogate_in_a_json_field_name_is_reported_and_the_preview_can_be_stored(
    organizer,
):
    # given JSON with a field name holding "\ud800"
    study = StudyFactory()
    data = b'[{"code": "A1", "media": "image", "prompt_zh": "x", "note\\ud800": "y"}]'

    # when it is staged (its preview is written to disk as UTF-8 JSON)
    staged = staged_import_start(
        study=study,
        user=organizer,
        filename="prompts.json",
        data=data,
        images_zip=None,
        batch_name="",
        encoding="auto",
    )

    # then the preview holds the field's error, and no half character
    preview = staged.status()["preview"]
    assert preview["errors"] == [
        {"row": 1, "column": "note\ufffd", "message": f"the field name {SURROGATE}"}
    ]
