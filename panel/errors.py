"""One error type for bad input, so every stage fails the same way.

The CLI prints ``str(err)`` as one line and exits non-zero; the traceback is
shown only with ``--debug``. Messages name the file, the column and the
problem, and must never carry a personal identifier value (PNR, FAMILIE_ID,
ADRESSE_ID): callers pass counts and codes, never the offending values of
identifier columns.
"""

from __future__ import annotations

from pathlib import Path

IDENTIFIER_COLUMNS = frozenset({"PNR", "FAMILIE_ID", "ADRESSE_ID"})


class SocialmixError(Exception):
    """A failure the user can fix: bad input, bad option, missing file."""

    exit_code = 2

    def __init__(self, problem: str, *, file: str | Path | None = None, column: str | None = None) -> None:
        self.file = str(file) if file is not None else None
        self.column = column
        self.problem = problem
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.column:
            parts.append(f"column {self.column}")
        parts.append(self.problem)
        return ": ".join(parts)


class InputError(SocialmixError):
    """Register or table input that violates the data contract."""


class DisclosureError(SocialmixError):
    """An output that would release microdata or an unprotected small cell."""
