"""Bytes to text: UTF-8 (with or without BOM) and GB18030/GBK, which is what
Excel in a Chinese locale writes when asked for "CSV". The encoding is detected,
or declared by the user; a declared encoding that does not fit the bytes is
refused with a message that says which encoding the file seems to be in."""

from __future__ import annotations

import re

from .errors import ErrorCollector

UTF8_BOM = b"\xef\xbb\xbf"
AUTO, UTF8, GB18030 = "auto", "utf-8", "gb18030"
ENCODINGS = (AUTO, UTF8, GB18030)
_ALIASES = {
    "": AUTO,
    "auto": AUTO,
    "utf8": UTF8,
    "utf-8": UTF8,
    "utf-8-sig": UTF8,
    "utf_8": UTF8,
    "gb18030": GB18030,
    "gbk": GB18030,  # GB18030 is a superset of GBK and GB2312
    "gb2312": GB18030,
    "cp936": GB18030,
}
GB_HINT = "GB18030/GBK (what Excel in Chinese saves as “CSV”)"
# A stray control character in a cell is that cell's problem, which validation names by
# row and column; a file where they are common is not text at all (a database, a program,
# UTF-16 without its byte-order mark: NUL bytes everywhere). In UTF-8 and GB18030 alike
# these bytes are never part of another character, so they are counted before decoding.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_FIRST_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BINARY_MIN_CONTROLS = 8
BINARY_CONTROL_SHARE = 0.05


def normalise_encoding(name: str) -> str | None:
    """The canonical name of a supported encoding, or None."""
    return _ALIASES.get(name.strip().lower())


def _row_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _binary_problem(data: bytes) -> str | None:
    """Why ``data`` is not text but binary, or None. Names no row: the whole file is wrong,
    and before it is parsed a line is not a row (a JSON file is often one line)."""
    count = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if count < BINARY_MIN_CONTROLS or count < BINARY_CONTROL_SHARE * len(data):
        return None
    first = _FIRST_CONTROL.search(data)
    assert first is not None
    return (
        f"binary data, not text (it holds {count:,} control characters, the first "
        f"U+{first.group()[0]:04X}): upload a CSV, XLSX, JSON or JSONL file"
    )


def _try(data: bytes, encoding: str) -> tuple[str | None, UnicodeDecodeError | None]:
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as exc:
        return None, exc


def decode_text(data: bytes, *, declared: str, errors: ErrorCollector) -> str:
    """Decode ``data`` as ``declared`` (``auto``, ``utf-8`` or ``gb18030``); raise
    ``ImportErrors`` naming the row of the first byte that does not fit."""
    encoding = normalise_encoding(declared)
    if encoding is None:
        raise errors.fatal(None, None, f"unknown encoding {declared!r}: use UTF-8 or GB18030")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise errors.fatal(
            None,
            None,
            "the file is UTF-16 text (Excel's “Unicode text”): save it as “CSV UTF-8” instead",
        )
    binary = _binary_problem(data)
    if binary:
        raise errors.fatal(None, None, binary)
    has_bom = data.startswith(UTF8_BOM)
    body = data[len(UTF8_BOM) :] if has_bom else data

    if encoding == GB18030:
        if has_bom:
            raise errors.fatal(
                None,
                None,
                "the file was declared GB18030/GBK, but it starts with a UTF-8 "
                "byte-order mark: it is UTF-8. Choose UTF-8 or automatic detection",
            )
        as_utf8, _ = _try(body, "utf-8")
        if as_utf8 is not None and not as_utf8.isascii():
            raise errors.fatal(
                None,
                None,
                "the file was declared GB18030/GBK, but it is UTF-8: read as "
                "GB18030 its Chinese text would be garbled. Choose UTF-8 or automatic detection",
            )
        text, exc = _try(body, "gb18030")
        if exc is not None:
            raise errors.fatal(
                _row_of(body, exc.start),
                None,
                "bytes that are not GB18030/GBK text; is the file really in this encoding?",
            )
    else:
        text, exc = _try(body, "utf-8")
        if exc is not None:
            row = _row_of(body, exc.start)
            as_gb, _ = _try(body, "gb18030")
            if as_gb is not None and encoding == UTF8:
                raise errors.fatal(
                    row,
                    None,
                    f"the file was declared UTF-8, but this row is not UTF-8; the "
                    f"file looks like {GB_HINT}. Choose GB18030 or automatic detection",
                )
            if as_gb is None or has_bom:
                raise errors.fatal(
                    row,
                    None,
                    "bytes that are neither UTF-8 nor GB18030/GBK text: is this "
                    "a binary file? Save the sheet as “CSV UTF-8”",
                )
            text = as_gb
    assert text is not None
    return text
