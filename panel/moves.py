"""Move events of year t from the 31 Dec t-1 and 31 Dec t records (contract §2).

Only persons with an afdeling on at least one side can make an event, so
each side is filtered to public housing first and joined (on the integer
PNR hash) against the whole other year; no string self-join.

| t-1 | t | kind |
|---|---|---|
| afdeling A | A, other address | internal |
| afdeling A | B != A | between |
| not public housing | B | into_sector |
| afdeling A | not public housing | out_of_sector |
| not in BEF, born before t | B | immigration |
| not in BEF, born in t | B | birth |
| afdeling A | not in BEF | exit |
"""

from __future__ import annotations

import polars as pl

from panel.schema import MOVES_SCHEMA

#: columns of a year a move comparison needs
MOVE_COLUMNS = ["PNR_h", "person_id", "afd", "ADRESSE_ID_h", "FOED_DAG"]
_AFD = pl.Int32()


def classify_moves(prev: pl.LazyFrame, cur: pl.LazyFrame, year: int) -> pl.LazyFrame:
    """Events of ``year``: person_id, year, kind, from_afd, to_afd (afdeling codes, not names).

    Examples
    --------
    >>> p = pl.LazyFrame({"PNR_h": [1, 2], "person_id": [0, 1], "afd": [5, None], "ADRESSE_ID_h": [10, 20],
    ...                   "FOED_DAG": [None, None]}, schema_overrides={"FOED_DAG": pl.Date})
    >>> c = pl.LazyFrame({"PNR_h": [1, 2], "person_id": [0, 1], "afd": [5, 5], "ADRESSE_ID_h": [11, 12],
    ...                   "FOED_DAG": [None, None]}, schema_overrides={"FOED_DAG": pl.Date})
    >>> classify_moves(p, c, 2005).collect()["kind"].sort().to_list()
    ['internal', 'into_sector']
    """
    prev = prev.select(MOVE_COLUMNS).with_columns(pl.col("afd").cast(_AFD))
    cur = cur.select(MOVE_COLUMNS).with_columns(pl.col("afd").cast(_AFD))
    # Out of an afdeling (or within it): everyone in public housing at t-1, looked up at t.
    at_t = cur.select("PNR_h", pl.col("afd").alias("afd_t"), pl.col("ADRESSE_ID_h").alias("adr_t"),
                      pl.lit(True).alias("in_t"))
    out_side = (
        prev.filter(pl.col("afd").is_not_null())
        .join(at_t, on="PNR_h", how="left")
        .select(
            "person_id",
            pl.when(pl.col("in_t").is_null()).then(pl.lit("exit"))
            .when(pl.col("afd_t").is_null()).then(pl.lit("out_of_sector"))
            .when(pl.col("afd_t") != pl.col("afd")).then(pl.lit("between"))
            .when(pl.col("adr_t").ne_missing(pl.col("ADRESSE_ID_h"))).then(pl.lit("internal"))
            .alias("kind"),
            pl.col("afd").alias("from_afd"),
            pl.col("afd_t").alias("to_afd"),
        )
        .filter(pl.col("kind").is_not_null())
    )
    # Into an afdeling from outside it: everyone in public housing at t not in public housing at t-1.
    at_prev = prev.select("PNR_h", pl.col("afd").alias("afd_p"), pl.lit(True).alias("in_p"))
    in_side = (
        cur.filter(pl.col("afd").is_not_null())
        .join(at_prev, on="PNR_h", how="left")
        .filter(pl.col("afd_p").is_null())
        .select(
            "person_id",
            pl.when(pl.col("in_p").is_not_null()).then(pl.lit("into_sector"))
            .when(pl.col("FOED_DAG").dt.year() == year).then(pl.lit("birth"))
            .otherwise(pl.lit("immigration")).alias("kind"),
            pl.lit(None, dtype=_AFD).alias("from_afd"),
            pl.col("afd").alias("to_afd"),
        )
    )
    return pl.concat([out_side, in_side]).with_columns(pl.lit(year, dtype=pl.Int32).alias("year"))


def name_moves(moves: pl.LazyFrame, afdeling: pl.DataFrame) -> pl.LazyFrame:
    """Replace afdeling codes by AFDELING_ID strings, in MOVES_SCHEMA."""
    def name(col: str) -> pl.Expr:
        return pl.col(col).replace_strict(afdeling["afd"], afdeling["AFDELING_ID"], default=None,
                                          return_dtype=pl.String)

    return moves.select(
        pl.col("person_id"), pl.col("year"), pl.col("kind"),
        name("from_afd").alias("from_afdeling"), name("to_afd").alias("to_afdeling"),
    ).select([pl.col(c).cast(t) for c, t in MOVES_SCHEMA.items()])
