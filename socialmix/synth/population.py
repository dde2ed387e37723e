"""Persons and households of the synthetic population, as columns of numpy arrays.

A population is a dict of equally long arrays, one entry per person ever
created (``alive`` says who is in Denmark now); families are a dict of arrays
indexed by the integer family surrogate. Keeping everything as flat arrays
lets every yearly event (death, birth, move, ...) be a vectorised mask.
Each person carries fixed uniforms (education, disability, job type, ...)
drawn once at creation, so outcomes are persistent and the counterfactual
and the treated outcome share their random numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPOCH = np.datetime64("1970-01-01", "D")

# per-person fixed draws (uniform unless noted)
TRAITS = ("u_edu", "u_level", "u_code", "u_dis", "u_er", "u_job", "u_eunk", "w_emp")


def new_persons(rng: np.random.Generator, *, byear: np.ndarray, sex: np.ndarray, ie: np.ndarray,
                land: np.ndarray, z: np.ndarray, fam: np.ndarray, is_child: np.ndarray) -> dict[str, np.ndarray]:
    """Person columns for a batch of new persons (birth day drawn within ``byear``)."""
    n = len(byear)
    start = ((np.asarray(byear, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]") - EPOCH).astype(np.int32)
    leap = ((byear % 4 == 0) & ((byear % 100 != 0) | (byear % 400 == 0))).astype(np.int32)
    bday = start + (rng.random(n) * (365 + leap)).astype(np.int32)
    out = {
        "bday": bday, "byear": byear.astype(np.int16), "sex": sex.astype(np.int8), "ie": ie.astype(np.int8),
        "land": land.astype(np.int16), "z": z.astype(np.float32), "fam": fam.astype(np.int64),
        "is_child": is_child.astype(bool), "alive": np.ones(n, dtype=bool),
        "treat_afd": np.full(n, -1, dtype=np.int32), "arrived": np.zeros(n, dtype=np.int16),
        "serial": np.zeros(n, dtype=np.int32),
    }
    for name in TRAITS:
        out[name] = (rng.standard_normal(n) if name == "w_emp" else rng.random(n)).astype(np.float32)
    return out


def append(pop: dict[str, np.ndarray], batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Population with ``batch`` appended (same keys)."""
    return {k: np.concatenate([pop[k], batch[k]]) for k in pop}


def _pick(rng: np.random.Generator, values: list[int], weights: list[float], n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    idx = np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right")
    return np.asarray(values)[np.minimum(idx, len(values) - 1)]


def households(rng: np.random.Generator, cfg: dict[str, Any], *, n_households: int, year: int,
               immigrant: bool, first_family: int) -> dict[str, np.ndarray]:
    """Persons of ``n_households`` new households, family ids from ``first_family``.

    ``immigrant`` households arrive from abroad (all IE_TYPE 2 adults, young
    heads); otherwise the origin mix of the initial 2003 population is used.
    """
    pc, dc, cc = cfg["population"], cfg["demography"], cfg["codes"]
    h = n_households
    type_probs = dc["immigrant_household_type_probs"] if immigrant else pc["household_type_probs"]
    htype = _pick(rng, [0, 1, 2, 3], type_probs, h)
    # head age
    bands, weights = np.asarray(pc["head_age_bands"]), np.asarray(pc["head_age_weights"], float)
    band = _pick(rng, list(range(len(weights))), list(weights), h)
    head_age = (bands[band] + rng.random(h) * (bands[band + 1] - bands[band])).astype(np.int32)
    with_kids = htype >= 2
    parent_age = rng.integers(pc["parent_age_min"], pc["parent_age_max"] + 1, h)
    head_age = np.where(with_kids, parent_age, head_age)
    if immigrant:
        head_age = rng.integers(dc["immigrant_head_age_min"], dc["immigrant_head_age_max"] + 1, h)
    n_adults = np.where((htype == 1) | (htype == 2), 2, 1)
    n_kids = np.where(with_kids, _pick(rng, [1, 2, 3], pc["kids_probs"], h), 0)
    # origin: 0 Danish, 1 Western, 2 non-Western
    if immigrant:
        nw = dc["immigrant_origin_nonwestern"]
        origin = np.where(rng.random(h) < nw, 2, 1)
    else:
        origin = _pick(rng, [0, 1, 2], pc["origin_probs"], h)
    land_h = np.full(h, cc["denmark"], dtype=np.int32)
    west = origin == 1
    nonw = origin == 2
    land_h[west] = _pick(rng, cc["western_countries"], cc["western_weights"], int(west.sum()))
    land_h[nonw] = _pick(rng, cc["nonwestern_countries"], cc["nonwestern_weights"], int(nonw.sum()))
    zmean = np.asarray(pc["z_origin_mean"])[origin] + rng.standard_normal(h) * pc["z_family_sd"]
    head_sex = np.where(htype == 3, np.where(rng.random(h) < pc["single_parent_woman"], 2, 1),
                        rng.integers(1, 3, h))

    size = n_adults + n_kids
    hh = np.repeat(np.arange(h), size)
    pos = np.arange(len(hh)) - np.repeat(np.cumsum(size) - size, size)  # 0 head, 1 partner or kid
    is_partner = (pos == 1) & (n_adults[hh] == 2)
    is_child = pos >= n_adults[hh]
    n = len(hh)
    partner_age = head_age[hh] + np.round(rng.standard_normal(n) * pc["partner_age_shift_sd"] - 2)
    kid_top = np.clip(np.minimum(pc["kid_age_max"], head_age[hh] - 20), 0, None)
    kid_age = np.floor(rng.random(n) * (kid_top + 1))
    age = np.where(is_child, kid_age, np.where(is_partner, np.maximum(partner_age, 18), head_age[hh]))
    sex = np.where(pos == 0, head_sex[hh], np.where(is_partner, 3 - head_sex[hh], rng.integers(1, 3, n)))
    org = origin[hh]
    imm = org > 0
    ie = np.where(imm, 2, 1)
    if not immigrant:
        young_adult = ~is_child & (age < 35)
        ie = np.where(imm & young_adult & (rng.random(n) < pc["descendant_adult_share"]), 3, ie)
        # children of immigrant households already here were mostly born in Denmark
        ie = np.where(imm & is_child & (rng.random(n) < pc["descendant_child_share"]), 3, ie)
    z = zmean[hh] + rng.standard_normal(n) * pc["z_person_sd"]
    out = new_persons(rng, byear=(year - age).astype(np.int32), sex=sex, ie=ie, land=land_h[hh], z=z,
                      fam=first_family + hh, is_child=is_child)
    out["arrived"][:] = year if immigrant else 0
    return out


def initial(rng: np.random.Generator, cfg: dict[str, Any], *, persons: int, year: int) -> dict[str, np.ndarray]:
    """About ``persons`` persons in whole households on 31 Dec of ``year``."""
    n_h = int(persons / 1.8) + 10  # households average about 2.1 persons
    pop = households(rng, cfg, n_households=n_h, year=year, immigrant=False, first_family=0)
    while len(pop["fam"]) < persons:
        more = households(rng, cfg, n_households=n_h // 4 + 10, year=year, immigrant=False, first_family=n_h)
        n_h += n_h // 4 + 10
        pop = append(pop, more)
    # keep whole households while the running count stays within ``persons``
    size = np.bincount(pop["fam"], minlength=n_h)
    keep_h = np.cumsum(size) <= persons
    keep = keep_h[pop["fam"]]
    return {k: v[keep] for k, v in pop.items()}


def mortality(cfg: dict[str, Any], age: np.ndarray) -> np.ndarray:
    d = cfg["demography"]
    return np.minimum(d["mortality_cap"], np.exp(d["mortality_a"] + d["mortality_b"] * age))


def fertility(cfg: dict[str, Any], age: np.ndarray, nonwestern: np.ndarray) -> np.ndarray:
    d = cfg["demography"]
    p = d["fertility_peak"] * np.exp(-(((age - d["fertility_mode"]) / d["fertility_width"]) ** 2))
    p = np.where(nonwestern, p * d["fertility_nonwestern_factor"], p)
    return np.where((age >= 18) & (age <= 45), p, 0.0)
