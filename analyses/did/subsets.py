"""Subsets of afdelinger the DiD comparisons are also estimated on (did.toml ``[split]``).

``[split.area_status]``: whether the afdeling's boligområde was on an official area list
(``OUT/areas/areas.parquet``, written by ``socialmix areas``; contract §8) in the pre-period — the
first heterogeneity an evaluator asks about (issue 17). Both sides of a comparison are restricted to
the subset: listed-area tool afdelinger against listed-area afdelinger using neither tool, and the
same for the rest. Rows carry the subset in the ``subset`` column of estimates.csv and tests.csv
(``area_listed_<version>`` / ``area_not_listed_<version>``; empty for the full comparison).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from panel.errors import InputError

AREAS = Path("areas") / "areas.parquet"


def subset_name(listed: bool, version: str) -> str:
    return f"area_{'listed' if listed else 'not_listed'}_{version}"


def area_status_subsets(out: str | Path, afd: pl.DataFrame, *, version: str, year: int,
                        unit: str = "afdeling_id") -> tuple[list[tuple[str, list[str]]], str]:
    """(subset name, afdeling ids) for listed and not-listed areas, and the summary.txt line saying how.

    Listed = a status other than ``none`` under rule ``version`` in ``year``, or (``year`` = 0) in any year
    before the first TOOL_START of the study afdelinger. An afdeling outside any boligområde is not in a
    listed area; one whose area has no status in those years (no row, or a null status) is in neither subset.
    """
    from panel.schema import scan_afdelinger

    path = Path(out) / AREAS
    if not path.is_file():
        raise InputError("[split.area_status] needs the area lists: run 'socialmix areas OUT' first", file=path)
    areas = pl.read_parquet(path, columns=["area", "year", "rule", "status"])
    versions = sorted(areas.get_column("rule").unique().to_list())
    if version not in versions:
        raise InputError(f"[split.area_status] version {version!r} is not in the area table "
                         f"(versions: {', '.join(versions) or 'none'})", file=path, column="rule")
    starts = afd.get_column("tool_start").drop_nulls()
    if year:
        years, when = [year], f"in {year}"
    else:
        first = int(starts.min()) if len(starts) else 10_000
        years = sorted(y for y in areas.get_column("year").unique().to_list() if y < first)
        when = f"in any pre-period year ({years[0]}-{years[-1]}, before the first TOOL_START {first})" if years \
            else "in the pre-period"
    rows = areas.filter((pl.col("rule") == version) & pl.col("year").is_in(years))
    if not rows.height:
        raise InputError(f"[split.area_status] the area table has no {version} statuses {when}", file=path,
                         column="year")
    listed = rows.group_by("area").agg(
        (pl.col("status").is_not_null() & (pl.col("status") != "none")).any().alias("listed"),
        pl.col("status").is_not_null().any().alias("known"))
    area_of = scan_afdelinger(out).select(unit, "boligomraade_id").collect()
    a = (afd.select(unit).join(area_of, on=unit, how="left")
         .join(listed, left_on="boligomraade_id", right_on="area", how="left")
         .with_columns(pl.when(pl.col("boligomraade_id").is_null()).then(False)
                       .when(pl.col("known").fill_null(False)).then(pl.col("listed")).otherwise(None)
                       .alias("listed")))
    unknown = a.filter(pl.col("listed").is_null()).height
    out_subsets = [(subset_name(flag, version), sorted(a.filter(pl.col("listed") == flag).get_column(unit).to_list()))
                   for flag in (True, False)]
    line = (f"subsets: afdelinger in areas on the {version} list {when} ({len(out_subsets[0][1])} study afdelinger) "
            f"and not ({len(out_subsets[1][1])}; outside any area counts as not listed)"
            + (f"; {unknown} without a status left out of both" if unknown else "")
            + "; both sides of each comparison restricted to the subset")
    return out_subsets, line
