"""One year of population dynamics: deaths, emigration, births, families, moves, immigration.

Everything is a vectorised mask over persons or families. Nothing here looks
at employment or education, so the planted effect (applied to outcomes only)
can never change who lives where: population and moves are identical for
every ``--effect``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from socialmix.synth import housing
from socialmix.synth.population import append, fertility, households, mortality, new_persons


def nonwestern(cfg: dict[str, Any], pop: dict[str, np.ndarray]) -> np.ndarray:
    """Non-Western origin per person (IE_TYPE 2/3 and a non-Western OPR_LAND)."""
    return (pop["ie"] > 1) & np.isin(pop["land"], cfg["codes"]["nonwestern_countries"])


def family_stats(cfg: dict[str, Any], pop: dict[str, np.ndarray], n_fam: int) -> dict[str, np.ndarray]:
    """Members, adults, children, mean adult z, non-Western flag and disadvantage score per family."""
    alive = pop["alive"]
    f = pop["fam"]
    adult = alive & ~pop["is_child"]
    size = np.bincount(f[alive], minlength=n_fam)
    adults = np.bincount(f[adult], minlength=n_fam)
    kids = size - adults
    zsum = np.bincount(f[adult], weights=pop["z"][adult], minlength=n_fam)
    zall = np.bincount(f[alive], weights=pop["z"][alive], minlength=n_fam)
    zmean = np.where(adults > 0, zsum / np.maximum(adults, 1), zall / np.maximum(size, 1))
    nw = np.bincount(f[alive & nonwestern(cfg, pop)], minlength=n_fam) > 0
    score = housing.family_score(cfg, zmean=zmean, nonwestern=nw, adults=adults, kids=kids)
    return {"size": size, "adults": adults, "kids": kids, "zmean": zmean, "nw": nw, "score": score}


def place_initial(rng: np.random.Generator, cfg: dict[str, Any], pop: dict[str, np.ndarray],
                  afd: dict[str, np.ndarray], kom: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Family table (address, afdeling, KOM) for the initial population."""
    h = cfg["housing"]
    n_fam = int(pop["fam"].max()) + 1
    st = family_stats(cfg, pop, n_fam)
    size = st["size"]
    n_persons = int(size.sum())
    public = housing.weighted_take(rng, np.exp(h["lambda_public"] * st["score"]) * (size > 0), size,
                                   h["public_share"] * n_persons) & (size > 0)
    pub_ids = np.flatnonzero(public)
    n_study = int(afd["study"].sum())
    study_cap = afd["cap"][:n_study].sum()
    in_study = housing.weighted_take(rng, np.exp(h["lambda_study"] * st["score"][pub_ids]), size[pub_ids],
                                     study_cap)
    if "rep" not in afd:
        afd["rep"] = housing.reputation(rng, cfg, afd)
    fam_afd = np.full(n_fam, -1, dtype=np.int32)
    for tier_mask, lo, hi in ((in_study, 0, n_study), (~in_study, n_study, len(afd["cap"]))):
        ids = pub_ids[tier_mask]
        fam_afd[ids] = lo + housing.pick_in_tier(rng, cfg, vac=afd["cap"][lo:hi], rep=afd["rep"][lo:hi],
                                                 score=housing.affinity(cfg, st["score"][ids], st["nw"][ids]),
                                                 size=size[ids])
    fam_addr = np.full(n_fam, -1, dtype=np.int64)
    pub = fam_afd >= 0
    fam_addr[pub] = housing.random_address(rng, afd, fam_afd[pub])
    priv = ~pub
    first_private = int(afd["n_addr"].sum())
    fam_addr[priv] = first_private + np.arange(int(priv.sum()))
    fam_kom = housing.draw_kom(rng, kom, n_fam)
    fam_kom[pub] = afd["kom"][fam_afd[pub]]
    return {"addr": fam_addr, "afd": fam_afd, "kom": fam_kom, "next_addr": np.array([first_private + priv.sum()])}


def _rank_in_family(fam: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each family, in person order."""
    order = np.argsort(fam, kind="stable")
    f = fam[order]
    start = np.r_[0, np.flatnonzero(np.diff(f)) + 1]
    ranks = np.arange(len(f)) - np.repeat(start, np.diff(np.r_[start, len(f)]))
    out = np.empty(len(fam), dtype=np.int64)
    out[order] = ranks
    return out


def _grow(fams: dict[str, np.ndarray], n: int, *, afd: np.ndarray, kom: np.ndarray) -> dict[str, np.ndarray]:
    out = dict(fams)
    out["addr"] = np.r_[fams["addr"], np.full(n, -1, dtype=np.int64)]
    out["afd"] = np.r_[fams["afd"], afd.astype(np.int32)]
    out["kom"] = np.r_[fams["kom"], kom.astype(np.int16)]
    return out


def step(rng: np.random.Generator, cfg: dict[str, Any], pop: dict[str, np.ndarray], fams: dict[str, np.ndarray],
         afd: dict[str, np.ndarray], kom: tuple[np.ndarray, np.ndarray], year: int,
         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Advance from 31 Dec ``year``-1 to 31 Dec ``year``.

    Returns the new population, the new family table and each person's
    afdeling on 31 Dec ``year``-1 (-1 outside public housing, -2 not in BEF).
    """
    d, fc, h = cfg["demography"], cfg["family"], cfg["housing"]
    n = len(pop["alive"])
    prev_afd = np.where(pop["alive"], fams["afd"][pop["fam"]], -2).astype(np.int32)
    age = year - pop["byear"].astype(np.int32)
    pop = dict(pop)
    # deaths and emigration (whole households; immigrant households more often)
    alive = pop["alive"] & (rng.random(n) >= mortality(cfg, age))
    n_fam = len(fams["afd"])
    imm_f = np.bincount(pop["fam"][alive & (pop["ie"] == 2)], minlength=n_fam) > 0
    emig_f = rng.random(n_fam) < np.where(imm_f, d["emigration_immigrant"], d["emigration_danish"])
    alive &= ~emig_f[pop["fam"]]
    pop["alive"] = alive
    # births
    nw = nonwestern(cfg, pop)
    mother = alive & (pop["sex"] == 2) & ~pop["is_child"] & (rng.random(n) < fertility(cfg, age, nw))
    m = np.flatnonzero(mother)
    zsd = cfg["population"]["z_person_sd"]
    babies = new_persons(
        rng, byear=np.full(len(m), year), sex=rng.integers(1, 3, len(m)),
        ie=np.where(pop["ie"][m] == 1, 1, 3), land=pop["land"][m],
        z=0.6 * pop["z"][m] + rng.standard_normal(len(m)) * zsd, fam=pop["fam"][m],
        is_child=np.ones(len(m), dtype=bool))
    pop = append(pop, babies)
    prev_afd = np.r_[prev_afd, np.full(len(m), -2, dtype=np.int32)]
    n = len(pop["alive"])
    age = year - pop["byear"].astype(np.int32)
    alive = pop["alive"]
    adult = alive & ~pop["is_child"]
    adults_f = np.bincount(pop["fam"][adult], minlength=n_fam)
    kids_f = np.bincount(pop["fam"][alive & pop["is_child"]], minlength=n_fam)
    # children leaving home, couples splitting: each leaver founds a new family
    leave = alive & pop["is_child"] & (age >= 18) & (rng.random(n) < fc["leave_home_rate"])
    split_f = (adults_f == 2) & (rng.random(n_fam) < fc["split_rate"])
    in_split = adult & split_f[pop["fam"]]
    rank = np.zeros(n, dtype=np.int64)
    rank[in_split] = _rank_in_family(pop["fam"][in_split])
    split = in_split & (rank == 1)
    leavers = np.flatnonzero(leave | split)
    old_fam = pop["fam"][leavers]
    new_ids = n_fam + np.arange(len(leavers))
    fams = _grow(fams, len(leavers), afd=fams["afd"][old_fam], kom=fams["kom"][old_fam])
    pop["fam"] = pop["fam"].copy()
    pop["fam"][leavers] = new_ids
    pop["is_child"] = pop["is_child"] & ~leave
    # childless singles pair up: the second of each pair joins the first's household
    single = (alive & ~pop["is_child"] & (adults_f[np.minimum(pop["fam"], n_fam - 1)] == 1)
              & (kids_f[np.minimum(pop["fam"], n_fam - 1)] == 0) & (pop["fam"] < n_fam)
              & (age >= fc["partner_age_min"]) & (age <= fc["partner_age_max"]))
    seek = np.flatnonzero(single & (rng.random(n) < fc["partner_rate"]))
    seek = rng.permutation(seek)
    half = len(seek) // 2
    joiner, host = seek[:half], seek[half: 2 * half]
    pop["fam"][joiner] = pop["fam"][host]
    # moves of households
    n_fam = len(fams["afd"])
    st = family_stats(cfg, pop, n_fam)
    size = st["size"]
    exists = size > 0
    is_new = np.arange(n_fam) >= n_fam - len(leavers)
    public = fams["afd"] >= 0
    u = rng.random(n_fam)
    move = exists & (is_new | (u < np.where(public, h["public_move_rate"], h["private_move_rate"])))
    # public-origin movers: internal, between or out of the sector
    pm = move & public
    u_kind = rng.random(n_fam)
    internal = pm & (u_kind < h["internal_share"])
    out = pm & ~internal
    zc = st["zmean"] - (st["zmean"][out].mean() if out.any() else 0.0)
    p_leave = 1.0 / (1.0 + np.exp(-(np.log((1 - h["between_share"]) / h["between_share"]) + h["out_of_sector_z"] * zc)))
    leave_sector = out & (rng.random(n_fam) < p_leave)
    between = out & ~leave_sector
    # immigrant households arrive
    n_alive = int(alive.sum())
    n_imm = int(rng.poisson(d["immigration_rate"] * n_alive))
    imm = households(rng, cfg, n_households=n_imm, year=year, immigrant=True, first_family=n_fam)
    n_new = len(imm["alive"])
    fams = _grow(fams, n_imm, afd=np.full(n_imm, -1), kom=housing.draw_kom(rng, kom, n_imm))
    pop = append(pop, imm)
    prev_afd = np.r_[prev_afd, np.full(n_new, -2, dtype=np.int32)]
    imm_size = np.bincount(imm["fam"] - n_fam, minlength=n_imm)
    imm_nw = np.isin(land_of_family(imm, n_fam, n_imm), cfg["codes"]["nonwestern_countries"])
    imm_public = rng.random(n_imm) < np.where(imm_nw, h["immigrant_public_nonwestern"], h["immigrant_public_western"])
    imm_st = family_stats(cfg, imm, n_fam + n_imm)
    # balance: private movers into the sector fill what the sector lost
    priv_mover = move & ~public
    staying_public = public & exists & ~leave_sector
    public_now = size[staying_public].sum() + imm_size[imm_public].sum()
    target = h["public_share"] * (n_alive + n_new)
    into = np.zeros(n_fam, dtype=bool)
    cand = np.flatnonzero(priv_mover)
    into[cand] = housing.weighted_take(rng, np.exp(h["lambda_into"] * st["score"][cand]), size[cand],
                                       target - public_now)
    # occupancy after outflows, then destinations
    stay = staying_public & ~between
    occ = np.bincount(fams["afd"][:n_fam][stay], weights=size[stay], minlength=len(afd["cap"]))
    movers_in = np.flatnonzero(between | into)
    imm_in = np.flatnonzero(imm_public)
    score_in = np.r_[st["score"][movers_in], imm_st["score"][n_fam + imm_in]]
    origin = np.r_[fams["afd"][movers_in], np.full(len(imm_in), -1)]
    size_in = np.r_[size[movers_in], imm_size[imm_in]]
    aff_in = housing.affinity(cfg, score_in, np.r_[st["nw"][movers_in], imm_st["nw"][n_fam + imm_in]])
    dest = housing.choose_afdeling(rng, cfg, afd, occupancy=occ, score=score_in, exclude=origin, size=size_in,
                                   affinity=aff_in)
    ids_in = np.r_[movers_in, n_fam + imm_in]
    # apply: internal address change, public destinations, private addresses
    fams["addr"] = fams["addr"].copy()
    fams["afd"] = fams["afd"].copy()
    fams["kom"] = fams["kom"].copy()
    ii = np.flatnonzero(internal)
    fams["addr"][ii] = housing.random_address(rng, afd, fams["afd"][ii], avoid=np.where(
        fams["addr"][ii] >= 0, fams["addr"][ii], afd["addr_start"][fams["afd"][ii]]))
    fams["afd"][ids_in] = dest
    fams["addr"][ids_in] = housing.random_address(rng, afd, dest)
    fams["kom"][ids_in] = afd["kom"][dest]
    to_private = np.r_[np.flatnonzero(leave_sector | (priv_mover & ~into)),
                       n_fam + np.flatnonzero(~imm_public)]
    start = int(fams["next_addr"][0])
    fams["addr"][to_private] = start + np.arange(len(to_private))
    fams["next_addr"] = np.array([start + len(to_private)])
    new_kom = housing.draw_kom(rng, kom, len(to_private))
    keep_kom = (rng.random(len(to_private)) < h["stay_in_kom"]) & (to_private < n_fam)
    fams["kom"][to_private] = np.where(keep_kom, fams["kom"][to_private], new_kom)
    fams["afd"][to_private] = -1
    return pop, fams, prev_afd


def land_of_family(pop: dict[str, np.ndarray], first: int, n_fam: int) -> np.ndarray:
    """OPR_LAND of each family of a batch (every member of a new household shares it)."""
    land = np.zeros(n_fam, dtype=np.int32)
    land[pop["fam"] - first] = pop["land"]
    return land
