"""The lookup tables of a delivery, validated and keyed for integer joins.

Afdelinger get a small integer code (their row in the sorted afdeling table)
so the per-year joins and the move comparison work on integers; the string
``AFDELING_ID`` is put back only when a table is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from panel.errors import InputError
from panel.read import read_lookup
from panel.regconfig import Config, lookup_files

AFD = pl.Int32()


@dataclass(frozen=True)
class Lookups:
    afdeling: pl.DataFrame  # afd (Int32 code), AFDELING_ID, HELHEDSPLAN_ID, KOM, ANVISNING, ...
    address: pl.DataFrame  # ADRESSE_ID_h (u64), afd
    cpi_factor: pl.DataFrame  # year, cpi_factor (CPI_base / CPI_year)
    hfaudd: pl.DataFrame  # HFAUDD, LEVEL
    country: pl.DataFrame  # OPR_LAND, WESTERN
    paths: dict[str, Path]
    kommune_region: pl.DataFrame | None = None  # KOM, REGION (optional lookup, contract §8)


def _unique_key(df: pl.DataFrame, key: str, path: Path, what: str) -> pl.DataFrame:
    """Drop exact duplicate rows; a key with two different rows is an error."""
    df = df.unique(maintain_order=True)
    n = int(df[key].is_duplicated().sum())
    if n:
        raise InputError(f"{n} rows share a {key} with a different {what}", file=path, column=key)
    return df


def load_lookups(reg: str | Path, cfg: Config, *, years_needed: range) -> Lookups:
    """Read and check every lookup; ``years_needed`` must all have a CPI."""
    files = {lk.name: lk for lk in lookup_files(reg, config=cfg, include_optional=True)}
    paths = {name: lk.path for name, lk in files.items()}
    d = {name: read_lookup(lk) for name, lk in files.items()}

    afd = d["afdeling"]
    p = paths["afdeling"]
    if afd["AFDELING_ID"].null_count():
        raise InputError(f"{afd['AFDELING_ID'].null_count()} rows have no AFDELING_ID", file=p, column="AFDELING_ID")
    afd = _unique_key(afd, "AFDELING_ID", p, "row").sort("AFDELING_ID")
    afd = afd.with_row_index("afd").with_columns(pl.col("afd").cast(AFD))

    adr = d["afdeling_address"]
    p = paths["afdeling_address"]
    for col in ("ADRESSE_ID_h", "AFDELING_ID"):
        n = adr[col].null_count()
        if n:
            raise InputError(f"{n} rows have no value", file=p, column=col.removesuffix("_h"))
    adr = adr.unique()
    n = int(adr["ADRESSE_ID_h"].is_duplicated().sum())
    if n:
        k = int(adr.filter(pl.col("ADRESSE_ID_h").is_duplicated())["ADRESSE_ID_h"].n_unique())
        raise InputError(f"{k} addresses are mapped to two or more afdelinger ({n} rows)", file=p, column="ADRESSE_ID")
    adr = adr.join(afd.select("AFDELING_ID", "afd"), on="AFDELING_ID", how="left")
    n = adr["afd"].null_count()
    if n:
        raise InputError(f"{n} addresses point to an AFDELING_ID missing from {paths['afdeling'].name}",
                         file=p, column="AFDELING_ID")
    adr = adr.select("ADRESSE_ID_h", "afd")

    cpi = d["cpi"]
    p = paths["cpi"]
    for col in ("YEAR", "CPI"):
        if cpi[col].null_count():
            raise InputError(f"{cpi[col].null_count()} rows have no value", file=p, column=col)
    cpi = _unique_key(cpi, "YEAR", p, "CPI")
    if (cpi["CPI"] <= 0).any():
        raise InputError("CPI must be positive", file=p, column="CPI")
    base = int(cfg["lookups"]["cpi"].get("base_year", 2013))
    have = set(cpi["YEAR"].to_list())
    missing = sorted((set(years_needed) | {base}) - have)
    if missing:
        raise InputError(f"no CPI for year(s) {', '.join(map(str, missing))}", file=p, column="YEAR")
    base_cpi = cpi.filter(pl.col("YEAR") == base)["CPI"][0]
    cpi_factor = cpi.select(pl.col("YEAR").alias("year"), (base_cpi / pl.col("CPI")).alias("cpi_factor"))

    hf = d["hfaudd"]
    p = paths["hfaudd"]
    levels = list(cfg["derive"]["education_levels"])
    hf = _unique_key(hf.drop_nulls("HFAUDD"), "HFAUDD", p, "LEVEL")
    bad = hf.filter(~pl.col("LEVEL").is_in(levels) & pl.col("LEVEL").is_not_null())
    if bad.height:
        from panel.validate import code_counts_text
        raise InputError(f"LEVEL values not among {levels}: {code_counts_text(bad['LEVEL'])}", file=p, column="LEVEL")

    co = d["country"]
    p = paths["country"]
    co = _unique_key(co.drop_nulls("OPR_LAND"), "OPR_LAND", p, "WESTERN")
    kr = d.get("kommune_region")
    if kr is not None:
        p = paths["kommune_region"]
        for col in ("KOM", "REGION"):
            if kr[col].null_count():
                raise InputError(f"{kr[col].null_count()} rows have no value", file=p, column=col)
        kr = _unique_key(kr, "KOM", p, "REGION")
    return Lookups(afdeling=afd, address=adr, cpi_factor=cpi_factor, hfaudd=hf, country=co, paths=paths,
                   kommune_region=kr)


def code_lookup(col: str, keys: pl.Series, values: pl.Series) -> pl.Expr:
    """``values`` at the position of ``col`` in ``keys`` (null if absent), for small lookups.

    Non-negative integer codes below 2^20 become one array gather (no hashing,
    and unlike a join it does not copy the other columns of the frame).

    Examples
    --------
    >>> df = pl.DataFrame({"c": [3, None, 7, 1]})
    >>> df.select(code_lookup("c", pl.Series([1, 3]), pl.Series(["a", "b"])))["c"].to_list()
    ['b', None, None, 'a']
    """
    k = keys.cast(pl.Int64)
    if k.len() and k.min() >= 0 and k.max() < 2**20:
        n = int(k.max()) + 1
        dense = (pl.DataFrame({"i": pl.int_range(n, eager=True, dtype=pl.Int64)})
                 .join(pl.DataFrame({"i": k, "v": values}), on="i", how="left", maintain_order="left")["v"])
        c = pl.col(col)
        return pl.lit(dense).gather(pl.when(c.is_between(0, n - 1)).then(c)).alias(col)
    return pl.col(col).replace_strict(keys, values, default=None, return_dtype=values.dtype)


def afdeling_table(lk: Lookups) -> pl.DataFrame:
    """``lookup/afdeling`` with lower-case names, as OUT/afdeling.parquet."""
    from panel.schema import AFDELING_OPTIONAL, AFDELING_SCHEMA

    df = lk.afdeling.drop("afd").rename(str.lower)
    return df.select([pl.col(c).cast(t) for c, t in {**AFDELING_SCHEMA, **AFDELING_OPTIONAL}.items()])


def kommune_region_table(lk: Lookups) -> pl.DataFrame | None:
    """``lookup/kommune_region`` as OUT/kommune_region.parquet (``kom``, ``region``), if delivered."""
    if lk.kommune_region is None:
        return None
    return lk.kommune_region.select(pl.col("KOM").cast(pl.Int16).alias("kom"),
                                    pl.col("REGION").cast(pl.Int16).alias("region")).sort("kom")

