"""The errors of reading a tidy CSV: one :class:`RowError` per problem, all raised together.

Loading never stops at the first problem: every bad row is collected as a
:class:`RowError` and raised together in one :class:`TidyError`, whose message
names the rows (1-based, the header being row 1, as a spreadsheet shows them).
Pure Python, so the message can be shown without loading pandas.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class RowError:
    """One problem in one row. ``row`` is 1-based with the header as row 1;
    ``detail`` carries the offending value or the row it clashes with."""

    row: int
    column: str | None
    message: str
    detail: str = ""


class TidyError(ValueError):
    """All problems found in one file, summarised by kind with row numbers."""

    def __init__(self, errors: list[RowError], *, source: str = "", max_rows: int = 10):
        self.errors = errors
        self.source = source
        self.max_rows = max_rows
        super().__init__(self.summary())

    def summary(self) -> str:
        groups: dict[tuple[str | None, str], list[RowError]] = defaultdict(list)
        for error in self.errors:
            groups[(error.column, error.message)].append(error)
        n_rows = len({e.row for e in self.errors})
        head = f"{self.source}: " if self.source else ""
        lines = [
            f"{head}{len(self.errors)} problem{'s' * (len(self.errors) != 1)} "
            f"in {n_rows} row{'s' * (n_rows != 1)}"
        ]
        for (column, message), errors in groups.items():
            where = f" (column {column!r})" if column else ""
            shown = ", ".join(
                f"{e.row} ({e.detail})" if e.detail else str(e.row) for e in errors[: self.max_rows]
            )
            more = f" and {len(errors) - self.max_rows} more" if len(errors) > self.max_rows else ""
            count = f"{len(errors)} row{'s' * (len(errors) != 1)}"
            lines.append(f"  - {message}{where}: {count}: row {shown}{more}")
        return "\n".join(lines)
