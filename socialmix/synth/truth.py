"""True values of the DiD estimands, as sample averages of the simulated ``Y1 - Y0``.

Records hold, for every person-year in a study afdeling, both potential
outcomes of employment and competence-giving education (same random draw,
see :mod:`socialmix.synth.outcomes`). docs/synthetic.md defines each value;
in short:

* population ``in``: person-weighted mean of ``Y1 - Y0`` over the in-movers
  of the comparison's afdelinger in years ``t >= TOOL_START`` (measured on
  their year-t record, in the measure's population);
* population ``out``: the same over out-movers, measured on their year t-1
  record, dated year t;
* population ``stock``: per afdeling-year the resident share under ``Y1``
  minus under ``Y0``, averaged over afdeling-years weighted by their residents
  in the measure's population (by event time ``e = t - TOOL_START`` or over
  all post afdeling-years);
* ``dose``: OLS slope, over the in-mover rows, of the expected individual
  effect ``min(p + F*s, 1) - p`` on the dose ``s`` (FLEX_SHARE, 0 without
  flexible letting); exactly ``F`` unless ``p + F*s`` exceeds 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

COMPARISONS = {"any_tool": (0, 1, 2), "anvisning_only": (0,), "fleksibel_only": (1,), "both": (2,)}
MEASURES = {"employment": ("lf", "emp0", "emp1", "p_emp"), "education": ("edu_known", "comp0", "comp1", "p_edu")}


def _row(measure: str, population: str, comparison: str, estimator: str, term: str, event_time: int | None,
         value: float) -> dict[str, Any]:
    return {"measure": measure, "population": population, "comparison": comparison, "estimator": estimator,
            "term": term, "event_time": event_time, "value": float(value)}


def _dose_slope(s: np.ndarray, tau: np.ndarray) -> float | None:
    if len(s) < 2 or np.ptp(s) == 0:
        return None
    sc = s - s.mean()
    return float((sc * (tau - tau.mean())).sum() / (sc * sc).sum())


EVENT_TERMS = (("event_study", "event"), ("att_gt", "dynamic"), ("sun_abraham", "event"))


def _mean(frame: pl.DataFrame) -> float:
    return float(frame["d"].mean()) if frame.height else 0.0


def _event_rows(measure: str, population: str, comp: str, by_e: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows per event time, plus att_gt dynamic with event_time null: the mean over e >= 0 (as R aggte)."""
    by_e = by_e.sort("e")
    post = by_e.filter(pl.col("e") >= 0)["d"]
    overall = float(post.mean()) if len(post) else 0.0
    return [_row(measure, population, comp, est, term, int(e), v)
            for e, v in by_e.iter_rows() for est, term in EVENT_TERMS] + [
        _row(measure, population, comp, "att_gt", "dynamic", None, overall)]


def _by_e(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("e", maintain_order=True).agg(pl.col("d").mean())


def estimands(rec: dict[str, np.ndarray], afd: dict[str, np.ndarray], *, effect: float, first_panel_year: int,
              last_year: int) -> list[dict[str, Any]]:
    """The truth rows (contract §5 keys) from the study-afdeling person-year records."""
    a = rec["afd"]
    df = (pl.DataFrame(dict(rec))
          .with_columns(g=pl.Series(afd["tool_start"][a]), grp=pl.Series(afd["group"][a]),
                        dose=pl.Series(np.nan_to_num(afd["flex_share"][a])))
          .filter(pl.col("g") > 0)
          .with_columns(e=pl.col("year").cast(pl.Int32) - pl.col("g"))
          .sort("year", "afd", "pid"))
    rows: list[dict[str, Any]] = []
    for comp, groups in COMPARISONS.items():
        c = df.filter(pl.col("grp").is_in(list(groups)))
        for measure, (popcol, y0, y1, pcol) in MEASURES.items():
            m = c.filter(pl.col(popcol)).with_columns(d=(pl.col(y1).cast(pl.Int8) - pl.col(y0).cast(pl.Int8)))
            panel = m.filter(pl.col("year") >= first_panel_year)
            # in-movers: their year-t record
            inn = panel.filter(pl.col("in_mover"))
            post = inn.filter(pl.col("e") >= 0)
            rows += [_row(measure, "in", comp, "att_gt", "simple", None, _mean(post)),
                     _row(measure, "in", comp, "twfe", "treat_post", None, _mean(post))]
            rows += _event_rows(measure, "in", comp, _by_e(inn))
            if comp != "anvisning_only":
                # like the dose estimator: afdelinger without a FLEX_SHARE are left out
                fl = post.filter(pl.col("grp").is_in([1, 2]))
                p = fl[pcol].to_numpy().astype(float)
                sd = fl["dose"].to_numpy()
                slope = _dose_slope(sd, np.minimum(p + effect * sd, 1.0) - np.minimum(p, 1.0))
                rows.append(_row(measure, "in", comp, "dose", "dose", None, effect if slope is None else slope))
            # out-movers of year t: their year t-1 record, dated t
            out = m.filter(pl.col("out_next")).with_columns(year=pl.col("year") + 1, e=pl.col("e") + 1).filter(
                pl.col("year").is_between(first_panel_year, last_year))
            post = out.filter(pl.col("e") >= 0)
            rows += [_row(measure, "out", comp, "att_gt", "simple", None, _mean(post)),
                     _row(measure, "out", comp, "twfe", "treat_post", None, _mean(post))]
            rows += _event_rows(measure, "out", comp, _by_e(out))
            # stock: afdeling-year share under Y1 minus under Y0, weighted by the afdeling-year's
            # residents in the measure's population (= the pooled mean over those residents)
            post = panel.filter(pl.col("e") >= 0)
            rows += [_row(measure, "stock", comp, "att_gt", "simple", None, _mean(post)),
                     _row(measure, "stock", comp, "twfe", "treat_post", None, _mean(post))]
            rows += _event_rows(measure, "stock", comp, _by_e(panel))
        for measure in ("income", "non_western"):
            for population in ("in", "out", "stock"):
                rows += [_row(measure, population, comp, "att_gt", "simple", None, 0.0),
                         _row(measure, population, comp, "twfe", "treat_post", None, 0.0)]
    return rows
