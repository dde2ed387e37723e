"""Education, labour-market status and income of one year, with both potential outcomes.

Common random numbers: the untreated outcome ``Y0`` and the treated outcome
``Y1`` are thresholds of the SAME uniform draw, ``Y0 = U < p`` and
``Y1 = U < p + F*s*D`` (``D`` = treated in-mover still in the afdeling,
``s`` its FLEX_SHARE). So exactly the persons with ``p <= U < p + F*s``
are flipped to employed (competence-giving education), the expected shift
is ``F*s`` whenever ``p + F*s <= 1``, and ``F = 0`` reproduces ``Y0``
bit for bit. Nothing else (labour-force status, missing rows, income) depends
on ``F``: income follows the counterfactual status.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from socialmix.synth.codes import LEVELS, level_code_arrays

PENSION = (321, 322, 323)
UNKNOWN = (0, 999)


def phi(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (erf via Abramowitz-Stegun 7.1.26, |error| < 1.5e-7)."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def _pick(u: np.ndarray, weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.minimum(np.searchsorted(np.cumsum(w / w.sum()), u, side="right"), len(w) - 1)


def education(cfg: dict[str, Any], p: dict[str, np.ndarray], *, age: np.ndarray, nw: np.ndarray,
              dose: np.ndarray) -> dict[str, np.ndarray]:
    """HFAUDD code (null = -1) under treatment, competence indicators Y0/Y1 and P(Y0=1)."""
    e = cfg["education"]
    prob = phi(e["a"] + e["b"] * p["z"] + e["cohort_slope"] * (p["byear"] - 1965.0) + e["nonwestern"] * nw)
    comp0 = p["u_edu"] < prob
    comp1 = p["u_edu"] < prob + dose
    adult = age >= 18
    comp_level = 2 + _pick(p["u_level"], e["competent_probs"])  # index into LEVELS (H20 = 2)
    low_level = np.where(p["u_level"] < e["h15_share"], 1, 0)
    level = np.where(adult & comp1, comp_level, np.where(adult, low_level, LEVELS.index(e["child_level"])))
    mat, n_codes = level_code_arrays(cfg)
    code = mat[level, np.minimum((p["u_code"] * n_codes[level]).astype(np.int64), n_codes[level] - 1)]
    unknown = p["u_eunk"] < np.where(p["ie"] == 2, e["unknown_immigrant"], e["unknown_other"])
    code = np.where(unknown, -1, code)
    return {"hfaudd": code, "comp0": comp0 & adult, "comp1": comp1 & adult, "edu_known": ~unknown & adult,
            "p_edu": prob}


def labour(rng: np.random.Generator, cfg: dict[str, Any], p: dict[str, np.ndarray], *, age: np.ndarray,
           nw: np.ndarray, year: int, dose: np.ndarray) -> dict[str, np.ndarray]:
    """AKM code under treatment (``code1``) and without (``code0``), labour-force flag and P(employed)."""
    c = cfg["labour"]
    n = len(age)
    eps = rng.standard_normal(n)
    u_cat = rng.random(n)
    u_old = rng.random(n)
    u_unknown = rng.random(n)
    adult = (age >= 18) & (age <= 64)
    dis = adult & (p["u_dis"] < phi(c["disability_a"] + c["disability_age"] * (age - 40.0) + c["disability_z"] * p["z"]))
    er = adult & ~dis & (age >= c["early_retirement_age"]) & (p["u_er"] < c["early_retirement_share"])
    band = np.clip(np.searchsorted(np.asarray(c["age_bands"]), age, side="right") - 1, 0, len(c["age_effects"]) - 1)
    prob = phi(c["a"] + c["b"] * p["z"] + np.asarray(c["age_effects"])[band] + c["year_effects"][str(year)]
               + c["nonwestern"] * nw)
    rho = c["persistence"]
    u = phi(rho * p["w_emp"] + math.sqrt(1 - rho * rho) * eps)
    emp0 = u < prob
    emp1 = u < prob + dose
    job = np.asarray(c["employed_codes"])[_pick(p["u_job"], c["employed_weights"])]
    non = np.asarray(c["nonemployed_codes"])
    nonemp = np.where(age < 30, non[_pick(u_cat, c["nonemployed_young"])], non[_pick(u_cat, c["nonemployed_older"])])
    base = np.where(age < 15, 420, np.where(u_cat < c["youth_employed"], job, 310))  # children and 15-17
    base = np.where(age >= c["old_age_age"], np.where(u_old < c["old_age_employed"], job, 322), base)
    base = np.where(dis, 321, np.where(er, 323, base))
    lf = adult & ~dis & ~er
    code0 = np.where(lf, np.where(emp0, job, nonemp), base)
    code1 = np.where(lf, np.where(emp1, job, nonemp), base)
    unknown = u_unknown < c["unknown_code_rate"]
    unk_code = np.where(u_unknown < c["unknown_code_rate"] / 2, 0, 999)
    code0 = np.where(unknown, unk_code, code0)
    code1 = np.where(unknown, unk_code, code1)
    return {"code0": code0.astype(np.int32), "code1": code1.astype(np.int32), "lf": lf & ~unknown,
            "emp0": emp0 & lf, "emp1": emp1 & lf, "p_emp": prob}


def income(rng: np.random.Generator, cfg: dict[str, Any], p: dict[str, np.ndarray], *, age: np.ndarray,
           code0: np.ndarray, cpi_ratio: float) -> np.ndarray:
    """DISPON_NY in current prices, from the counterfactual status (``F`` never changes income)."""
    ic = cfg["income"]
    base = np.full(len(age), ic["unknown"])
    employed = (code0 >= 111) & (code0 <= 139)
    for codes, key in (((210,), "unemployed"), ((220,), "other_benefit"), ((310,), "education"),
                       ((321,), "disability_pension"), ((322,), "old_age_pension"), ((323,), "early_retirement"),
                       ((330,), "cash_benefit"), ((410,), "other"), ((420,), "child")):
        base = np.where(np.isin(code0, codes), ic[key], base)
    base = np.where(employed, ic["employed"], base)
    base = np.where((age >= 15) & (age < 18), ic["youth"], base)
    noise = np.exp(ic["z_effect"] * p["z"] + ic["sd"] * rng.standard_normal(len(age)))
    return np.round(base * noise * cpi_ratio, 0)
