"""Checks of delivered data, each failing with an InputError naming file, column and problem.

Messages carry counts and codes (codes are not identifiers), never a value
of an identifier column. Every check here works on whole columns (no Python
loops over rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from panel.errors import IDENTIFIER_COLUMNS, InputError

MAX_LISTED_CODES = 10


def need_file(path: Path, what: str) -> None:
    """A needed file must exist."""
    if not path.is_file():
        raise InputError(f"{what} file is missing", file=path)


def need_columns(path: Path, present: list[str], wanted: dict[str, str], optional: frozenset[str] = frozenset()) -> None:
    """Every delivered column the config names for this file must be there (``wanted``: canonical -> delivered)."""
    for canon, actual in wanted.items():
        if actual not in present and canon not in optional:
            raise InputError(f"column missing (the register config names it for {canon}; "
                             f"the file has {len(present)} columns)", file=path, column=actual)


def cast_failures(raw: pl.Series, cast: pl.Series) -> int:
    """Values present before the cast and null after it (could not be read as the type)."""
    return int((raw.is_not_null() & cast.is_null()).sum())


def fail_cast(path: Path, column: str, n: int, total: int, typ: str, dtype: pl.DataType) -> None:
    if n:
        raise InputError(f"{n} of {total} values cannot be read as {typ} (delivered type {dtype})",
                         file=path, column=column)


def code_counts_text(codes: pl.Series) -> str:
    """'777 (5 rows), 12 (1 row)' for the most frequent offending codes (never for identifiers)."""
    vc = codes.value_counts(sort=True)
    name = codes.name
    parts = [f"{c} ({n} row{'s' if n != 1 else ''})" for c, n in vc.head(MAX_LISTED_CODES).iter_rows()]
    more = vc.height - MAX_LISTED_CODES
    if more > 0:
        parts.append(f"and {more} more")
    assert_not_identifier(name)
    return ", ".join(parts)


def assert_not_identifier(name: str) -> None:
    """Guard: code listings must never be made of identifier values."""
    if name in IDENTIFIER_COLUMNS:
        raise RuntimeError("refusing to list values of an identifier column")


def unknown_codes(path: Path, column: str, values: pl.Series, known: pl.Series, *, what: str,
                  allow: bool) -> int:
    """Count non-null ``values`` not in ``known``; fail listing them unless ``allow``."""
    bad = values.filter(values.is_not_null() & ~values.is_in(known))
    if bad.len() and not allow:
        raise InputError(f"{bad.len()} rows with codes {what}: {code_counts_text(bad.rename(column))}"
                         " (use --allow-unknown-codes to map them to unknown)", file=path, column=column)
    return bad.len()


def no_duplicate_keys(path: Path, column: str, h1: pl.Series, h2: pl.Series, what: str) -> None:
    """No identifier may occur twice; checked on its two hashes (a 64-bit collision is told apart)."""
    dup1 = h1.is_duplicated()
    if not dup1.any():
        return
    both = pl.DataFrame({"a": h1, "b": h2})
    n = int(both.is_duplicated().sum())
    if n:
        raise InputError(f"{n} rows share their {column} with another row ({what})", file=path, column=column)
    raise RuntimeError(f"64-bit hash collision among {column} values; rerun with a different hash seed")


def join_loss(year: int, files: dict[str, Any], counts: dict[str, Any], left_out: dict[str, int],
              limits: dict[str, Any]) -> None:
    """Stop when a join on PNR loses more of a register's rows than the register config allows.

    Two ways to lose rows: register rows with no person in that year's BEF
    (``orphans``: dropped) and BEF persons with no row of the register
    (``no_<register>_row``: 0 kr, unknown education or status). Both are
    normal in small numbers (deaths and emigration in December, children
    without education records); a share beyond ``[join_loss.<register>]`` is
    a delivery whose PNRs do not match — e.g. a PNR stored as a number, which
    loses its leading zero — and every result built on it would be wrong
    without a word. Below ``min_rows`` lost rows a share is not judged (a
    tiny delivery). Counts only: never an identifier value.
    """
    floor = int(limits.get("min_rows", 0))
    bef = counts["bef"]["read"]
    for reg, lim in limits.items():
        if not isinstance(lim, dict) or reg not in files:
            continue
        f = files[reg]
        read, orphans, without = counts[reg]["read"], counts[reg]["orphans"], left_out.get(f"no_{reg}_row", 0)
        for lost, total, key, what in (
            (orphans, read, "max_orphans", f"rows have no person in BEF {year}"),
            (without, bef, "max_without_row", f"persons of BEF {year} have no row here"),
        ):
            share = lost / total if total else 0.0
            if lost > floor and share > float(lim[key]):
                raise InputError(
                    f"{lost:,} of {total:,} {what} ({share:.1%}; the register config allows {float(lim[key]):.0%}, "
                    f"[join_loss.{reg}] {key}): do the PNRs match those of BEF (same type, leading zeros)?",
                    file=f.path, column=f.columns.get("PNR", "PNR"))
