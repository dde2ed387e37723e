"""Public-housing afdelinger, their addresses, and who lives where.

Afdelinger have a capacity (persons); households choose first between the
study tier (afdelinger with a helhedsplan, the disadvantaged estates) and the
other afdelinger, with odds that grow with the household's disadvantage
score, then an afdeling within the tier in proportion to its vacancy, tilted
by the afdeling's persistent reputation times the household's disadvantage
(a few estates strongly attract disadvantaged households). The vacancy
weighting keeps afdelinger near capacity year after year without any loop
over households.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def study_count(cfg: dict[str, Any], persons: int) -> int:
    """Study afdelinger for ``persons``: 365 x clamp(N / 1.5M, floor, 1).

    Not scaled down linearly, so small synthetic populations still have
    enough treated and comparison units for the difference-in-differences.
    """
    h = cfg["housing"]
    scale = min(1.0, max(h["study_scale_floor"], persons / h["study_full_persons"]))
    return int(round(h["study_full"] * scale))


def _largest_remainder(total: int, weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def plan_groups(rng: np.random.Generator, hp: np.ndarray, n_hp: int, targets: np.ndarray) -> np.ndarray:
    """Tool group per study afdeling, dealt to whole helhedsplaner in proportion to the afdeling targets.

    The plans are taken in random order and cut where their cumulative
    afdeling count passes each group's target (a plan goes to the group its
    middle afdeling falls in), so group sizes match ``targets`` to within one
    plan. The number of draws does not depend on ``targets``.
    """
    size = np.bincount(hp, minlength=n_hp)
    order = rng.permutation(n_hp)
    mid = np.cumsum(size[order]) - size[order] / 2
    g_of = np.minimum(np.searchsorted(np.cumsum(targets), mid, side="right"), len(targets) - 1)
    plan_group = np.empty(n_hp, dtype=np.int8)
    plan_group[order] = g_of
    return plan_group[hp]


def kom_weights(rng: np.random.Generator, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Municipality codes and relative populations (big cities from the config, others lognormal)."""
    codes = np.asarray(cfg["codes"]["kom"], dtype=np.int16)
    w = np.exp(rng.standard_normal(len(codes)) * 0.5) * 0.6
    big = cfg["codes"]["kom_big"]
    for i, c in enumerate(codes):
        if str(int(c)) in big:
            w[i] = big[str(int(c))]
    return codes, w / w.sum()


def draw_kom(rng: np.random.Generator, kom: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    codes, w = kom
    return codes[np.minimum(np.searchsorted(np.cumsum(w), rng.random(n), side="right"), len(codes) - 1)]


def afdelinger(rng: np.random.Generator, cfg: dict[str, Any], *, persons: int,
               kom: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The afdeling table as arrays: tier, tools, TOOL_START, FLEX_SHARE, capacity and addresses.

    Study afdelinger come first (index 0 .. n_study-1); groups and TOOL_START are per helhedsplan.
    """
    h = cfg["housing"]
    n_study = study_count(cfg, persons)
    n_afd = max(round(h["afdelinger_full_scale"] * persons / h["persons_full_scale"]),
                math.ceil(n_study / h["max_study_fraction"]))
    study = np.arange(n_afd) < n_study
    # helhedsplaner first, blind to the tool labels (so the KOM a plan draws never depends on them): every plan
    # gets one afdeling, the rest join a random plan (about 3.4 afdelinger per plan, as in the evaluation)
    n_hp = max(1, round(n_study * h["helhedsplaner_full"] / h["study_full"]))
    hp = np.full(n_afd, -1, dtype=np.int32)
    hp[:n_study] = np.where(np.arange(n_study) < n_hp, np.arange(n_study), rng.integers(0, n_hp, n_study))
    # groups: 0 anvisning_only, 1 fleksibel_only, 2 both, 3 neither, -1 not in the study; dealt to whole
    # helhedsplaner (tools were agreed per plan: seed 002, table 6.5 and note 22)
    group = np.full(n_afd, -1, dtype=np.int8)
    group[:n_study] = plan_groups(rng, hp[:n_study], n_hp, _largest_remainder(n_study, h["group_counts"]))
    anv = (group == 0) | (group == 2)
    flex = (group == 1) | (group == 2)
    tool = anv | flex
    years = np.asarray(h["tool_start_years"])
    tw = np.asarray(h["tool_start_weights"], float)
    start = years[np.minimum(np.searchsorted(np.cumsum(tw / tw.sum()), rng.random(n_afd), side="right"),
                             len(years) - 1)]
    # one TOOL_START per helhedsplan: its afdelinger adopt together
    tool_start = np.where(tool, start[np.maximum(hp, 0)], 0).astype(np.int32)
    a, b = h["flex_share_beta"]
    share = np.clip(rng.beta(a, b, n_afd), h["flex_share_min"], 1.0)
    flex_share = np.where(flex, share, np.nan)
    hp_kom = draw_kom(rng, kom, n_hp)
    afd_kom = draw_kom(rng, kom, n_afd)
    afd_kom[:n_study] = hp_kom[hp[:n_study]]
    size = np.exp(rng.standard_normal(n_afd) * h["size_sdlog"]) * np.where(study, h["study_size_factor"], 1.0)
    cap = h["public_share"] * persons * size / size.sum()
    n_addr = np.maximum(1, np.round(cap / h["persons_per_address"])).astype(np.int64)
    return {"study": study, "group": group, "anv": anv, "flex": flex, "tool_start": tool_start,
            "flex_share": flex_share, "hp": hp, "kom": afd_kom, "cap": cap, "n_addr": n_addr,
            "addr_start": np.cumsum(n_addr) - n_addr}


def family_score(cfg: dict[str, Any], *, zmean: np.ndarray, nonwestern: np.ndarray, adults: np.ndarray,
                 kids: np.ndarray) -> np.ndarray:
    """Disadvantage score of a household: low resources, non-Western origin, single (parent)."""
    h = cfg["housing"]
    return (h["score_z"] * zmean + h["score_nonwestern"] * nonwestern
            + h["score_single"] * ((adults <= 1) & (kids == 0)) + h["score_single_parent"] * ((adults <= 1) & (kids > 0)))


def weighted_take(rng: np.random.Generator, weight: np.ndarray, size: np.ndarray, target: float) -> np.ndarray:
    """Mask of households drawn without replacement with prob. ~ ``weight`` until ``target`` persons.

    Efraimidis-Spirakis keys ``-log(U) / w``: sorting them is weighted sampling
    without replacement, so the cut at ``target`` persons needs one sort.
    """
    key = -np.log(rng.random(len(weight))) / weight
    order = np.argsort(key, kind="stable")
    take = np.zeros(len(weight), dtype=bool)
    if target <= 0:
        return take
    n = int(np.searchsorted(np.cumsum(size[order]), target, side="left")) + 1
    take[order[:n]] = True
    return take


def reputation(rng: np.random.Generator, cfg: dict[str, Any], afd: dict[str, np.ndarray]) -> np.ndarray:
    """A persistent draw per afdeling: how strongly it attracts disadvantaged households.

    Normal, larger for the large estates (correlated with log capacity) and
    shifted for the study tier (the helhedsplan estates), whose spread is
    damped: treated and comparison afdelinger of the DiD stay alike, so
    the dose slope over FLEX_SHARE stays F (tests/test_did_planted.py). It enters the choice
    of an afdeling as ``exp(reputation_effect * rep * (score - mean score))``, so
    the log-odds of a non-Western resident are about linear in ``rep`` and the
    afdeling shares come out logit-normal, with the long right tail of the
    Danish estates.
    """
    h = cfg["housing"]
    logcap = np.log(afd["cap"])
    size = (logcap - logcap.mean()) / max(float(logcap.std()), 1e-9)
    rho = h["reputation_size_corr"]
    base = rho * size + math.sqrt(1 - rho * rho) * rng.standard_normal(len(logcap))
    sd = h["reputation_sd"] * np.where(afd["study"], h["reputation_study_sd_factor"], 1.0)
    return sd * base + h["reputation_study_shift"] * afd["study"]


def pick_in_tier(rng: np.random.Generator, cfg: dict[str, Any], *, vac: np.ndarray, rep: np.ndarray,
                 score: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Index (into ``vac``) of an afdeling per household, by vacancy and reputation x disadvantage.

    Households are grouped into score bins; the bin x afdeling weights
    ``exp(effect * rep * (score - mean))`` are rescaled per afdeling
    (Sinkhorn) so that the persons drawn into each afdeling stay proportional
    to its vacancy: the reputation changes who moves in, not how many.
    """
    h = cfg["housing"]
    n, m = len(score), len(vac)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = h["reputation_effect"]
    w = np.maximum(size, 1).astype(float)
    if k == 0 or not np.any(rep):
        cum = np.cumsum(vac) / vac.sum()
        return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), m - 1)
    n_bins = int(h["reputation_bins"])
    edges = np.quantile(score, np.linspace(0, 1, n_bins + 1)[1:-1])
    b = np.searchsorted(edges, score, side="right")
    nb = np.bincount(b, weights=w, minlength=n_bins)
    sb = np.bincount(b, weights=w * score, minlength=n_bins) / np.maximum(nb, 1e-12)
    centre = float((w * score).sum() / w.sum())
    logm = k * np.outer(sb - centre, rep)
    logm -= logm.max(axis=1, keepdims=True)
    mat = np.exp(logm) * vac[None, :]
    target = vac / vac.sum() * nb.sum()
    col = np.ones(m)
    for _ in range(int(h["reputation_sinkhorn"])):
        p = mat * col[None, :]
        p /= p.sum(axis=1, keepdims=True)
        demand = nb @ p
        col *= np.where(demand > 0, target / np.maximum(demand, 1e-300), 1.0)
    p = mat * col[None, :]
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_bins)[:, None]).ravel()
    pick = np.searchsorted(flat, b + rng.random(n), side="right") - b * m
    return np.clip(pick, 0, m - 1)


def choose_afdeling(rng: np.random.Generator, cfg: dict[str, Any], afd: dict[str, np.ndarray], *,
                    occupancy: np.ndarray, score: np.ndarray, exclude: np.ndarray,
                    size: np.ndarray | None = None, affinity: np.ndarray | None = None) -> np.ndarray:
    """Destination afdeling per household: study tier by score and vacancy, then by vacancy and reputation.

    ``exclude`` is the origin afdeling (-1 for none); a draw equal to it moves
    to the next afdeling of the same tier, so a between-move never stays.
    ``size`` (persons per household) weights the reputation balance;
    ``affinity`` (default ``score``) is what the reputation interacts with.
    """
    h = cfg["housing"]
    cap = afd["cap"]
    vac = np.maximum(cap - occupancy, 0.0) + h["vacancy_floor"] * cap
    study = afd["study"]
    rep = afd.get("rep", np.zeros(len(cap)))
    size = np.ones(len(score)) if size is None else size
    affinity = score if affinity is None else affinity
    v_s, v_o = vac[study].sum(), vac[~study].sum()
    odds = v_s * np.exp(h["lambda_study"] * score)
    to_study = rng.random(len(score)) < odds / (odds + v_o)
    n_study = int(study.sum())
    dest = np.empty(len(score), dtype=np.int64)
    for mask, lo, hi in ((to_study, 0, n_study), (~to_study, n_study, len(cap))):
        ids = np.flatnonzero(mask)
        dest[ids] = lo + pick_in_tier(rng, cfg, vac=vac[lo:hi], rep=rep[lo:hi], score=affinity[ids],
                                           size=size[ids])
    same = dest == exclude
    lo = np.where(to_study, 0, n_study)
    width = np.where(to_study, n_study, len(cap) - n_study)
    dest = np.where(same, lo + (dest - lo + 1) % np.maximum(width, 1), dest)
    return dest.astype(np.int32)


def random_address(rng: np.random.Generator, afd: dict[str, np.ndarray], dest: np.ndarray,
                   avoid: np.ndarray | None = None) -> np.ndarray:
    """An address of afdeling ``dest``; with ``avoid`` a different one when the afdeling has several."""
    n_addr = afd["n_addr"][dest]
    start = afd["addr_start"][dest]
    if avoid is None:
        return start + (rng.random(len(dest)) * n_addr).astype(np.int64)
    off = avoid - start
    step = 1 + (rng.random(len(dest)) * np.maximum(n_addr - 1, 1)).astype(np.int64)
    return start + (off + step) % n_addr


def affinity(cfg: dict[str, Any], score: np.ndarray, nonwestern: np.ndarray) -> np.ndarray:
    """What an afdeling's reputation attracts: disadvantage plus a co-ethnic pull of non-Western households.

    The disadvantage score alone cannot make estates more than about half non-Western (the weakest
    Danish households compete for the same flats); the extra term is the network effect that makes
    the Danish estates of 70-90 % immigrants and descendants.
    """
    return score + cfg["housing"]["reputation_nonwestern"] * nonwestern
