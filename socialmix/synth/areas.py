"""The optional area inputs of a synthetic delivery (contract §8), added to the written registers.

Run after the registers are written (it reads each year's BEF, AKM and IND):
``BOLIGOMRAADE_ID`` in ``lookup/afdeling.parquet``, ``PERINDKIALT`` in IND,
``kraf/kraf_YYYY.parquet`` (one row per conviction) and
``lookup/kommune_region.csv``. Kept apart from the simulation so that every
other register byte stays as the simulation wrote it; everything here is drawn
from BEF and IND, which the planted effect does not touch, so ``--effect``
changes none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panel.config import load_config

# DST municipality codes by region (1081 Nordjylland ... 1085 Sjaelland), 2007 reform
REGIONS: dict[int, tuple[int, ...]] = {
    1081: (773, 787, 810, 813, 820, 825, 840, 846, 849, 851, 860),
    1082: (615, 657, 661, 665, 671, 706, 707, 710, 727, 730, 740, 741, 746, 751, 756, 760, 766, 779, 791),
    1083: (410, 420, 430, 440, 450, 461, 479, 480, 482, 492, 510, 530, 540, 550, 561, 563, 573, 575, 580, 607,
           621, 630),
    1085: (253, 259, 265, 269, 306, 316, 320, 326, 329, 330, 336, 340, 350, 360, 370, 376, 390),
}
HOVEDSTADEN = 1084  # every other code (101-270 but the four above, 400 Bornholm, 411 Christiansoe)
COUNTED_CODES = (1_100_000, 1_250_000, 3_210_000, 3_310_000)  # criminal code, drugs act, weapons act examples
TRAFFIC_CODE = 2_110_000


def area_config() -> dict[str, Any]:
    return load_config("socialmix.synth", "areas.toml")


def region_of(kom: np.ndarray) -> np.ndarray:
    """DST region code of each municipality code."""
    out = np.full(len(kom), HOVEDSTADEN, dtype=np.int16)
    for region, codes in REGIONS.items():
        out[np.isin(kom, codes)] = region
    return out


def boligomraader(afd: pl.DataFrame, rng: np.random.Generator, extra_mean: float,
                  order: np.ndarray | None = None, *, deprived: tuple[float, float, float] = (0.0, 1.0, 0.0),
                  ) -> pl.Series:
    """An area id per afdeling: a helhedsplan's afdelinger together, the rest in small groups per municipality.

    ``order`` (e.g. each afdeling's non-Western share) sorts a municipality's afdelinger before they are cut
    into areas, so an area joins afdelinger of like composition, as one estate built at one time does;
    without it they are grouped at random. ``deprived = (lo, hi, extra)``: an area starting at an
    afdeling whose ``order`` value is ``hi`` or more takes ``extra`` more afdelinger on average (linearly from
    ``lo``), because the deprived estates are the big connected ones (Gellerup, Vollsmose, Mjoelnerparken).
    """
    ids = np.empty(afd.height, dtype=object)
    hp = afd["HELHEDSPLAN_ID"].to_numpy()
    study = afd["HELHEDSPLAN_ID"].is_not_null().to_numpy()
    ids[study] = np.char.add("BO-", hp[study].astype(str))
    n = 0
    for kom in np.unique(afd["KOM"].to_numpy()[~study]):
        rows = np.flatnonzero(~study & (afd["KOM"].to_numpy() == kom))
        rows = rows[rng.permutation(len(rows))]
        if order is not None:
            rows = rows[np.argsort(order[rows], kind="stable")]
        rows = rows[::-1]  # most deprived first, so each big estate is cut from the top of the ranking
        i = 0
        while i < len(rows):
            mean = extra_mean
            if order is not None:
                lo, hi, extra = deprived
                mean += extra * float(np.clip((order[rows[i]] - lo) / (hi - lo), 0.0, 1.0))
            k = 1 + int(rng.poisson(mean))
            ids[rows[i:i + k]] = f"BO{n:05d}"
            n += 1
            i += k
    return pl.Series("BOLIGOMRAADE_ID", ids.astype(str), dtype=pl.String)


def _non_western_share(reg: Path, afd: pl.DataFrame, year: int) -> np.ndarray:
    """Each afdeling's share of immigrants and descendants in ``year`` (0 for an empty one), in ``afd`` order."""
    bef = pl.read_parquet(reg / "bef" / f"bef_{year}.parquet", columns=["ADRESSE_ID", "IE_TYPE"])
    addr = pl.read_parquet(reg / "lookup" / "afdeling_address.parquet")
    share = (bef.join(addr, on="ADRESSE_ID").group_by("AFDELING_ID")
             .agg((pl.col("IE_TYPE") > 1).mean().alias("s")))
    return afd.select("AFDELING_ID").join(share, on="AFDELING_ID", how="left")["s"].fill_null(0.0).to_numpy()


def _tax(disp: pl.Expr, g: dict[str, float]) -> pl.Expr:
    rate = (g["tax_base"] + g["tax_slope"] * (disp / g["tax_pivot"]).log()).clip(g["tax_lo"], g["tax_hi"])
    return pl.when(disp > 0).then(disp / (1 - rate)).otherwise(disp)


def _conviction_prob(age: np.ndarray, sex: np.ndarray, income: np.ndarray, c: dict[str, Any]) -> np.ndarray:
    band = np.searchsorted(np.asarray(c["ages"]), age, side="right") - 1
    ok = band >= 0
    men, women = np.asarray(c["men"]), np.asarray(c["women"])
    p = np.where(ok, np.where(sex == 1, men[np.maximum(band, 0)], women[np.maximum(band, 0)]), 0.0)
    mult = np.where(income < c["low_income"], c["low_income_factor"], 1.0)
    return np.clip(p * mult, 0, 1)


def add_area_inputs(reg: Path, years: range, *, seed: int, compression: str = "zstd") -> None:
    """Write the four area inputs into the delivery ``reg`` (registers of ``years`` already written)."""
    cfg = area_config()
    rng = np.random.default_rng([seed, cfg["areas"]["seed_offset"]])
    lk = reg / "lookup"
    afd = pl.read_parquet(lk / "afdeling.parquet")
    a = cfg["areas"]
    afd = afd.with_columns(boligomraader(
        afd, rng, float(a["extra_afdelinger_mean"]), _non_western_share(reg, afd, years[0]),
        deprived=(float(a["deprived_share_lo"]), float(a["deprived_share_hi"]), float(a["deprived_extra_mean"]))))
    afd.write_parquet(lk / "afdeling.parquet")
    koms = np.unique(afd["KOM"].to_numpy())
    pl.DataFrame({"KOM": koms, "REGION": region_of(koms)}).write_csv(lk / "kommune_region.csv")
    (reg / "kraf").mkdir(exist_ok=True)
    conv = cfg["convictions"]
    for year in years:
        bef = pl.read_parquet(reg / "bef" / f"bef_{year}.parquet", columns=["PNR", "FOED_DAG", "KOEN"])
        ind_file = reg / "ind" / f"ind_{year}.parquet"
        ind = pl.read_parquet(ind_file)
        people = bef.join(ind, on="PNR", how="left", maintain_order="left")
        age = (year - people["FOED_DAG"].dt.year()).to_numpy()
        p = _conviction_prob(age, people["KOEN"].to_numpy(), people["DISPON_NY"].fill_null(0.0).to_numpy(), conv)
        hit = rng.random(len(p)) < p
        who = people["PNR"].filter(pl.Series(hit))
        codes = rng.choice(COUNTED_CODES, size=len(who))
        second = rng.random(len(who)) < conv["second_row"]
        traffic = people["PNR"].filter(pl.Series(rng.random(people.height) < conv["traffic_rate"]))
        kraf = pl.concat([
            pl.DataFrame({"PNR": who, "AFG_GER7": codes}),
            pl.DataFrame({"PNR": who.filter(pl.Series(second)), "AFG_GER7": codes[second]}),
            pl.DataFrame({"PNR": traffic, "AFG_GER7": np.full(len(traffic), TRAFFIC_CODE)}),
        ]).with_columns(pl.col("AFG_GER7").cast(pl.Int32)).sort("PNR")
        kraf.write_parquet(reg / "kraf" / f"kraf_{year}.parquet", compression=compression)
        ind.with_columns(_tax(pl.col("DISPON_NY"), cfg["gross_income"]).round(0).alias("PERINDKIALT")).write_parquet(
            ind_file, compression=compression)
