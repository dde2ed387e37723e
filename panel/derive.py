"""One year of the person-year panel: BEF joined with UDDA, IND, AKM and the lookups.

Everything here joins on the 64-bit PNR hash of :mod:`panel.read` (integer
joins, one year at a time, so memory is bounded by one year's registers).
The integer ``person_id`` comes from a dictionary that grows year by year:
a PNR seen before keeps its id, a new PNR gets the next one (new PNRs of a
year are numbered in hash order, so ids are deterministic).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from panel import validate
from panel.errors import InputError
from panel.lookups import Lookups, code_lookup
from panel.read import HASHED
from panel.regconfig import Config, RegisterFile
from panel.schema import AREA_SCHEMA, PANEL_SCHEMA

ID_DICT_SCHEMA = {"PNR_h": pl.UInt64(), "PNR_h2": pl.UInt64(), "person_id": pl.Int32()}


def empty_id_dict() -> pl.DataFrame:
    return pl.DataFrame(schema=ID_DICT_SCHEMA)


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` sorted by PNR_h (free if it already is): joins of sorted keys are merge joins."""
    return df if df["PNR_h"].flags["SORTED_ASC"] else df.sort("PNR_h")


def assign_person_ids(bef: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Attach ``person_id`` to the BEF of one year: known PNRs keep theirs, new ones get the next ids.

    Both frames are sorted by the PNR hash, so this is a merge join, and the
    new PNRs of a year are numbered in hash order (ids do not depend on the
    row order of the files). ``_h2_ids`` carries the dictionary's second
    hash for the collision check.
    """
    j = _sorted(bef).join(ids.rename({"PNR_h2": "_h2_ids"}), on="PNR_h", how="left")
    j = _sorted(j)
    new = pl.col("person_id").is_null()
    return j.with_columns(
        pl.when(new).then(new.cum_sum().cast(pl.Int64) - 1 + ids.height).otherwise(pl.col("person_id"))
        .cast(pl.Int32).alias("person_id"),
        new.alias("_new_id"),
    )


def grow_ids(ids: pl.DataFrame, py: pl.DataFrame) -> pl.DataFrame:
    """The id dictionary (sorted by PNR hash) with the year's new PNRs merged in."""
    new = _sorted(py.filter(pl.col("_new_id")).select(list(ID_DICT_SCHEMA)))
    if not new.height:
        return ids
    if not ids.height:
        return new
    return ids.merge_sorted(new, key="PNR_h").set_sorted("PNR_h")


def _right(other: pl.DataFrame, cols: list[str], tag: str) -> pl.DataFrame:
    """A register to join on the PNR key, with a flag column ``_<tag>`` (row present).

    The second hash (``_h2_<tag>``, for the collision check) is carried only
    if some key of the register is a hash: exact keys (digit PNRs) cannot
    collide, and a collision needs a hashed key on both sides.
    """
    other = _sorted(other)
    hashed = other.height > 0 and other["PNR_h"][-1] >= HASHED  # sorted: the largest key is the last
    h2 = [pl.col("PNR_h2").alias(f"_h2_{tag}")] if hashed else []
    return other.select("PNR_h", *h2, *cols, pl.lit(True).alias(f"_{tag}"))


def person_years(year: int, regs: dict[str, pl.DataFrame], files: dict[str, RegisterFile], ids: pl.DataFrame,
                 lk: Lookups, cfg: Config, *, allow_unknown_codes: bool
                 ) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """The panel rows of ``year`` (PANEL_SCHEMA plus hidden join keys), the grown id dictionary, counts.

    ``regs`` holds the read registers of the year (``bef``, ``udda``, ``ind``, ``akm``); it is
    emptied once they are joined, so that their memory is freed before the
    derived columns are (pass the only references). The registers are joined
    on the PNR key (merge joins of sorted keys), then one lazy plan looks up
    addresses and the small lookups and derives every panel variable. The
    result stays sorted by PNR key.
    """
    read = {r: df.height for r, df in regs.items()}
    bef, fb = regs["bef"], files["bef"]
    # OPR_LAND must be in country.csv (always an error: the contract defines no unknown country).
    bad = bef.filter(pl.col("OPR_LAND").is_not_null() & ~pl.col("OPR_LAND").is_in(lk.country["OPR_LAND"].implode()))
    if bad.height:
        raise InputError(f"{bad.height} rows with OPR_LAND codes missing from {lk.paths['country'].name}: "
                         f"{validate.code_counts_text(bad['OPR_LAND'])}", file=fb.path, column=fb.columns["OPR_LAND"])
    udda, fu = regs["udda"], files["udda"]
    n_hf_unknown = validate.unknown_codes(fu.path, fu.columns["HFAUDD"], udda["HFAUDD"], lk.hfaudd["HFAUDD"],
                                          what=f"missing from {lk.paths['hfaudd'].name}", allow=allow_unknown_codes)

    d = cfg["derive"]
    lo, hi = d["adult_ages"]
    levels = list(d["education_levels"])
    competent = levels[levels.index(d["competence_from"]):]
    cpi = float(lk.cpi_factor.filter(pl.col("year") == year)["cpi_factor"][0])
    a = lk.afdeling
    # One key per household: the FAMILIE_ID hash, or the person's own PNR hash for a null FAMILIE_ID.
    hh = pl.coalesce(pl.col("FAMILIE_ID_h"), pl.col("PNR_h") ^ 0x9E3779B97F4A7C15).alias("_hh")
    socio = pl.col("SOCIO")
    ie = pl.col("IE_TYPE").cast(pl.Int8)
    h2 = pl.col("PNR_h2")
    # Registers sorted by PNR key: the four joins are merge joins (eager, in-memory engine).
    df = assign_person_ids(bef, ids)
    gross = ["PERINDKIALT"] if "PERINDKIALT" in regs["ind"].columns else []
    for r, cols in (("udda", ["HFAUDD"]), ("ind", ["DISPON_NY", *gross]), ("akm", ["SOCIO"])):
        df = df.join(_right(regs[r], cols, r), on="PNR_h", how="left")
    kraf = regs.get("kraf")
    kraf_persons = None if kraf is None else int(kraf["PNR_h"].n_unique())
    if kraf is not None:
        df = df.join(_right(convictions(kraf, d["counted_offences"]), ["_counted"], "kraf"), on="PNR_h", how="left")
    checked = [c for c in (f"_h2_{t}" for t in ("ids", "udda", "ind", "akm", "kraf")) if c in df.columns]
    collision = pl.sum_horizontal([(pl.col(c).is_not_null() & (pl.col(c) != h2)) for c in checked])
    del bef, udda, bad
    regs.clear()
    lf = (
        df.lazy()
        .with_columns(pl.col("ADRESSE_ID_h").replace_strict(lk.address["ADRESSE_ID_h"], lk.address["afd"],
                                                            default=None, return_dtype=pl.Int32).alias("afd"))
        .with_columns(  # small lookups as array gathers: no join moves the wide frame
            code_lookup("afd", a["afd"], a["AFDELING_ID"]).alias("afdeling_id"),
            code_lookup("afd", a["afd"], a["HELHEDSPLAN_ID"]).alias("helhedsplan_id"),
            code_lookup("afd", a["afd"], a["KOM"]).alias("_afd_kom"),
            code_lookup("afd", a["afd"], a["BOLIGOMRAADE_ID"]).alias("boligomraade_id"),
            code_lookup("HFAUDD", lk.hfaudd["HFAUDD"], lk.hfaudd["LEVEL"]).alias("LEVEL"),
            code_lookup("OPR_LAND", lk.country["OPR_LAND"], lk.country["WESTERN"]).alias("WESTERN"),
        )
        .with_columns(
            hh,
            pl.lit(year, dtype=pl.Int32).alias("year"),
            (pl.lit(year) - pl.col("FOED_DAG").dt.year()).cast(pl.Int16).alias("age"),
            pl.col("KOEN").cast(pl.Int8).alias("sex"),
            ie.alias("ie_type"),
            pl.when(ie.is_in(d["non_western_ie_types"])).then(~pl.col("WESTERN"))
            .when(ie.is_not_null()).then(False).alias("non_western"),
            pl.col("LEVEL").alias("education_level"),
            pl.when(pl.col("LEVEL").is_not_null()).then(pl.col("LEVEL").is_in(competent))
            .alias("competence_education"),
            socio.alias("socio_category"),
            (pl.col("DISPON_NY").fill_null(0.0) * cpi).alias("income_2013"),
            ((pl.col("PERINDKIALT") * cpi) if gross else pl.lit(None, dtype=pl.Float64)).alias("gross_income_2013"),
            (pl.col("_counted").fill_null(False) if kraf is not None else pl.lit(None, dtype=pl.Boolean))
            .alias("convicted"),
            pl.coalesce(pl.col("KOM"), pl.col("_afd_kom")).cast(pl.Int16).alias("kom"),
            collision.alias("_collision"),
        )
        .with_columns(
            pl.when(~pl.col("age").is_between(lo, hi)).then(False)
            .when(socio.is_null()).then(None)
            .otherwise(~socio.is_in(d["not_in_labour_force"])).alias("in_labour_force"),
            pl.when(socio.is_not_null()).then(socio.is_in(d["employed"])).alias("employed"),
            pl.col("income_2013").sum().over("_hh").alias("hh_income_2013"),
            pl.len().over("_hh").cast(pl.Int16).alias("hh_size"),
            pl.col("person_id").min().over("_hh").alias("household_id"),
            *household_composition(d["household"]),
        )
    )
    keep = [pl.col(c).cast(t) for c, t in {**PANEL_SCHEMA, **AREA_SCHEMA}.items()]
    hidden = ["PNR_h", "PNR_h2", "afd", "ADRESSE_ID_h", "FOED_DAG", "FAMILIE_ID_h", "_udda", "_ind", "_akm",
              "HFAUDD", "DISPON_NY", "_new_id", "_collision", *(["_kraf"] if kraf is not None else [])]
    out = lf.select(*keep, *hidden).collect()
    if out.height != read["bef"]:  # cannot happen: read_register rejects a PNR twice in a register-year
        raise RuntimeError(f"year {year}: {out.height} panel rows from {read['bef']} BEF rows")
    if out["_collision"].sum():
        raise RuntimeError(f"{fb.path}: 64-bit PNR hash collision; change panel.read.SEED_1")
    n = out.select(pl.col("_udda", "_ind", "_akm").sum()).row(0)
    counts = {
        "bef": {"read": read["bef"]},
        "udda": {"read": read["udda"], "orphans": read["udda"] - n[0]},
        "ind": {"read": read["ind"], "orphans": read["ind"] - n[1]},
        "akm": {"read": read["akm"], "orphans": read["akm"] - n[2]},
        "unknown_codes_mapped": {},
    }
    if n_hf_unknown:
        counts["unknown_codes_mapped"][f"udda.{fu.columns['HFAUDD']}"] = n_hf_unknown
    if kraf_persons is not None:
        # persons with a conviction row but no BEF row that year (emigrated, died, not resident) are orphans
        counts["kraf"] = {"read": read["kraf"], "persons": kraf_persons,
                          "orphans": kraf_persons - int(out["_kraf"].fill_null(False).sum()),
                          "persons_convicted": int(out["convicted"].sum())}
    ids = grow_ids(ids, out)
    if ids.height >= 2**31:
        raise InputError("more than 2^31 distinct persons", file=fb.path, column=fb.columns["PNR"])
    return out, ids, counts


def convictions(kraf: pl.DataFrame, counted: list[list[int]]) -> pl.DataFrame:
    """One row per convicted person of the year: ``PNR_h``, ``PNR_h2``, ``_counted`` (a counted offence).

    ``counted`` holds inclusive ranges of AFG_GER7 codes (register config ``[derive] counted_offences``).
    """
    code = pl.col("AFG_GER7")
    hit = pl.any_horizontal([code.is_between(int(lo), int(hi)) for lo, hi in counted]) if counted else pl.lit(False)
    return (kraf.group_by("PNR_h").agg(pl.col("PNR_h2").first(), hit.fill_null(False).any().alias("_counted"))
            .sort("PNR_h"))


COMPOSITION_FLAGS = ("hh_adults", "hh_n14", "hh_u14", "hh_children", "hh_rs")


def composition_flags(hd: dict, *, socio: pl.Expr | None = None) -> dict[str, pl.Expr]:
    """Per person, whether they count in each household composition column: THE definition.

    ``hd`` is ``[derive.household]`` of the register config (the only place its
    parameters live); ``socio`` the AKM category (default ``socio_category``).
    The build sums these over each household (:func:`household_composition`);
    :mod:`queries.household` sums the same flags for panels written before the
    build did. ``hh_rs``: a member aged within ``resource_strong_ages`` is in
    one of ``resource_strong_socio``.
    """
    age = pl.col("age")
    socio = pl.col("socio_category") if socio is None else socio
    lo, hi = hd["resource_strong_ages"]
    flags = {
        "hh_adults": age >= hd["adult_age"],
        "hh_n14": age >= hd["equivalence_adult_age"],
        "hh_u14": age < hd["equivalence_adult_age"],
        "hh_children": age < hd["child_age"],
        "hh_rs": age.is_between(lo, hi) & socio.is_in(hd["resource_strong_socio"]),
    }
    return {name: flag.fill_null(False) for name, flag in flags.items()}


def household_composition(hd: dict) -> list[pl.Expr]:
    """Members of the person's household by age band, and whether one is resource-strong (window sums).

    Computed here, where the household windows are taken anyway, so the
    measures need not count every household of every year again.
    """
    flags = composition_flags(hd, socio=pl.col("SOCIO"))

    def members(flag: pl.Expr) -> pl.Expr:  # (a boolean window sum is ~10x slower than an integer one)
        return flag.cast(pl.Int16).sum().over("_hh").cast(pl.Int16)

    return [*(members(flags[c]).alias(c) for c in COMPOSITION_FLAGS if c != "hh_rs"),
            (flags["hh_rs"].cast(pl.Int8).max().over("_hh") > 0).alias("hh_rs"),
            couple_flags(hd, "_hh")["hh_couple"]]


def couple_flags(hd: dict, household: str | list[str]) -> dict[str, pl.Expr]:
    """Per person: ``hh_couple`` (one of the household's couple) and ``hh_parent`` (a couple member or, in a
    household without a couple, its oldest member): THE partner definition, as window expressions over
    ``household`` (the key column(s) of a household-year).

    A DST family (FAMILIE_ID) is a couple or a single person with their children under 25 living at home,
    so a family has at most one couple and it is its two oldest members. The two oldest are taken to be a
    couple when both are adults (``adult_age``) and the younger is aged ``partner_age`` (25: DST's children
    are younger) or more, or within ``partner_age_gap`` years of the older (a parent rarely is); otherwise
    the household has no couple and every adult in it is single (a lone parent with an adult child).
    Members tied in age with the younger partner count as partners too (rare).

    Examples
    --------
    >>> hd = {"adult_age": 18, "partner_age": 25, "partner_age_gap": 15}
    >>> df = pl.DataFrame({"h": [1, 1, 1, 2, 2, 3], "age": [45, 20, 19, 27, 24, 30]})
    >>> df.select(**couple_flags(hd, "h")).rows()
    [(False, True), (False, False), (False, False), (True, True), (True, True), (False, True)]
    """
    age = pl.col("age")
    adult = (age >= hd["adult_age"]).fill_null(False)
    oldest = age.max().over(household)
    second = age.top_k(2).min().over(household)
    adults = adult.cast(pl.Int16).sum().over(household)
    couple = ((adults >= 2) & ((second >= hd["partner_age"]) | (oldest - second <= hd["partner_age_gap"])))
    in_couple = (adult & couple & (age >= second)).fill_null(False)
    parent = (in_couple | (~couple & (age == oldest))).fill_null(False)
    return {"hh_couple": in_couple.alias("hh_couple"), "hh_parent": parent.alias("hh_parent")}


def year_counts(py: pl.DataFrame) -> dict[str, int]:
    """Person-years left out of a join or a measure, with the reason, for reconciliation.json."""
    c = py.select(
        no_udda_row=(pl.col("_udda").is_null()).sum(),
        hfaudd_missing=(pl.col("_udda").is_not_null() & pl.col("HFAUDD").is_null()).sum(),
        education_unknown=pl.col("education_level").is_null().sum(),
        no_akm_row=(pl.col("_akm").is_null()).sum(),
        socio_unknown_code=(pl.col("_akm").is_not_null() & pl.col("socio_category").is_null()).sum(),
        socio_unknown=pl.col("socio_category").is_null().sum(),
        no_ind_row=(pl.col("_ind").is_null()).sum(),
        income_missing_in_ind=(pl.col("_ind").is_not_null() & pl.col("DISPON_NY").is_null()).sum(),
        no_address=pl.col("ADRESSE_ID_h").is_null().sum(),
        address_outside_lookup=(pl.col("ADRESSE_ID_h").is_not_null() & pl.col("afd").is_null()).sum(),
        in_public_housing=pl.col("afd").is_not_null().sum(),
        in_study_afdeling=pl.col("helhedsplan_id").is_not_null().sum(),
        birth_date_unknown=pl.col("FOED_DAG").is_null().sum(),
        origin_unknown=pl.col("non_western").is_null().sum(),
        adult_labour_status_unknown=pl.col("in_labour_force").is_null().sum(),
    )
    return {k: int(v) for k, v in c.row(0, named=True).items()}
