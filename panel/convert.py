"""``socialmix convert``: DST SAS7BDAT deliveries -> the REG layout of contract §1.

DST delivers registers as SAS7BDAT files (``bef201312.sas7bdat``,
``udda2013.sas7bdat`` ...). Each register's ``sas_pattern`` in the register
config (a glob with ``{year}``) finds them in SRC; each file is read in
chunks with ``pyreadstat.read_file_in_chunks`` (a register-year never has to
fit in memory) and streamed into ``REG/<pattern>`` as parquet, keeping the
delivered column names the config lists for that year. SAS stores dates as
numbers (days since 1960-01-01, or seconds for datetimes) with a date format;
columns typed ``date`` in the config are converted to real dates whether or
not the format survived. SAS has no missing string: empty strings become null.
A ``SRC/lookup/`` folder, if present, is copied as is.

Everything is written through :func:`panel.atomic.staged_dir`: a failed
conversion leaves REG as it was; the register folders written replace those
of REG as a whole.

Examples
--------
>>> convert("delivery/", "REG/")  # doctest: +SKIP
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from panel import progress
from panel.atomic import staged_dir
from panel.errors import InputError, SocialmixError
from panel.regconfig import REGISTERS, Config, load_register_config, register_file

CHUNKSIZE = 500_000
SAS_EPOCH = pl.date(1960, 1, 1)
_DATETIME_FORMATS = ("DATETIME", "E8601DT", "B8601DT", "DTDATE")


def find_sas_files(src: Path, pattern: str) -> dict[int, Path]:
    """Year -> file of one register in SRC (``pattern`` is a glob with ``{year}``)."""
    rx = re.compile("^" + re.escape(pattern).replace(r"\{year\}", r"(?P<year>\d{4})").replace(r"\*", ".*") + "$",
                    re.IGNORECASE)
    found: dict[int, Path] = {}
    for p in sorted(src.rglob("*")):
        m = rx.match(p.name)
        if p.is_file() and m:
            year = int(m.group("year"))
            if year in found:
                raise InputError(f"two files match {pattern!r} for {year} ({found[year].name} and {p.name})",
                                 file=src)
            found[year] = p
    return found


def _to_date(col: str, fmt: str | None) -> pl.Expr:
    c = pl.col(col)
    if isinstance(fmt, str) and fmt.upper().startswith(_DATETIME_FORMATS):
        return (SAS_EPOCH.cast(pl.Datetime("ms")) + pl.duration(milliseconds=(c * 1000).round(0).cast(pl.Int64))).dt.date()
    return SAS_EPOCH + pl.duration(days=c.round(0).cast(pl.Int64))


def _chunk(df: pl.DataFrame, names: dict[str, str], types: dict[str, str], formats: dict[str, Any]) -> pl.DataFrame:
    """Delivered columns of one chunk, cast to the config's types (names: canonical -> delivered)."""
    out = []
    for canon, col in names.items():
        typ = types.get(canon, "str")
        s = df[col]
        if typ == "str":
            e = pl.col(col).cast(pl.String)
            e = pl.when(e.str.strip_chars() == "").then(None).otherwise(e.str.strip_chars())
            if s.dtype.is_float():  # a numeric identifier: no decimals
                e = pl.col(col).cast(pl.Int64).cast(pl.String)
        elif typ == "date":
            e = _to_date(col, formats.get(col)) if s.dtype.is_numeric() else pl.col(col)
        elif typ == "int":
            e = pl.col(col).round(0).cast(pl.Int64) if s.dtype.is_float() else pl.col(col)
        elif typ == "float":
            e = pl.col(col).cast(pl.Float64)
        else:
            e = pl.col(col)
        out.append(e.alias(col))
    return df.select(out)


def convert_file(sas: Path, target: Path, register: str, year: int, cfg: Config, *, chunksize: int = CHUNKSIZE) -> int:
    """Stream one SAS7BDAT file into a parquet file; returns the rows written."""
    import pyarrow.parquet as pq
    import pyreadstat

    f = register_file(".", register, year, cfg)
    _, meta = pyreadstat.read_sas7bdat(sas, metadataonly=True)
    present = set(meta.column_names)
    upper = {c.upper(): c for c in present}
    names = {}
    for canon, col in f.columns.items():
        actual = col if col in present else upper.get(col.upper())
        if actual is None:
            if canon in f.optional:
                continue
            raise InputError("column missing (the register config names it for "
                             f"{canon} in {year})", file=sas, column=col)
        names[canon] = actual
    formats = dict(meta.original_variable_types or {})
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    rows = 0
    try:
        for df, _ in pyreadstat.read_file_in_chunks(pyreadstat.read_sas7bdat, sas, chunksize=chunksize,
                                                    usecols=list(names.values()), output_format="polars",
                                                    disable_datetime_conversion=True):
            chunk = _chunk(df, names, f.types, formats).rename({a: f.columns[c] for c, a in names.items()})
            table = chunk.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, compression="zstd")
            elif table.schema != writer.schema:
                table = table.cast(writer.schema)
            writer.write_table(table)
            rows += chunk.height
    except pyreadstat.ReadstatError as err:
        raise InputError(f"cannot be read as SAS7BDAT ({err})", file=sas) from None
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise InputError("file has no rows", file=sas)
    return rows


def convert(src: str | Path, reg: str | Path, *, config: str | Path | Config | None = None,
            chunksize: int = CHUNKSIZE) -> dict[str, dict[int, int]]:
    """Convert every SAS7BDAT register file in ``src`` into ``reg``; returns rows per register and year.

    Examples
    --------
    >>> convert("delivery", "REG", config="my_registers.toml")  # doctest: +SKIP
    {'bef': {2003: 5800000, ...}, ...}
    """
    src, reg = Path(src), Path(reg)
    if not src.is_dir():
        raise InputError("SAS delivery folder not found", file=src)
    cfg = load_register_config(config)
    plan = {r: find_sas_files(src, cfg["registers"][r].get("sas_pattern", f"{r}{{year}}*.sas7bdat"))
            for r in REGISTERS}
    if not any(plan.values()) and not (src / "lookup").is_dir():
        raise SocialmixError("no SAS7BDAT file matching the register config's sas_pattern", file=src)
    rows: dict[str, dict[int, int]] = {}
    with staged_dir(reg) as tmp:
        for register, files in plan.items():
            for year, sas in sorted(files.items()):
                target = tmp / cfg["registers"][register]["pattern"].format(year=year)
                with progress.step(f"convert {register.upper()} {year}"):
                    rows.setdefault(register, {})[year] = convert_file(sas, target, register, year, cfg,
                                                                       chunksize=chunksize)
        if (src / "lookup").is_dir():
            shutil.copytree(src / "lookup", tmp / "lookup")
    return rows
