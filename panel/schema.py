"""The person-year panel and moves as later stages see them.

This is the interface between ``panel`` and everything downstream: queries
and analyses read OUT only through :func:`scan_panel`, :func:`scan_moves` and
:func:`scan_afdelinger`, so the on-disk layout can change in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from pathlib import Path

import polars as pl

from panel.errors import InputError

# Contract §4 columns first, then socialmix's own additions.
PANEL_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int32(),  # integer surrogate, never the PNR
    "year": pl.Int32(),
    "afdeling_id": pl.String(),  # null = not in public housing
    "helhedsplan_id": pl.String(),  # null = not a study afdeling
    "age": pl.Int16(),  # completed years on 31 Dec
    "sex": pl.Int8(),  # 1 man, 2 woman
    "non_western": pl.Boolean(),
    "education_level": pl.String(),  # H10..H80, null = unknown
    "competence_education": pl.Boolean(),  # LEVEL >= H20, null = unknown
    "socio_category": pl.String(),  # AKM category, null = unknown
    "in_labour_force": pl.Boolean(),  # null = adult with unknown status
    "employed": pl.Boolean(),  # null = unknown status
    "hh_income_2013": pl.Float64(),  # household disposable income, 2013 kr
    # additions
    "household_id": pl.Int32(),  # per-year surrogate of FAMILIE_ID (null FAMILIE_ID = own household)
    "income_2013": pl.Float64(),  # the person's own DISPON_NY in 2013 kr (0 if no IND row)
    "hh_size": pl.Int16(),  # persons in the household (BEF, same year)
    "kom": pl.Int16(),  # municipality: BEF KOM if delivered, else the afdeling's KOM, else null
    "ie_type": pl.Int8(),
    # household composition (panel/registers.toml [derive.household]); null in panels built before it
    "hh_adults": pl.Int16(),  # members aged >= adult_age
    "hh_n14": pl.Int16(),  # members aged >= equivalence_adult_age
    "hh_u14": pl.Int16(),  # members younger than equivalence_adult_age
    "hh_children": pl.Int16(),  # members younger than child_age
    "hh_rs": pl.Boolean(),  # a member is resource-strong (age and AKM category)
    "hh_couple": pl.Boolean(),  # the person is one of the household's couple (panel.derive.couple_flags)
}
# Area inputs (contract §8), all optional in a delivery: null where not delivered and in panels built before
# them. Kept apart from PANEL_SCHEMA so tables of the contract columns need not carry them.
AREA_SCHEMA: dict[str, pl.DataType] = {
    "boligomraade_id": pl.String(),  # the afdeling's physically connected area, null = none / not delivered
    "gross_income_2013": pl.Float64(),  # the person's PERINDKIALT in 2013 kr, null = not delivered / no IND row
    "convicted": pl.Boolean(),  # a counted conviction decided in the year; null = no conviction register
}
HOUSEHOLD_COMPOSITION = ("hh_adults", "hh_n14", "hh_u14", "hh_children", "hh_rs", "hh_couple")
HOUSEHOLD_METADATA = "socialmix.household"  # parquet key-value metadata: the parameters of those columns
# may be absent from a partition file: year comes from the partition name; panels built before the
# household columns lack them (scan_panel reads them as null)
PANEL_OPTIONAL = ("year", *HOUSEHOLD_COMPOSITION, *AREA_SCHEMA)

MOVES_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Int32(),
    "year": pl.Int32(),
    "kind": pl.String(),
    "from_afdeling": pl.String(),
    "to_afdeling": pl.String(),
}

AFDELING_SCHEMA: dict[str, pl.DataType] = {
    "afdeling_id": pl.String(),
    "helhedsplan_id": pl.String(),
    "kom": pl.Int16(),
    "anvisning": pl.Boolean(),
    "fleksibel": pl.Boolean(),
    "tool_start": pl.Int32(),
    "flex_share": pl.Float64(),
}
AFDELING_OPTIONAL: dict[str, pl.DataType] = {"boligomraade_id": pl.String()}  # contract §8

MOVE_KINDS = ("internal", "between", "into_sector", "out_of_sector", "immigration", "birth", "exit")
IN_KINDS = ("between", "into_sector", "immigration")
OUT_KINDS = ("between", "out_of_sector")

GROUPS = ("any_tool", "anvisning_only", "fleksibel_only", "both", "neither")
TOOL_PARTS = ("anvisning_only", "fleksibel_only", "both")  # disjoint groups whose union is any_tool

# Layout of OUT written by ``socialmix build``.
PANEL_DIR = "panel"  # panel/year=YYYY/part-0.parquet, panel years only
BASE_DIR = "panel_base"  # year Y1-1 in the same schema: out-movers of Y1 are measured on it
MOVES_FILE = "moves.parquet"
KOMMUNE_REGION_FILE = "kommune_region.parquet"  # KOM -> REGION, copied from lookup/kommune_region.csv if delivered
AFDELING_FILE = "afdeling.parquet"  # copy of lookup/afdeling with lower-case names
RECONCILIATION_FILE = "reconciliation.json"


def _need(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} not found; run 'socialmix build' first", file=path)


def _family(dtype: pl.DataType) -> str:
    """A type's family: a table rewritten by another tool may hold Int64 where the build wrote Int32."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "string"
    return "null" if dtype == pl.Null else str(dtype)


_READS = {"integer": {"integer", "null"}, "float": {"float", "integer", "null"}, "boolean": {"boolean", "null"},
          "string": {"string", "null"}}  # the families a column of each family is read from


@functools.lru_cache(maxsize=4096)
def _file_schema(path: str, mtime_ns: int, size: int) -> dict[str, pl.DataType]:
    """The schema in a parquet footer, read once per file version (the scans run once per record year)."""
    try:
        return dict(pl.read_parquet_schema(path))
    except Exception as err:  # polars raises several types for a damaged or foreign file
        raise InputError(f"not a readable parquet file ({type(err).__name__})", file=path) from None


def check_columns(path: str | Path, schema: Mapping[str, pl.DataType], *, optional: Collection[str] = ()) -> None:
    """Fail with the file, the column and the problem when a table of OUT lacks a column or holds another type.

    Without this a damaged OUT (a partition copied from an older build, a
    hand-edited file) fails deep inside a query with a polars error that
    names neither. Reads only the parquet footer.

    Examples
    --------
    >>> check_columns("OUT/moves.parquet", MOVES_SCHEMA)  # None: the columns are right
    """
    path = Path(path)
    st = path.stat()
    have = _file_schema(str(path), st.st_mtime_ns, st.st_size)
    for col, want in schema.items():
        if col not in have:
            if col in optional:
                continue
            raise InputError("column missing", file=path, column=col)
        if _family(have[col]) not in _READS[_family(want)]:
            raise InputError(f"has type {have[col]}, expected {want}", file=path, column=col)


def _panel_files(d: Path) -> list[Path]:
    """The parquet files a scan of panel directory ``d`` reads (none if it is absent), each checked."""
    files = sorted(d.rglob("*.parquet")) if d.is_dir() else []
    for f in files:
        check_columns(f, {**PANEL_SCHEMA, **AREA_SCHEMA}, optional=PANEL_OPTIONAL)
    return files


def scan_panel(out: str | Path, *, include_base: bool = False) -> pl.LazyFrame:
    """Lazily scan the person-year panel of OUT (optionally with year Y1-1).

    Examples
    --------
    >>> scan_panel("OUT").filter(pl.col("year") == 2010).select(pl.len()).collect().item() > 0
    True
    """
    out = Path(out)
    _need(out / PANEL_DIR, "panel")
    dirs = [out / PANEL_DIR] + ([out / BASE_DIR] if include_base and (out / BASE_DIR).exists() else [])
    for d in dirs:
        if not _panel_files(d):
            raise InputError("no parquet files in the panel directory; run 'socialmix build' first", file=d)
    frames = [
        pl.scan_parquet(d / "**" / "*.parquet", hive_partitioning=True, hive_schema={"year": pl.Int32()})
        for d in dirs
    ]
    lf = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    have = set(lf.collect_schema().names())
    optional = (*HOUSEHOLD_COMPOSITION, *AREA_SCHEMA)
    return lf.select([(pl.col(c) if c in have or c not in optional else pl.lit(None)).cast(t).alias(c)
                      for c, t in {**PANEL_SCHEMA, **AREA_SCHEMA}.items()])


def household_parameters(out: str | Path) -> dict | None:
    """The parameters the panel's household composition columns were built with (None: not built with them).

    Read from the key-value metadata of every panel partition; None unless all agree.

    Examples
    --------
    >>> household_parameters("OUT")["child_age"]
    18
    """
    import json

    # checked first: a damaged file gets an error naming it, not the metadata reader's
    files = _panel_files(Path(out) / PANEL_DIR) + _panel_files(Path(out) / BASE_DIR)
    found = {pl.read_parquet_metadata(f).get(HOUSEHOLD_METADATA) for f in files}
    if len(found) != 1 or None in found:
        return None
    return json.loads(found.pop())


def record_years(out: str | Path, *, include_base: bool = False) -> list[int]:
    """The years of OUT's panel partitions (``year=YYYY`` directories holding parquet files), from the listing.

    Scanning the ``year`` column of every file costs ~0.2 s at whole-population
    scale; the partition names say the same.

    Examples
    --------
    >>> record_years("OUT", include_base=True)
    [2003, 2004, ..., 2013]
    """
    out = Path(out)
    _need(out / PANEL_DIR, "panel")
    dirs = [out / PANEL_DIR] + ([out / BASE_DIR] if include_base else [])
    years = set()
    for d in dirs:
        for part in d.glob("year=*") if d.is_dir() else []:
            if part.name[5:].isdigit() and any(part.glob("*.parquet")):
                years.add(int(part.name[5:]))
    return sorted(years)


def scan_moves(out: str | Path) -> pl.LazyFrame:
    """Lazily scan the move events of OUT."""
    path = Path(out) / MOVES_FILE
    _need(path, "moves")
    check_columns(path, MOVES_SCHEMA)
    return pl.scan_parquet(path).select([pl.col(c).cast(t) for c, t in MOVES_SCHEMA.items()])


def scan_afdelinger(out: str | Path) -> pl.LazyFrame:
    """Lazily scan the afdeling attributes of OUT (groups are derived in queries)."""
    path = Path(out) / AFDELING_FILE
    _need(path, "afdeling table")
    check_columns(path, {**AFDELING_SCHEMA, **AFDELING_OPTIONAL}, optional=AFDELING_OPTIONAL)
    lf = pl.scan_parquet(path)
    have = set(lf.collect_schema().names())
    return lf.select([(pl.col(c) if c in have else pl.lit(None)).cast(t).alias(c)
                      for c, t in {**AFDELING_SCHEMA, **AFDELING_OPTIONAL}.items()])
