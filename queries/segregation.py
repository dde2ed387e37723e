"""Segregation indices across a municipality's public-housing afdelinger (contract §10).

The evaluation asks that mixing spread across the sector and the city rather
than dilute one estate (seed 002, ch. 8); the field measures that with
segregation indices over units. The units of a municipality-year are its
public-housing afdelinger plus one unit holding every other resident of the
municipality, so an index moves when a trait concentrates in some afdelinger
relative to the city around them.

For a trait held by group a (b = the rest), with a_i, b_i, t_i per unit and
A, B, T in total (natural logarithms, 0 ln 0 = 0):

- dissimilarity  ½ Σ |a_i/A − b_i/B|
- theil_h        Σ t_i (E − E_i) / (T E), E the binary entropy of A/T, E_i of a_i/t_i
- mutual_information  Σ (t_i/T)(E − E_i) = E · H (Theil's M)
- isolation      Σ (a_i/A)(a_i/t_i)
- exposure       Σ (a_i/A)(b_i/t_i)

These equal PySAL ``segregation``'s Dissim, Entropy, Isolation and Interaction
on the same counts (tests/test_segregation.py). A multinomial bootstrap of the
unit × trait table (as R ``segregation`` does with ``se = TRUE``) gives a
standard error, a basic 95 % interval and a bias-corrected value — the
indices are biased upwards in small units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from panel.config import load_config
from panel.errors import InputError
from panel.schema import scan_panel
from queries.disclosure import protect

INDICES = ("dissimilarity", "theil_h", "mutual_information", "isolation", "exposure")
KEY = ("kom", "year", "trait")
REST_UNIT = "rest of municipality"
COLUMNS = ("kom", "year", "trait", "index", "value", "value_bc", "se", "ci_low", "ci_high", "n", "units",
           "suppressed")
NUMBER_COLUMNS = ("value", "value_bc", "se", "ci_low", "ci_high", "n", "units")
RELEASE_NULLS = ("value", "value_bc", "se", "ci_low", "ci_high", "n", "n_units")


@dataclass(frozen=True)
class Trait:
    """Who is counted (``population``) and who holds the trait (``holds``), as panel expressions."""

    population: pl.Expr
    holds: pl.Expr


def _adult() -> pl.Expr:
    return pl.col("age").is_between(18, 64)


def traits(low_income_share: float = 0.5) -> dict[str, Trait]:
    """The traits segregation can be measured for; each defined here once."""
    adult = _adult()
    median = pl.col("hh_income_2013").filter(adult).median().over("year")
    return {
        "non_western": Trait(pl.lit(True), pl.col("non_western")),
        "employed": Trait(pl.col("in_labour_force").fill_null(False) & pl.col("employed").is_not_null(),
                          pl.col("employed")),
        "low_income": Trait(adult & pl.col("hh_income_2013").is_not_null(),
                            pl.col("hh_income_2013") < low_income_share * median),
    }


def segregation_config(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped ``queries/segregation.toml`` merged with an optional user file."""
    cfg = load_config("queries", "segregation.toml", override)["segregation"]
    known = traits()
    bad = [t for t in cfg["traits"] if t not in known]
    if bad:
        raise InputError(f"unknown segregation trait {bad[0]!r}; choose from {', '.join(known)}",
                         file=override or "queries/segregation.toml")
    bad = [i for i in cfg["indices"] if i not in INDICES]
    if bad:
        raise InputError(f"unknown segregation index {bad[0]!r}; choose from {', '.join(INDICES)}",
                         file=override or "queries/segregation.toml")
    return cfg


def unit_counts(panel: pl.LazyFrame, names: Sequence[str], *, low_income_share: float = 0.5) -> pl.LazyFrame:
    """Per municipality, year, trait and unit: ``a`` (holders) and ``t`` (persons counted).

    Person-years without a municipality belong to no municipality and are not counted.
    """
    defs = traits(low_income_share)
    unit = pl.coalesce(pl.col("afdeling_id"), pl.lit(REST_UNIT)).alias("unit")
    base = panel.filter(pl.col("kom").is_not_null())
    parts = [
        base.filter(defs[name].population.fill_null(False))
        .select("kom", "year", unit, pl.lit(name).alias("trait"),
                defs[name].holds.fill_null(False).cast(pl.Int64).alias("a"))
        for name in names
    ]
    return (pl.concat(parts).group_by("kom", "year", "trait", "unit")
            .agg(pl.col("a").sum(), pl.len().cast(pl.Int64).alias("t")))


def _entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 1.0 - p
        e = -np.where(p > 0, p * np.log(p), 0.0) - np.where(q > 0, q * np.log(q), 0.0)
    return e


def index_values(a: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """Every index for one or many tables: ``a``, ``t`` of shape (..., units); units with t = 0 allowed.

    Examples
    --------
    >>> v = index_values(np.array([8.0, 2.0]), np.array([10.0, 10.0]))
    >>> round(float(v["dissimilarity"]), 3), round(float(v["isolation"]), 3), round(float(v["exposure"]), 3)
    (0.6, 0.68, 0.32)
    """
    a = np.asarray(a, dtype=float)
    t = np.asarray(t, dtype=float)
    b = t - a
    A, B, T = a.sum(-1), b.sum(-1), t.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(t > 0, a / t, 0.0)
        aA = a / A[..., None]
        E = _entropy(A / T)
        Ei = _entropy(share)
        m = (t / T[..., None] * (E[..., None] - Ei)).sum(-1)
        return {
            "dissimilarity": 0.5 * np.abs(aA - b / B[..., None]).sum(-1),
            "theil_h": m / E,
            "mutual_information": m,
            "isolation": (aA * share).sum(-1),
            "exposure": (aA * np.where(t > 0, b / t, 0.0)).sum(-1),
        }


def _bootstrap(a: np.ndarray, t: np.ndarray, reps: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Index values of ``reps`` multinomial redraws of the unit × trait table (total fixed)."""
    cells = np.concatenate([a, t - a]).astype(float)
    draws = rng.multinomial(int(cells.sum()), cells / cells.sum(), size=reps)
    k = a.size
    return index_values(draws[:, :k], draws[:, :k] + draws[:, k:])


def indices(counts: pl.DataFrame, *, names: Sequence[str] = INDICES, bootstrap: int = 0,
            seed: int = 0) -> pl.DataFrame:
    """Long table of indices per (kom, year, trait) from :func:`unit_counts` output.

    Also ``A``, ``B`` (persons with and without the trait), ``n`` (= T) and
    ``units`` (units with persons); with ``bootstrap`` > 0 ``se``, basic 95 %
    interval ``ci_low``/``ci_high`` and ``value_bc`` = 2·value − mean of the draws.
    """
    rows: dict[str, list] = {c: [] for c in (*KEY, "index", "value", "value_bc", "se", "ci_low", "ci_high",
                                             "n", "units", "A", "B")}
    trait_code = {name: i for i, name in enumerate(sorted(counts["trait"].unique().to_list()))}
    for key, part in counts.sort([*KEY, "unit"]).group_by(list(KEY), maintain_order=True):
        kom, year, trait = key
        a = part["a"].to_numpy().astype(float)
        t = part["t"].to_numpy().astype(float)
        point = index_values(a, t)
        boot = None
        if bootstrap > 0 and 0 < a.sum() < t.sum():
            rng = np.random.default_rng([seed, int(kom), int(year), trait_code[trait]])
            boot = _bootstrap(a, t, bootstrap, rng)
        for name in names:
            v = float(point[name])
            rows["kom"].append(kom)
            rows["year"].append(year)
            rows["trait"].append(trait)
            rows["index"].append(name)
            rows["value"].append(v)
            if boot is None:
                extra = (None, None, None, None)
            else:
                d = boot[name]
                lo, hi = np.quantile(d, [0.025, 0.975])
                extra = (2 * v - float(d.mean()), float(d.std(ddof=1)), 2 * v - float(hi), 2 * v - float(lo))
            for c, x in zip(("value_bc", "se", "ci_low", "ci_high"), extra, strict=True):
                rows[c].append(x)
            rows["n"].append(int(t.sum()))
            rows["units"].append(int((t > 0).sum()))
            rows["A"].append(int(a.sum()))
            rows["B"].append(int(t.sum() - a.sum()))
    schema = {"kom": pl.Int16, "year": pl.Int32, "trait": pl.String, "index": pl.String, "value": pl.Float64,
              "value_bc": pl.Float64, "se": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "n": pl.Int64, "units": pl.Int64, "A": pl.Int64, "B": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def segregation_counts(out: str | Path, *, config: str | Path | None = None) -> pl.DataFrame:
    """:func:`unit_counts` of OUT's panel for the configured traits (unprotected; never release)."""
    cfg = segregation_config(config)
    return unit_counts(scan_panel(out), cfg["traits"],
                       low_income_share=float(cfg["low_income_share_of_median"])).collect()


def segregation_table(out: str | Path, *, min_persons: int, config: str | Path | None = None,
                      counts: pl.DataFrame | None = None) -> pl.DataFrame:
    """The unprotected segregation table of OUT with an ``inherited`` flag for the disclosure step.

    A municipality-year-trait is withheld (all its indices) unless both the
    trait holders and the rest number at least ``min_persons`` and at least
    ``min_units`` units hold persons: the indices of a municipality with one
    afdeling and a handful of holders would say where those persons live.
    ``counts`` (from :func:`segregation_counts`) saves reading the panel again.
    """
    cfg = segregation_config(config)
    if counts is None:
        counts = segregation_counts(out, config=config)
    table = indices(counts, names=cfg["indices"], bootstrap=int(cfg["bootstrap"]), seed=int(cfg["seed"]))
    small = (pl.min_horizontal("A", "B") < max(min_persons, 1)) | (pl.col("units") < int(cfg["min_units"]))
    return table.with_columns(suppressed=small).drop("A", "B")


def protect_segregation(table: pl.DataFrame, *, rules: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Disclosure control of :func:`segregation_table` output: (released, report rows).

    ``units`` here counts afdelinger, not the households the magnitude rules
    read under that name, so it is kept out of the primary rules.
    """
    released, report = protect(table.rename({"units": "n_units"}), rules=rules, key=[*KEY, "index"],
                               name="segregation", null_columns=RELEASE_NULLS)
    return released.rename({"n_units": "units"}).select(COLUMNS), report
