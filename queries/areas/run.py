"""``socialmix areas OUT``: the official area criteria and statuses per rule version under OUT/areas/.

Reads the panel (with the year before the panel years, so the first year's
2-year means exist), the afdelinger's ``boligomraade_id`` and the
municipality → region lookup the build copied into OUT. Writes
``areas.parquet``/``.csv`` (contract §8) and ``afdelinger.parquet``/``.csv``
(the criteria flags of each afdeling), atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from panel.atomic import staged_dir
from panel.errors import InputError
from panel.progress import step
from panel.schema import KOMMUNE_REGION_FILE, scan_panel
from queries.areas.evaluate import AFDELING_COLUMNS, AREA_COLUMNS, evaluate
from queries.areas.rules import load_rule, shipped_versions
from queries.disclosure import Rules, check_released

AREAS_DIR = "areas"
DEFAULT_VERSIONS = ("2015", "2018", "kombineret_pre2009", "kombineret_2009")
NEEDS = {  # panel column -> (what the delivery must hold, which criterion needs it)
    "boligomraade_id": ("BOLIGOMRAADE_ID in lookup/afdeling.parquet", "every criterion"),
    "gross_income_2013": ("PERINDKIALT in ind/ind_YYYY.parquet", "income_ratio"),
    "convicted": ("kraf/kraf_YYYY.parquet", "convicted"),
}


def area_inputs_present(out: str | Path) -> str | None:
    """None if OUT holds every area input, else what the delivery lacked (for ``run``'s message)."""
    out = Path(out)
    if not (out / "panel").is_dir():
        return "a built panel"
    panel = scan_panel(out)
    present = panel.select([pl.col(c).is_not_null().any() for c in NEEDS]).collect().row(0)
    lacking = [what for (what, _), ok in zip(NEEDS.values(), present, strict=True) if not ok]
    if not (out / KOMMUNE_REGION_FILE).is_file():
        lacking.append("lookup/kommune_region.csv")
    return ", ".join(lacking) or None


def area_persons(out: str | Path) -> pl.LazyFrame:
    """Person-years with the columns the criteria read; an error names what the delivery lacked."""
    out = Path(out)
    panel = scan_panel(out, include_base=True)
    present = panel.select([pl.col(c).is_not_null().any() for c in NEEDS]).collect().row(0)
    for (col, (what, crit)), ok in zip(NEEDS.items(), present, strict=True):
        if not ok:
            raise InputError(f"the panel has no {col}: {crit} needs {what}; rebuild from a delivery with it",
                             file=out / "panel", column=col)
    regions_file = out / KOMMUNE_REGION_FILE
    if not regions_file.is_file():
        raise InputError("no municipality -> region lookup in OUT: income_ratio needs lookup/kommune_region.csv "
                         "in the delivery; rebuild with it", file=regions_file)
    regions = pl.read_parquet(regions_file).select(pl.col("kom").cast(pl.Int16), pl.col("region").cast(pl.Int16))
    return (panel.select(area="boligomraade_id", afdeling="afdeling_id", year="year", age="age",
                         non_western="non_western", socio_category="socio_category",
                         education_level="education_level", convicted="convicted",
                         gross_income="gross_income_2013", kom="kom")
            .join(regions.lazy(), on="kom", how="left").drop("kom"))


def area_tables(out: str | Path, *, versions: Sequence[str] | None = None,
                rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(areas, afdelinger) for every requested rule version, disclosure-controlled, panel years only."""
    names = list(versions or DEFAULT_VERSIONS)
    persons = area_persons(out)
    years = scan_panel(out).select(pl.col("year").unique()).collect()["year"]
    areas, afds = [], []
    for name in names:
        with step(f"areas: rule version {name}"):
            a, f = evaluate(persons, load_rule(name), min_persons=rules.min_persons,
                            class_min_n=rules.class_min_n)
        areas.append(a.filter(pl.col("year").is_in(years.implode())))
        afds.append(f.filter(pl.col("year").is_in(years.implode())))
    return (pl.concat(areas).sort("rule", "area", "year").select(AREA_COLUMNS),
            pl.concat(afds).sort("rule", "afdeling", "year").select(AFDELING_COLUMNS))


def run_areas(out: str | Path, *, versions: Sequence[str] | None = None, rules: Rules) -> None:
    """Write OUT/areas/ (areas and afdelinger tables, .parquet and .csv).

    Examples
    --------
    >>> from queries.disclosure import load_rules
    >>> run_areas("OUT", versions=["2018"], rules=load_rules("dst"))  # doctest: +SKIP
    """
    unknown = [v for v in (versions or []) if v not in shipped_versions() and not str(v).endswith(".toml")]
    if unknown:
        raise InputError(f"unknown rule version {unknown[0]!r}; shipped: {', '.join(shipped_versions())}")
    areas, afds = area_tables(out, versions=versions, rules=rules)
    value_columns = [c for c in AREA_COLUMNS if c not in ("area", "year", "rule", "status", "suppressed")]
    check_released(areas.rename({"residents": "n"}), rules, name="areas", null_columns=())
    with staged_dir(out) as stage:
        dest = stage / AREAS_DIR
        dest.mkdir()
        for name, table in (("areas", areas), ("afdelinger", afds)):
            table.write_parquet(dest / f"{name}.parquet")
            table.write_csv(dest / f"{name}.csv")
        (dest / "README.txt").write_text(
            "Area criteria and statuses per rule version (docs/areas.md). Withheld values are empty; "
            f"columns: {', '.join(value_columns)}.\n", encoding="utf-8")
