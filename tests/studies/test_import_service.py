"""prompt_batch_import / prompt_batch_preview: the sample in every format, and every
bad input of the issue, each with its row, column and message and an untouched
database."""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from openpyxl import Workbook

from apps.studies.imports import (
    ImportErrors,
    RowError,
    prompt_batch_import,
    prompt_batch_preview,
)
from apps.studies.imports import service as service_module
from apps.studies.imports import validate as validate_module
from apps.studies.imports.limits import MAX_ROWS, MiB
from apps.studies.models import Prompt, PromptBatch, Study
from tests.studies.data.samples import (
    many_rows_csv,
    prompt_values,
    records_as_prompt_values,
    sample_bytes,
    sample_header,
    sample_records,
    to_csv,
    to_json,
    to_jsonl,
    to_xlsx,
)
from tests.studies.factories import PromptFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

COLUMNS_MESSAGE = (
    "the columns are code, media, title_zh, title_en, artist_zh, artist_en, dynasty_zh, "
    "dynasty_en, genre, technique, format, collection, prompt_zh, prompt_en"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def assert_nothing_written() -> None:
    assert PromptBatch.objects.count() == 0
    assert Prompt.objects.count() == 0


def import_errors(study: Study, data: bytes, filename: str = "prompts.csv", **kwargs):
    with pytest.raises(ImportErrors) as caught:
        prompt_batch_import(study=study, data=data, filename=filename, **kwargs)
    return caught.value.errors


# --- the sample, in every format ---------------------------------------------------


def test_the_sample_imports_45_prompts_with_their_values():
    # given a draft study and an organizer
    study, organizer = StudyFactory(), UserFactory(organizer=True)

    # when the sample file is imported
    result = prompt_batch_import(
        study=study, data=sample_bytes(), filename="prompts-classical-sample.csv", user=organizer
    )

    # then one batch holds 45 prompts, in file order, with the file's values
    assert result.created == 45
    assert result.warnings == []
    batch = PromptBatch.objects.get()
    assert (batch.study, batch.name, batch.source_filename, batch.uploaded_by) == (
        study,
        "prompts-classical-sample",
        "prompts-classical-sample.csv",
        organizer,
    )
    assert len(batch.source_sha256) == 64
    prompts = Prompt.objects.filter(study=study).order_by("position")
    assert list(prompts.values_list("position", flat=True)) == list(range(1, 46))
    assert prompt_values(prompts) == records_as_prompt_values(sample_records())
    first = prompts[0]
    assert (first.code, first.media, first.title_zh, first.genre, first.technique) == (
        "QLJS",
        "image",
        "千里江山图",
        "山水",
        "青绿",
    )
    assert prompts.get(code="T-YZQJ").text_en.startswith("Appreciate the attached painting")
    assert sorted(set(prompts.values_list("media", flat=True))) == ["image", "text", "video"]


FORMATS = {
    "csv-utf8-bom": lambda r: b"\xef\xbb\xbf" + to_csv(r),
    "csv-gb18030": lambda r: to_csv(r, encoding="gb18030"),
    "csv-gbk": lambda r: to_csv(r, encoding="gbk"),
    "csv-crlf-semicolons": lambda r: to_csv(r, delimiter=";"),
    "xlsx": to_xlsx,
    "json": to_json,
    "jsonl": to_jsonl,
}
EXTENSION = {"xlsx": "xlsx", "json": "json", "jsonl": "jsonl"}


@pytest.mark.parametrize("variant", FORMATS)
def test_every_format_imports_the_same_field_values(variant):
    # given the sample in another encoding or format
    data = FORMATS[variant](sample_records())
    reference, study = StudyFactory(), StudyFactory()
    prompt_batch_import(study=reference, data=sample_bytes(), filename="sample.csv")

    # when it is imported into a second study
    result = prompt_batch_import(
        study=study, data=data, filename=f"sample.{EXTENSION.get(variant, 'csv')}"
    )

    # then every field of every prompt equals the UTF-8 CSV's
    assert result.created == 45
    assert prompt_values(study.prompts.order_by("position")) == prompt_values(
        reference.prompts.order_by("position")
    )


def test_preview_reads_the_rows_and_writes_nothing():
    # given a study
    study = StudyFactory()

    # when the sample is previewed
    preview = prompt_batch_preview(study=study, data=sample_bytes(), filename="sample.csv")

    # then it holds the 45 rows, numbered as in a spreadsheet, and nothing is written
    assert preview.ok and preview.errors == []
    assert [row.row for row in preview.rows] == list(range(2, 47))
    assert preview.rows[0].code == "QLJS"
    assert_nothing_written()


def test_cells_that_look_like_formulas_are_stored_as_typed():
    # given cells that start with = + - @, and one that evalsite itself neutralised
    records = [
        {
            "code": "F1",
            "media": "image",
            "title_zh": '=HYPERLINK("http://x")',
            "artist_en": "-Anon",
            "collection": "@home",
            "prompt_zh": "+山水",
            "prompt_en": "'=1+1",
        },
    ]
    study = StudyFactory()

    # when the file is imported
    prompt_batch_import(study=study, data=to_csv(records), filename="f.csv")

    # then the text is kept exactly as typed (the export's apostrophe taken off)
    prompt = Prompt.objects.get()
    assert (prompt.title_zh, prompt.artist_en, prompt.collection) == (
        '=HYPERLINK("http://x")',
        "-Anon",
        "@home",
    )
    assert (prompt.text_zh, prompt.text_en) == ("+山水", "=1+1")


def test_cells_are_trimmed_and_line_ends_made_uniform():
    # given padded cells, a Windows line end inside a prompt and a Chinese media label
    data = 'code,media,prompt_zh\r\n  A1 , 图像 ,"第一行\r\n第二行  "\r\n'.encode()
    study = StudyFactory()

    # when it is imported
    prompt_batch_import(study=study, data=data, filename="a.csv")

    # then
    prompt = Prompt.objects.get()
    assert (prompt.code, prompt.media, prompt.text_zh) == ("A1", "image", "第一行\n第二行")


def test_a_second_batch_continues_the_positions():
    # given a study with the sample imported
    study = StudyFactory()
    prompt_batch_import(study=study, data=sample_bytes(), filename="sample.csv")

    # when another batch is imported under a chosen name
    result = prompt_batch_import(
        study=study, data=many_rows_csv(2), filename="more.csv", batch_name="  补充  "
    )

    # then
    assert result.batch.name == "补充"
    assert list(result.batch.prompts.order_by("position").values_list("position", flat=True)) == [
        46,
        47,
    ]


def test_unknown_columns_are_ignored_with_a_warning():
    records = [{"code": "A", "media": "image", "prompt_zh": "山水", "notes": "备注"}]
    preview = prompt_batch_preview(study=StudyFactory(), data=to_csv(records), filename="a.csv")
    assert preview.errors == []
    assert preview.warnings == ["columns ignored (not prompt fields): notes"]


# --- bad input: each names its row and column, and leaves the database untouched -----


def without(column: str) -> bytes:
    header = [name for name in sample_header() if name != column]
    return to_csv(sample_records(), header=header)


def with_cell(row: int, column: str, value: str) -> bytes:
    records = sample_records()
    records[row - 2][column] = value  # row 1 is the header
    return to_csv(records)


BAD_INPUT = {
    "missing required column": (
        without("prompt_zh"),
        "prompts.csv",
        {},
        [
            RowError(
                1,
                "prompt_zh",
                f"required column missing: the header row has no such column ({COLUMNS_MESSAGE})",
            )
        ],
    ),
    "unknown media kind": (
        with_cell(4, "media", "painting"),
        "prompts.csv",
        {},
        [
            RowError(
                4,
                "media",
                "unknown media kind 'painting': use image, video or text (图像、视频、文字)",
            )
        ],
    ),
    "empty file": (b"", "prompts.csv", {}, [RowError(None, None, "the file is empty")]),
    "blank lines and a byte-order mark only": (
        b"\xef\xbb\xbf\r\n\r\n",
        "prompts.csv",
        {},
        [RowError(None, None, "the file is empty")],
    ),
    "header only": (
        b"code,media,prompt_zh\n",
        "prompts.csv",
        {},
        [RowError(None, None, "the file has a header but no prompts")],
    ),
    "GB18030 file declared UTF-8": (
        to_csv(sample_records(), encoding="gb18030"),
        "prompts.csv",
        {"encoding": "utf-8"},
        [
            RowError(
                2,
                None,
                "the file was declared UTF-8, but this row is not UTF-8; the file "
                "looks like GB18030/GBK (what Excel in Chinese saves as “CSV”). "
                "Choose GB18030 or automatic detection",
            )
        ],
    ),
    "UTF-8 file declared GBK": (
        sample_bytes(),
        "prompts.csv",
        {"encoding": "gbk"},
        [
            RowError(
                None,
                None,
                "the file was declared GB18030/GBK, but it is UTF-8: read as "
                "GB18030 its Chinese text would be garbled. Choose UTF-8 or "
                "automatic detection",
            )
        ],
    ),
    "binary junk with NUL bytes": (
        b"code,media,prompt_zh\n" + bytes(range(256)) * 4,
        "prompts.csv",
        {},
        [
            RowError(
                None,
                None,
                "binary data, not text (it holds 120 control characters, the first "
                "U+0000): upload a CSV, XLSX, JSON or JSONL file",
            )
        ],
    ),
    "binary junk without NUL bytes": (
        bytes(range(0x80, 0x100)) * 8,
        "prompts.csv",
        {},
        [
            RowError(
                1,
                None,
                "bytes that are neither UTF-8 nor GB18030/GBK text: is this a "
                "binary file? Save the sheet as “CSV UTF-8”",
            )
        ],
    ),
    "an image uploaded as the prompt file": (
        b"\x89PNG\r\n\x1a\n" + bytes(100),
        "prompts.csv",
        {},
        [RowError(None, None, "the file is a PNG image, not a prompt file")],
    ),
    "an old .xls workbook": (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
        "prompts.xls",
        {},
        [
            RowError(
                None,
                None,
                "the file is an old Excel .xls workbook (or a password-protected "
                "one): save it as .xlsx or as “CSV UTF-8”",
            )
        ],
    ),
    "a damaged XLSX": (
        b"PK\x03\x04" + b"\x00garbage" * 20,
        "prompts.xlsx",
        {},
        [RowError(None, None, "the XLSX workbook is not a readable ZIP file (BadZipFile)")],
    ),
    "duplicate codes in the file": (
        with_cell(6, "code", "QLJS"),
        "prompts.csv",
        {},
        [RowError(6, "code", "code 'QLJS' is already used on row 2")],
    ),
    "a value missing and one too long": (
        to_csv([{"code": "A", "media": "image", "title_zh": "长" * 201, "prompt_zh": ""}]),
        "prompts.csv",
        {},
        [
            RowError(2, "title_zh", "201 characters; at most 200 fit"),
            RowError(2, "prompt_zh", "a value is required"),
        ],
    ),
    "a code that is not a safe name": (
        to_csv([{"code": "../etc", "media": "image", "prompt_zh": "山水"}]),
        "prompts.csv",
        {},
        [
            RowError(
                2,
                "code",
                "code '../etc' may hold only Latin letters, digits and - _ . "
                "(it starts with a letter or digit)",
            )
        ],
    ),
    "a comma in an unquoted cell": (
        b"code,media,prompt_zh\nA,image,\xe5\xb1\xb1,\xe6\xb0\xb4\n",
        "prompts.csv",
        {},
        [
            RowError(
                2,
                None,
                "4 cells, but the header has 3 columns (a comma inside a cell without quotes?)",
            )
        ],
    ),
    "a header with a column twice": (
        b"code,media,prompt_zh,code\nA,image,x,B\n",
        "prompts.csv",
        {},
        [RowError(1, "code", "the column appears twice (columns A and D)")],
    ),
    "JSON that is not a list": (
        b'{"code": "A"}',
        "prompts.json",
        {},
        [
            RowError(
                None,
                None,
                "expected a JSON list of objects, one per prompt; the file holds an object",
            )
        ],
    ),
    "JSON with a syntax error": (
        b'[{"code": "A",\n "media": }]',
        "prompts.json",
        {},
        [RowError(None, None, "not valid JSON: Expecting value (line 2, column 11)")],
    ),
    "JSON objects with a list and a non-object": (
        '[{"code": "A", "media": "image", "prompt_zh": ["山", "水"]}, "B"]'.encode(),
        "prompts.json",
        {},
        [
            RowError(1, "prompt_zh", "expected text or a number, got a list"),
            RowError(1, "prompt_zh", "a value is required"),
            RowError(2, None, "expected an object with the prompt's fields, got text"),
        ],
    ),
    "JSON without a required field anywhere": (
        b'[{"code": "A", "media": "image"}]',
        "prompts.json",
        {},
        [
            RowError(
                None,
                "prompt_zh",
                f"required column missing: no object in the file has this "
                f"field ({COLUMNS_MESSAGE})",
            )
        ],
    ),
    "JSONL with a broken line": (
        b'{"code": "A", "media": "image", "prompt_zh": "x"}\n\n{"code": "B", \n',
        "prompts.jsonl",
        {},
        [
            RowError(
                3,
                None,
                "not valid JSON: Expecting property name enclosed in double quotes (column 15)",
            )
        ],
    ),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_refused_with_row_column_and_message(case):
    # given a study and a bad file
    data, filename, options, expected = BAD_INPUT[case]
    study = StudyFactory()

    # when it is imported, then every problem is listed and nothing is written
    assert import_errors(study, data, filename, **options) == expected
    assert_nothing_written()
    # and the preview shows the same problems
    preview = prompt_batch_preview(study=study, data=data, filename=filename, **options)
    assert preview.errors == expected


def test_a_code_the_study_already_has_is_refused():
    # given a study that has a prompt QLJS
    study = StudyFactory(slug="demo")
    PromptFactory(study=study, code="QLJS")

    # when the sample is imported
    errors = import_errors(study, sample_bytes())

    # then row 2 is named, and the study still has its one prompt
    assert errors == [RowError(2, "code", "code 'QLJS' is already in study “demo”")]
    assert list(study.prompts.values_list("code", flat=True)) == ["QLJS"]
    assert PromptBatch.objects.filter(study=study).count() == 1


def test_the_same_code_in_another_study_is_fine():
    PromptFactory(code="QLJS")
    result = prompt_batch_import(study=StudyFactory(), data=sample_bytes(), filename="s.csv")
    assert result.created == 45


def test_a_code_added_between_check_and_write_is_caught_under_the_lock(monkeypatch):
    # given a study, and the first check blind to the study's codes (as in a race)
    study = StudyFactory(slug="demo")
    PromptFactory(study=study, code="ZCT")
    monkeypatch.setattr(validate_module, "_check_against_study", lambda *a, **k: None)

    # when the sample is imported, then the check inside the transaction refuses it
    assert import_errors(study, sample_bytes()) == [
        RowError(6, "code", "code 'ZCT' is already in study “demo”")
    ]
    assert study.prompts.count() == 1


def test_a_file_of_50_mb_is_refused_before_it_is_read():
    # given 50 MB of otherwise fine CSV
    data = b"code,media,prompt_zh\n" + b"A,image,x\n" * (5 * MiB)
    assert len(data) > 50 * MiB

    # when, then
    assert import_errors(StudyFactory(), data) == [
        RowError(
            None,
            None,
            "the file is 50.0 MB; a prompt file may be at most 20.0 MB (about "
            "20,000 prompts): split it",
        )
    ]
    assert_nothing_written()


def test_100000_rows_are_refused_at_the_row_limit_quickly():
    # given a CSV of 100,000 prompts (under the size limit)
    data = many_rows_csv(100_000)
    study = StudyFactory()

    # when it is imported (the test reports how long it took; the limit is a minute)
    started = time.monotonic()
    errors = import_errors(study, data)
    elapsed = time.monotonic() - started
    print(f"100,000-row CSV refused in {elapsed:.2f} s")

    # then reading stopped at the first row over the limit
    assert errors == [
        RowError(
            MAX_ROWS + 2,
            None,
            "too many rows: a batch holds at most 20,000 prompts and "
            "this file has more (row 20002 is prompt number 20,001); "
            "split it into several files",
        )
    ]
    assert_nothing_written()


def test_a_study_that_started_scoring_takes_no_more_prompts():
    study = StudyFactory(slug="closed-one", status=Study.Status.SCORING)
    assert import_errors(study, sample_bytes()) == [
        RowError(
            None,
            None,
            "study “closed-one” is scoring: prompts can be added only while it is a draft or "
            "collecting",
        )
    ]
    assert_nothing_written()


def test_a_study_that_moved_on_while_the_file_was_read_is_caught_under_the_lock(monkeypatch):
    # given a study in scoring, and the first look at its status outdated (as in a race)
    study = StudyFactory(slug="moved", status=Study.Status.SCORING)
    real, outdated = service_module.study_accepts_prompts, [True]
    monkeypatch.setattr(
        service_module,
        "study_accepts_prompts",
        lambda study: outdated.pop() if outdated else real(study),
    )

    # when the sample is imported, then the check inside the transaction refuses it
    assert import_errors(study, sample_bytes()) == [
        RowError(
            None,
            None,
            "study “moved” is scoring: prompts can be added only while it is a draft or collecting",
        )
    ]
    assert_nothing_written()


def test_too_many_problems_stop_the_listing():
    # given 1,500 rows that each lack a media kind
    data = b"code,media,prompt_zh\n" + b"".join(b"C%d,,x\n" % n for n in range(1500))

    # when, then the listing stops at the limit with a last line that says so
    errors = import_errors(StudyFactory(), data)
    assert len(errors) == 1001
    assert errors[0] == RowError(2, "media", "a value is required")
    assert errors[-1] == RowError(
        None, None, "too many problems: stopped after 1000; fix these and upload the file again"
    )


# --- XLSX specifics ------------------------------------------------------------------


def with_dimension(xlsx: bytes, ref: str) -> bytes:
    """The workbook with its first sheet's used range declared as ``ref``."""
    source, buffer = zipfile.ZipFile(io.BytesIO(xlsx)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(
                    rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), content
                )
            target.writestr(info, content)
    return buffer.getvalue()


def test_a_sheet_of_100000_rows_is_refused_before_it_is_parsed():
    # given a workbook whose sheet declares 100,001 rows
    data = with_dimension(to_xlsx(sample_records()[:2]), "A1:N100001")

    # when, then it is refused from its declared size, without reading the rows
    assert import_errors(StudyFactory(), data, "big.xlsx") == [
        RowError(
            None,
            None,
            "too many rows: a batch holds at most 20,000 prompts and this file has more (its "
            "sheet has 100,001 rows); split it into several files",
        )
    ]


def test_a_typed_formula_in_xlsx_is_stored_as_its_text_and_other_sheets_are_named():
    # given a workbook where a cell holds a real formula, and a second sheet
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "media", "prompt_zh", "title_zh"])
    sheet.append(["A1", "image", "山水", "=SUM(1,2)"])
    book.create_sheet("备注")
    buffer = io.BytesIO()
    book.save(buffer)

    # when it is imported
    result = prompt_batch_import(study=StudyFactory(), data=buffer.getvalue(), filename="f.xlsx")

    # then the formula is kept as typed (not evaluated), and the organizer is told of the sheet
    assert Prompt.objects.get().title_zh == "=SUM(1,2)"
    assert result.warnings == ["only the first sheet, “Sheet”, was read"]
