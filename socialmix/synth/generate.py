"""``generate``: simulate the population (2003-2013 by default, any span of 1985-2023) and write the registers.

The simulation keeps one state (persons, families, afdelinger) and after each
year writes that year's BEF, UDDA, IND and AKM files, so memory holds one
year of output at a time. The effect enters only the outcome thresholds
(see :mod:`socialmix.synth.outcomes`), so every ``--effect`` sees the same
population, families and moves; ``truth.json`` holds the estimators of
``socialmix did`` applied to the simulated individual effects ``Y1 - Y0``
(:mod:`socialmix.synth.truth`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panel.atomic import staged_dir
from panel.config import load_config
from panel.errors import SocialmixError
from panel.progress import step
from panel.regconfig import Config, load_register_config, resolve_columns
from socialmix.synth import areas, dynamics, housing, outcomes, population, truth
from socialmix.synth.codes import country_table, cpi_table, hfaudd_table, pnr, pnr_order, scramble

FAMILY_SALT = 4_711_000_817
ADDRESS_SALT = 2_718_281_828


def load_calibration(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped calibration (``socialmix/synth/calibration.toml``), optionally merged with a user file."""
    return load_config("socialmix.synth", "calibration.toml", override)


def set_years(cfg: dict[str, Any], years: tuple[int, int] | None, *, base_year: int) -> None:
    """Put the register years ``years`` (default: the calibration's) into ``cfg``, checked against its span.

    Every written year and the build's price year ``base_year`` need a CPI;
    a year without an employment ``year_effects`` entry gets none (0).
    """
    y = cfg["years"]
    first, last = years or (y["first"], y["last"])
    if not y["earliest"] <= first <= last <= y["latest"]:
        raise SocialmixError(f"--years must be a span within {y['earliest']}-{y['latest']}, got {first}-{last}")
    missing = [yr for yr in sorted({*range(first, last + 1), base_year}) if str(yr) not in cfg["cpi"]]
    if missing:
        raise SocialmixError(f"calibration [cpi] has no value for {', '.join(map(str, missing))}")
    y["first"], y["last"] = first, last
    effects = cfg["labour"]["year_effects"]
    cfg["labour"]["year_effects"] = {str(yr): effects.get(str(yr), 0.0) for yr in range(first, last + 1)}


def akm_column(registers: Config, year: int) -> str:
    """The delivered name of the AKM code column in ``year`` (``[registers.akm.column_years]``)."""
    return resolve_columns(registers, "akm", year)["SOCIO"]


def _assign_serials(pop: dict[str, np.ndarray], counts: np.ndarray, first: int) -> None:
    """PNR serials for persons ``first..`` : the next free numbers of their ``DDMMYY``.

    The key is day, month and two-digit year, as in the PNR itself, so persons
    born a century apart on the same date get different serials too.
    """
    ymd = (pop["bday"][first:].astype("datetime64[D]"))
    y = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = ymd.astype("datetime64[M]").astype(np.int64) % 12
    dd = (ymd - ymd.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    day = ((y % 100) * 12 + mo) * 31 + dd
    order = np.argsort(day, kind="stable")
    d = day[order]
    start = np.r_[0, np.flatnonzero(np.diff(d)) + 1]
    rank = np.arange(len(d)) - np.repeat(start, np.diff(np.r_[start, len(d)]))
    serial = np.empty(len(d), dtype=np.int32)
    serial[order] = counts[d] + rank
    pop["serial"][first:] = serial
    np.add.at(counts, day, 1)
    if len(serial) and serial.max() >= 10_000:
        raise SocialmixError("more than 10 000 persons share a birth date; PNR serials would repeat")


def _extend_ids(ids: dict[str, pl.Series], pop: dict[str, np.ndarray], fams: dict[str, np.ndarray]) -> None:
    """Append the identifier strings of persons, families and addresses created since the last call.

    Each string is made once (a person's PNR, a family's FAMILIE_ID, an
    address's ADRESSE_ID) and looked up by integer surrogate every year after.
    """
    n_p, n_f, n_a = len(pop["alive"]), len(fams["afd"]), int(fams["next_addr"][0])
    new_p = slice(len(ids["pnr"]), n_p)
    pn = pl.DataFrame({"bday": pop["bday"][new_p], "serial": pop["serial"][new_p]}).select(
        pnr(pl.col("bday").cast(pl.Date), pl.col("serial")).alias("PNR"))["PNR"]
    fa = pl.DataFrame({"i": np.arange(len(ids["fam"]), n_f, dtype=np.int64)}).select(
        scramble(pl.col("i"), salt=FAMILY_SALT))["i"]
    ad = pl.DataFrame({"i": np.arange(len(ids["addr"]), n_a, dtype=np.int64)}).select(
        scramble(pl.col("i"), salt=ADDRESS_SALT))["i"]
    ids["pnr"] = ids["pnr"].append(pn).rechunk()
    ids["fam"] = ids["fam"].append(fa).rechunk()
    ids["addr"] = ids["addr"].append(ad).rechunk()


def _write(df: pl.DataFrame, path: Path, compression: str) -> None:
    df.write_parquet(path, compression=compression)


def _write_year(tmp: Path, year: int, cfg: dict[str, Any], rng: np.random.Generator, pop: dict[str, np.ndarray],
                fams: dict[str, np.ndarray], afd: dict[str, np.ndarray], effect: float,
                nw_all: np.ndarray, ids: dict[str, pl.Series],
                write: Callable[[pl.DataFrame, Path], None], akm_col: str) -> dict[str, np.ndarray]:
    """Write the four registers of ``year``; return the truth records of study-afdeling residents."""
    idx = np.flatnonzero(pop["alive"])
    # Rows in PNR order, as DST's register datasets usually are (the build then needs no sort).
    idx = idx[np.argsort(pnr_order(pop["bday"][idx], pop["serial"][idx]), kind="stable")]
    p = {k: v[idx] for k, v in pop.items()}
    age = year - p["byear"].astype(np.int32)
    nw = nw_all[idx]
    f_afd = fams["afd"][p["fam"]]
    treated = (p["treat_afd"] >= 0)
    share = np.where(treated, np.nan_to_num(afd["flex_share"][np.maximum(p["treat_afd"], 0)]), 0.0)
    dose = effect * share
    ed = outcomes.education(cfg, p, age=age, nw=nw, dose=dose)
    lab = outcomes.labour(rng, cfg, p, age=age, nw=nw, year=year, dose=dose)
    cpi = cfg["cpi"]
    inc = outcomes.income(rng, cfg, p, age=age, code0=lab["code0"], cpi_ratio=cpi[str(year)] / cpi["2013"])
    n = len(idx)
    no_addr = (f_afd < 0) & ~p["is_child"] & (rng.random(n) < cfg["housing"]["no_address_rate"])
    miss_udda = rng.random(n) < cfg["education"]["missing_row"]
    miss_ind = rng.random(n) < cfg["income"]["missing_row"]
    lc = cfg["labour"]
    miss_akm = rng.random(n) < np.where(p["arrived"] == year, lc["missing_row_new_immigrant"], lc["missing_row"])
    pnrs = pl.DataFrame([ids["pnr"].gather(idx).alias("PNR")])
    bef = pl.concat([pnrs, pl.DataFrame({
        "FOED_DAG": pl.Series(p["bday"]).cast(pl.Date),
        "KOEN": p["sex"].astype(np.int8), "IE_TYPE": p["ie"].astype(np.int8), "OPR_LAND": p["land"].astype(np.int16),
        "FAMILIE_ID": ids["fam"].gather(p["fam"]),
        "ADRESSE_ID": ids["addr"].gather(fams["addr"][p["fam"]]),
        "KOM": fams["kom"][p["fam"]].astype(np.int16),
        "no_addr": no_addr,
    })], how="horizontal").with_columns(
        pl.when(pl.col("no_addr")).then(None).otherwise(pl.col("ADRESSE_ID")).alias("ADRESSE_ID")).drop("no_addr")
    for reg in ("bef", "udda", "ind", "akm"):
        (tmp / reg).mkdir(exist_ok=True)
    write(bef, tmp / "bef" / f"bef_{year}.parquet")
    hf = pl.Series("HFAUDD", ed["hfaudd"], dtype=pl.Int32)
    udda = pl.concat([pnrs, pl.DataFrame([hf]).select(pl.when(pl.col("HFAUDD") >= 0).then(pl.col("HFAUDD")))],
              how="horizontal").filter(~pl.Series(miss_udda))
    write(udda, tmp / "udda" / f"udda_{year}.parquet")
    write(pl.concat([pnrs, pl.DataFrame({"DISPON_NY": inc.astype(np.float64)})], how="horizontal").filter(
        ~pl.Series(miss_ind)), tmp / "ind" / f"ind_{year}.parquet")
    write(pl.concat([pnrs, pl.DataFrame({akm_col: lab["code1"]})], how="horizontal").filter(
        ~pl.Series(miss_akm)), tmp / "akm" / f"akm_{year}.parquet")
    keep = f_afd >= 0
    keep &= afd["study"][np.maximum(f_afd, 0)]
    return {
        "year": np.full(int(keep.sum()), year, dtype=np.int16), "afd": f_afd[keep], "pid": idx[keep],
        "out_next": np.zeros(int(keep.sum()), dtype=bool),
        "in_mover": p["in_mover"][keep], "treated": treated[keep], "share": share[keep],
        "lf": (lab["lf"] & ~miss_akm)[keep], "emp0": lab["emp0"][keep], "emp1": lab["emp1"][keep],
        "p_emp": lab["p_emp"][keep],
        "edu_known": (ed["edu_known"] & ~miss_udda & (lab["lf"] & ~miss_akm))[keep],
        "comp0": ed["comp0"][keep], "comp1": ed["comp1"][keep], "p_edu": ed["p_edu"][keep],
    }


def _mark_movers(pop: dict[str, np.ndarray], fams: dict[str, np.ndarray], afd: dict[str, np.ndarray],
                 prev_afd: np.ndarray, year: int) -> np.ndarray:
    """Set ``in_mover`` and the treatment of ``year``; return the out-movers' person indices.

    Contract §2: an in-mover is in afdeling B on 31 Dec ``year`` and was in
    another afdeling, outside public housing, or (born before ``year``) not in
    BEF a year earlier. An in-mover to a FLEKSIBEL afdeling from its TOOL_START
    on becomes treated; treatment lasts while the person stays in that afdeling.
    """
    now = np.where(pop["alive"], fams["afd"][pop["fam"]], -2)
    born = pop["byear"] == year
    moved_in = pop["alive"] & (now >= 0) & (now != prev_afd) & ~(born & (prev_afd == -2))
    pop["in_mover"] = moved_in
    safe = np.maximum(now, 0)
    start = afd["tool_start"][safe]
    eligible = moved_in & afd["flex"][safe] & (start > 0) & (year >= start)
    ta = np.where(eligible, now, pop["treat_afd"])
    pop["treat_afd"] = np.where((ta >= 0) & (ta == now), ta, -1).astype(np.int32)
    return np.flatnonzero((prev_afd >= 0) & pop["alive"] & (now != prev_afd))


def _write_lookups(tmp: Path, cfg: dict[str, Any], afd: dict[str, np.ndarray], rng: np.random.Generator, *,
                   base_year: int) -> None:
    lk = tmp / "lookup"
    lk.mkdir()
    n_afd = len(afd["cap"])
    label = rng.permutation(n_afd)  # afdeling ids do not reveal which are study afdelinger
    afd_id = pl.Series("AFDELING_ID", [f"AF{i:05d}" for i in label], dtype=pl.String)
    hp = afd["hp"]
    tab = pl.DataFrame({
        "AFDELING_ID": afd_id,
        "HELHEDSPLAN_ID": pl.Series(hp).cast(pl.String).str.zfill(4),
        "KOM": afd["kom"].astype(np.int16),
        "ANVISNING": afd["anv"], "FLEKSIBEL": afd["flex"],
        "TOOL_START": pl.Series(afd["tool_start"], dtype=pl.Int32),
        "FLEX_SHARE": afd["flex_share"],
    }).with_columns(
        pl.when(pl.Series(hp) >= 0).then(pl.concat_str([pl.lit("HP"), pl.col("HELHEDSPLAN_ID")])).alias("HELHEDSPLAN_ID"),
        pl.when(pl.col("TOOL_START") > 0).then(pl.col("TOOL_START")).alias("TOOL_START"),
        pl.col("FLEX_SHARE").fill_nan(None),
    ).sort("AFDELING_ID")
    tab.write_parquet(lk / "afdeling.parquet")
    addr = np.arange(int(afd["n_addr"].sum()), dtype=np.int64)
    owner = np.repeat(np.arange(n_afd), afd["n_addr"])
    pl.DataFrame({"addr": addr}).select(
        scramble(pl.col("addr"), salt=ADDRESS_SALT).alias("ADRESSE_ID"),
        afd_id.gather(owner).alias("AFDELING_ID"),
    ).write_parquet(lk / "afdeling_address.parquet")
    cpi_table(cfg, base_year=base_year).write_csv(lk / "cpi.csv")
    hfaudd_table(cfg).write_csv(lk / "hfaudd.csv")
    country_table(cfg).write_csv(lk / "country.csv")


def generate(reg: str | Path, *, persons: int, seed: int, effect: float, config: str | Path | None = None,
             years: tuple[int, int] | None = None, register_config: str | Path | Config | None = None) -> None:
    """Write synthetic DST-style registers of ``years`` (default 2003-2013) and ``truth.json`` to ``reg``.

    ``persons`` is the population at the start, ``effect`` the planted shift F
    in the employment (and competence) probability of in-movers to FLEKSIBEL
    afdelinger per unit FLEX_SHARE, ``config`` an optional TOML overriding
    ``calibration.toml``, ``register_config`` the register config whose
    ``column_years`` name the AKM code column of each year (as the build reads
    it; e.g. SOCIO02 to 2008, SOCIO13 from 2009). Same arguments, same bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> reg = pathlib.Path(tempfile.mkdtemp()) / "reg"
    >>> generate(reg, persons=5000, seed=1, effect=0.05)
    >>> sorted(p.name for p in reg.iterdir())
    ['akm', 'bef', 'ind', 'kraf', 'lookup', 'truth.json', 'udda']
    """
    if persons < 1000:
        raise SocialmixError(f"--persons must be at least 1000 to hold the study afdelinger, got {persons}")
    if not 0.0 <= effect <= 1.0:
        raise SocialmixError(f"--effect must be between 0 and 1 (a shift in probability), got {effect}")
    cfg = load_calibration(config)
    registers = load_register_config(register_config)
    set_years(cfg, years, base_year=int(registers["lookups"]["cpi"]["base_year"]))
    ss = np.random.SeedSequence(seed)
    # separate streams: housing and moves never share draws with outcomes
    r_pop, r_move, _, r_lab = (np.random.Generator(np.random.PCG64(s)) for s in ss.spawn(4))
    first, last = cfg["years"]["first"], cfg["years"]["last"]
    records = []
    pending: list[Future] = []

    def write(df: pl.DataFrame, path: Path) -> None:
        # encoding parquet runs beside the next year's simulation; at most one year is queued
        while len(pending) >= 4:
            pending.pop(0).result()
        pending.append(pool.submit(_write, df, path, cfg["output"]["compression"]))

    with staged_dir(reg) as tmp, ThreadPoolExecutor(max_workers=1) as pool:
        with step(f"synth: population {first}"):
            kom = housing.kom_weights(r_pop, cfg)
            afd = housing.afdelinger(r_pop, cfg, persons=persons, kom=kom)
            start = first - cfg["years"]["burn_in"]
            pop = population.initial(r_pop, cfg, persons=persons, year=start)
            fams = dynamics.place_initial(r_move, cfg, pop, afd, kom)
            for year in range(start + 1, first + 1):
                pop, fams, _ = dynamics.step(r_move, cfg, pop, fams, afd, kom, year)
            counts = np.zeros(100 * 12 * 31, dtype=np.int32)
            _assign_serials(pop, counts, 0)
            pop["in_mover"] = np.zeros(len(pop["alive"]), dtype=bool)
            ids = {k: pl.Series(k, [], dtype=pl.String) for k in ("pnr", "fam", "addr")}
            _extend_ids(ids, pop, fams)
            _write_lookups(tmp, cfg, afd, r_pop, base_year=int(registers["lookups"]["cpi"]["base_year"]))
            records.append(_write_year(tmp, first, cfg, r_lab, pop, fams, afd, effect, dynamics.nonwestern(cfg, pop),
                                       ids, write, akm_column(registers, first)))
        for year in range(first + 1, last + 1):
            with step(f"synth: year {year}"):
                n_before = len(pop["alive"])
                del pop["in_mover"]  # dynamics.step keeps only the person columns
                pop, fams, prev_afd = dynamics.step(r_move, cfg, pop, fams, afd, kom, year)
                _assign_serials(pop, counts, n_before)
                out_pids = _mark_movers(pop, fams, afd, prev_afd, year)
                records[-1]["out_next"] = np.isin(records[-1]["pid"], out_pids)
                _extend_ids(ids, pop, fams)
                records.append(_write_year(tmp, year, cfg, r_lab, pop, fams, afd, effect,
                                           dynamics.nonwestern(cfg, pop), ids, write, akm_column(registers, year)))
        with step("synth: truth"):
            rec = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
            estimands = truth.estimands(rec, afd, first_panel_year=first + 1, last_year=last)
            (tmp / "truth.json").write_text(json.dumps({"effect": effect, "estimands": estimands}, indent=1) + "\n")
        with step("synth: finish writing"):
            for fut in pending:
                fut.result()
        with step("synth: area inputs"):
            areas.add_area_inputs(tmp, range(first, last + 1), seed=seed, compression=cfg["output"]["compression"])
