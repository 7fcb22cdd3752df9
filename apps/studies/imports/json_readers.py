"""JSON (a list of objects, or ``{"prompts": [...]}``) and JSON Lines readers. Rows
are numbered from 1 (JSON: the object's place in the list; JSONL: the line)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from .columns import normalise_header
from .errors import ErrorCollector
from .limits import MAX_ROWS
from .tables import (
    JSON,
    JSONL,
    Table,
    cell_text,
    clean_cell,
    control_character_problem,
    too_many_rows_message,
)

# a \ud800 escape without its other half decodes to a lone surrogate, which no encoding
# can store (not the database, not the preview on disk); only JSON can hold one, as CSV
# and XLSX text is decoded from bytes
_SURROGATE = re.compile("[\ud800-\udfff]")
_HALF = "\ufffd"  # what takes its place, so that the preview can be shown and stored


def _json_value(value: object) -> str | None:
    """Text for a JSON value, or None for a list or object."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return cell_text(float(value) if isinstance(value, float) else value)
    return None


def _json_row(number: int, item: object, errors: ErrorCollector) -> dict[str, str] | None:
    if not isinstance(item, dict):
        errors.add(
            number, None, f"expected an object with the prompt's fields, got {_json_type(item)}"
        )
        return None
    values: dict[str, str] = {}
    for key, value in item.items():
        name = _field_name(key)
        text = _json_value(value)
        problem = _surrogate_problem(str(key)) or control_character_problem(name)
        if problem:
            errors.add(number, name, f"the field name {problem}")
        elif name in values:
            errors.add(number, name, "the field appears twice (in different spellings)")
        elif text is None:
            errors.add(number, name, f"expected text or a number, got {_json_type(value)}")
        else:
            problem = _surrogate_problem(text)
            if problem:
                errors.add(number, name, problem)
            values[name] = clean_cell(_SURROGATE.sub(_HALF, text), spreadsheet=False)
    return values


def _field_name(key: object) -> str:
    return normalise_header(_SURROGATE.sub(_HALF, str(key)))


def _surrogate_problem(text: str) -> str | None:
    half = _SURROGATE.search(text)
    if half is None:
        return None
    return (
        f"contains \\u{ord(half.group()):04x}, half of a character (a lone UTF-16 "
        "surrogate): fix the \\u escape in the file"
    )


def _json_type(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), "a number")


def _columns_of(items: list[object]) -> list[str]:
    columns: dict[str, None] = {}
    for item in items:
        if isinstance(item, dict):
            columns.update((_field_name(k), None) for k in item)
    return list(columns)


def read_json(text: str, errors: ErrorCollector) -> Table:
    try:
        # strict=False: a control character written raw inside a string is then the
        # cell's problem, named by row and field as in every other format
        document = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return read_jsonl(text, errors)  # JSON Lines in a file named .json
        raise errors.fatal(
            None, None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise errors.fatal(None, None, "not valid JSON (nested too deeply)") from None
    if isinstance(document, dict) and isinstance(document.get("prompts"), list):
        document = document["prompts"]
    if not isinstance(document, list):
        raise errors.fatal(
            None,
            None,
            f"expected a JSON list of objects, one per prompt; "
            f"the file holds {_json_type(document)}",
        )
    if not document:
        raise errors.fatal(None, None, "the file is empty: the list has no prompts")
    if len(document) > MAX_ROWS:
        raise errors.fatal(None, None, too_many_rows_message(f"{len(document):,} objects"))

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, item in enumerate(document, start=1):
            values = _json_row(number, item, errors)
            if values is not None:
                yield number, values

    return Table(JSON, _columns_of(document), None, rows())


def read_jsonl(text: str, errors: ErrorCollector) -> Table:
    items: list[tuple[int, object]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(items) >= MAX_ROWS:
            raise errors.fatal(
                number,
                None,
                too_many_rows_message(f"line {number} is prompt number {len(items) + 1:,}"),
            )
        try:
            items.append((number, json.loads(line, strict=False)))
        except json.JSONDecodeError as exc:
            errors.add(number, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
        except (ValueError, RecursionError):
            errors.add(number, None, "not valid JSON (nested too deeply)")
    if not items and not errors:
        raise errors.fatal(None, None, "the file is empty")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, item in items:
            values = _json_row(number, item, errors)
            if values is not None:
                yield number, values

    return Table(JSONL, _columns_of([item for _, item in items]), None, rows())
