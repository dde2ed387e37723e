"""A small OUT (panel, moves, afdeling table) written directly in the panel schema for the DiD tests.

60 study afdelinger in 15 helhedsplaner, years 2003 (base) to 2010. Tool groups by
afdeling index: 0-19 neither, 20-34 fleksibel only (TOOL_START 2007), 35-49 anvisning
only (2008), 50-57 both (2007), 58-59 both in one helhedsplan "HPX" without a start year
for 58. Employment of residents is Bernoulli(0.5 + effect * post) for FLEKSIBEL afdelinger
(post = year >= TOOL_START), so the planted stock and in-mover effect is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from panel.schema import AFDELING_SCHEMA, HOUSEHOLD_COMPOSITION, MOVES_SCHEMA, PANEL_SCHEMA
from queries.disclosure_rules import load_rules, save_rules

YEARS = range(2003, 2011)


def write_out(out: Path, *, effect: float, seed: int = 0, residents: int = 40, movers: int = 6,
              profile: str = "dst") -> Path:
    rng = np.random.default_rng(seed)
    n_afd = 60
    idx = np.arange(n_afd)
    anv = ((idx >= 35) & (idx < 50)) | (idx >= 50)
    flex = ((idx >= 20) & (idx < 35)) | (idx >= 50)
    start = np.where(idx < 20, None, np.where((idx >= 35) & (idx < 50), 2008, 2007)).astype(object)
    start[58] = None
    hp = [f"HP{i // 4}" if i < 56 else "HPX" for i in idx]
    afd_ids = [f"A{i:02d}" for i in idx]
    afd = pl.DataFrame({"afdeling_id": afd_ids, "helhedsplan_id": hp, "kom": [101] * n_afd,
                        "anvisning": anv, "fleksibel": flex, "tool_start": list(start),
                        "flex_share": np.where(flex, rng.uniform(0.1, 0.9, n_afd), np.nan)},
                       schema_overrides={"tool_start": pl.Int32}).with_columns(pl.col("flex_share").fill_nan(None))
    level = rng.normal(0, 0.05, n_afd)
    recs, moves = [], []
    pid = 0
    for a in idx:
        g = start[a] if start[a] is not None else 9999
        persons = [(pid + k, 2003) for k in range(residents)]
        pid += residents
        for t in YEARS[1:]:
            persons += [(pid + k, t) for k in range(movers)]
            moves += [(pid + k, t, "into_sector", None, afd_ids[a]) for k in range(movers)]
            pid += movers
        for p, first in persons:
            leave = rng.integers(2005, 2030)  # some residents move out within the panel
            for t in YEARS:
                if t < first:
                    continue
                here = t < leave
                post = bool(flex[a]) and t >= g
                emp = rng.random() < 0.5 + level[a] + effect * post
                recs.append((int(p), t, afd_ids[a] if here else None, hp[a] if here else None, bool(emp)))
                if not here:
                    moves.append((int(p), t, "out_of_sector", afd_ids[a], None))
                    break
    r = pl.DataFrame(recs, schema=["person_id", "year", "afdeling_id", "helhedsplan_id", "employed"], orient="row")
    n = r.height
    r = r.with_columns(
        age=pl.lit(30, pl.Int16), sex=pl.lit(1, pl.Int8), non_western=pl.Series(rng.random(n) < 0.3),
        education_level=pl.lit("H20"), competence_education=pl.Series(rng.random(n) < 0.6),
        socio_category=pl.when(pl.col("employed")).then(pl.lit("employed")).otherwise(pl.lit("unemployed")),
        in_labour_force=pl.lit(True), hh_income_2013=pl.Series(rng.normal(200_000, 30_000, n)),
        household_id=pl.col("person_id"), income_2013=pl.lit(200_000.0), hh_size=pl.lit(1, pl.Int16),
        kom=pl.lit(101, pl.Int16), ie_type=pl.lit(1, pl.Int8),
    ).select([pl.col(c).cast(t) for c, t in PANEL_SCHEMA.items() if c not in HOUSEHOLD_COMPOSITION])
    for y in YEARS:
        d = out / ("panel_base" if y == 2003 else "panel") / f"year={y}"
        d.mkdir(parents=True, exist_ok=True)
        r.filter(pl.col("year") == y).drop("year").write_parquet(d / "part-0.parquet")
    pl.DataFrame(moves, schema=list(MOVES_SCHEMA), orient="row").select(
        [pl.col(c).cast(t) for c, t in MOVES_SCHEMA.items()]).write_parquet(out / "moves.parquet")
    afd.select([pl.col(c).cast(t) for c, t in AFDELING_SCHEMA.items()]).write_parquet(out / "afdeling.parquet")
    save_rules(load_rules(profile), out / "measures")  # the OUT's disclosure rules, as `measures` writes them
    return out
