"""True values of the DiD estimands: the pipeline's own estimators applied to the individual effects.

Records hold, for every person-year in a study afdeling, both potential
outcomes of employment and competence-giving education (the same random
draw, see :mod:`socialmix.synth.outcomes`). For a fixed design (which
afdeling-years, with how many persons, which cohorts and doses) every
estimator of ``socialmix did`` is linear in the outcome, so on the observed
``Y = Y0 + (Y1 − Y0)``

    estimate(Y) = estimate(Y0) + estimate(Y1 − Y0).

The first term is pure sampling error under parallel trends (the registers
ignore the tool labels without an effect, docs/synthetic.md); the second is
the truth of exactly that row's estimand, with its own weights, aggregation,
window and binning. So the truth of every row is computed by running the same
code (:func:`analyses.did.run.estimate_sample`) on afdeling-year cells of the
individual effect ``Y1 − Y0`` of each measure's population:

* ``stock``: the residents of year t; ``in``: the year-t in-movers; ``out``:
  the out-movers of year t on their year t−1 record, dated t;
* cells: n = persons in the measure's population, y = mean of ``Y1 − Y0``,
  weighted as ``analyses/did/did.toml`` (shipped defaults) weights them.

Income and non_western carry no planted effect: their headline rows are 0.
The keys are those of ``did/estimates.csv`` (plus ``cohort`` and ``time`` for
att_gt group, calendar and cell rows).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl

GROUP_NAMES = ("anvisning_only", "fleksibel_only", "both", "neither")
MEASURES = {"employment": ("lf", "emp0", "emp1"), "education": ("edu_known", "comp0", "comp1")}
UNPLANTED = ("income", "non_western")


def _row(measure: str, population: str, comparison: str, estimator: str, term: str, event_time: int | None,
         value: float, cohort: int | None = None, time: int | None = None) -> dict[str, Any]:
    return {"measure": measure, "population": population, "comparison": comparison, "estimator": estimator,
            "term": term, "event_time": event_time, "cohort": cohort, "time": time, "value": float(value)}


def afdeling_frame(afd: dict[str, np.ndarray]) -> pl.DataFrame:
    """The study afdelinger in the shape of ``analyses.did.run.afdeling_frame`` (index as id)."""
    study = np.flatnonzero(afd["study"])
    grp = afd["group"][study]
    groups = [[GROUP_NAMES[g]] + (["any_tool"] if g < 3 else []) for g in grp]
    start = afd["tool_start"][study]
    return pl.DataFrame({
        "afdeling_id": study.astype(np.int64), "cluster": afd["hp"][study].astype(np.int64),
        "tool_start": pl.Series(np.where(start > 0, start, 0)).cast(pl.Int64).replace(0, None),
        "flex_share": pl.Series(afd["flex_share"][study]).fill_nan(None),
        "fleksibel": afd["flex"][study], "group": groups,
    }).sort("afdeling_id")


def effect_cells(rec: dict[str, np.ndarray], *, first_panel_year: int, last_year: int) -> dict[str, pl.DataFrame]:
    """Per population: measure, afdeling_id, year, n, y = mean(Y1 − Y0) over the measure's persons."""
    df = pl.DataFrame({k: rec[k] for k in ("year", "afd", "in_mover", "out_next")
                       + tuple(c for v in MEASURES.values() for c in v)})
    df = df.with_columns(pl.col("year").cast(pl.Int64), pl.col("afd").cast(pl.Int64).alias("afdeling_id"))
    pops = {
        "stock": df.filter(pl.col("year") >= first_panel_year),
        "in": df.filter((pl.col("year") >= first_panel_year) & pl.col("in_mover")),
        "out": df.filter(pl.col("out_next")).with_columns(pl.col("year") + 1)
                 .filter(pl.col("year").is_between(first_panel_year, last_year)),
    }
    out = {}
    for pop, d in pops.items():
        frames = []
        for measure, (popcol, y0, y1) in MEASURES.items():
            tau = pl.col(y1).cast(pl.Float64) - pl.col(y0).cast(pl.Float64)
            frames.append(d.filter(pl.col(popcol)).group_by("afdeling_id", "year")
                          .agg(pl.len().cast(pl.Int64).alias("n"), tau.mean().alias("y"))
                          .with_columns(measure=pl.lit(measure)))
        out[pop] = pl.concat(frames).sort("measure", "afdeling_id", "year")
    return out


def estimands(rec: dict[str, np.ndarray], afd: dict[str, np.ndarray], *, first_panel_year: int,
              last_year: int) -> list[dict[str, Any]]:
    """The truth rows (contract §5 keys) from the study-afdeling person-year records."""
    from analyses.did.plan import load_plan
    from analyses.did.run import Options, Sample, comparison_sample, estimate_sample

    plan = load_plan()
    run = plan.run
    a = afdeling_frame(afd)
    opt = Options(bootstrap=0, seed=1, inference=False)
    rows: list[dict[str, Any]] = []
    cells = effect_cells(rec, first_panel_year=first_panel_year, last_year=last_year)
    for population in ("stock", "in", "out"):
        for measure in MEASURES:
            c = cells[population].filter(pl.col("measure") == measure)
            for comparison in run.comparisons:
                s, _ = comparison_sample(c, a, comparison, run.control_group)
                if s.filter(pl.col("cohort") > 0).height == 0 or s.filter(pl.col("cohort") == 0).height == 0:
                    continue
                zero = not s.get_column("y").abs().max()
                if zero:
                    # nobody treated: every estimand is 0, but an all-zero outcome has singular pre-trend
                    # tests; the keys (which rows the design gives) come from a fit on a stand-in outcome
                    s = s.with_columns(y=pl.Series(np.random.default_rng(0).standard_normal(s.height)))
                sm = Sample(s, weighting=run.weighting.of(population),
                            with_dose=comparison in run.dose_comparisons)
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    est, _, _ = estimate_sample(sm, plan, opt)
                rows += [_row(measure, population, comparison, r["estimator"], r["term"], r["event_time"],
                              0.0 if zero else r["estimate"], r["cohort"], r["time"])
                         for r in est if r["estimate"] is not None]
    for comparison in run.comparisons:
        for measure in UNPLANTED:
            for population in ("stock", "in", "out"):
                rows += [_row(measure, population, comparison, "att_gt", "simple", None, 0.0),
                         _row(measure, population, comparison, "twfe", "treat_post", None, 0.0)]
    return rows
