"""``socialmix did OUT``: the standard difference-in-differences estimates under OUT/did/.

For every measure × population (stock, in-movers, out-movers) × tool group
against ``neither``: TWFE, event study, Callaway–Sant'Anna ATT(g,t) with its
aggregations, Sun–Abraham and (for flexible-letting groups) dose-response.

One unit of analysis serves both views: person rows of each population
(``queries.populations.population_rows``) are compressed to afdeling-year
cells (count, mean). A regression on the cells weighted by their counts is
exactly the person-level regression (same coefficients and CRV1 SEs, N =
person-years), and for the stock it is the afdeling-year regression weighted
by residents. ATT(g,t) works on the afdeling-year means with time-invariant
unit weights (the afdeling's mean count), as R ``did`` requires.

Estimates resting on fewer clusters than the OUT's disclosure rules'
``min_clusters`` (treated or control side; the rules ``measures`` wrote to
``OUT/measures/disclosure_rules.toml``) are left out and listed in
``disclosure_report.csv``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from analyses.did.att_gt import att_gt
from analyses.did.dose import dose
from analyses.did.event_study import event_study
from analyses.did.sun_abraham import sun_abraham
from analyses.did.twfe import twfe
from panel.atomic import staged_dir
from panel.config import load_config
from panel.errors import InputError, SocialmixError
from panel.progress import step
from panel.provenance import recorded
from panel.schema import scan_afdelinger

COLUMNS = ("estimator", "measure", "population", "comparison", "term", "event_time", "estimate", "se",
           "ci_low", "ci_high", "n_units", "n_obs", "cohort", "time")
UNIT, TIME, CLUSTER = "afdeling_id", "year", "cluster"


def did_config(override: str | Path | None = None) -> dict[str, Any]:
    """The shipped ``analyses/did/did.toml`` merged with an optional user file."""
    return load_config("analyses.did", "did.toml", override)


# ---------------------------------------------------------------- data
def afdeling_frame(out: str | Path, *, cluster: str = "helhedsplan_id") -> pl.DataFrame:
    """Study afdelinger with their cluster (an afdeling column), tool_start, flex_share and tool groups."""
    from queries.populations import group_membership

    afd = scan_afdelinger(out)
    groups = group_membership(afd).group_by("afdeling_id").agg(pl.col("group"))
    return (afd.filter(pl.col("helhedsplan_id").is_not_null())
            .join(groups, on="afdeling_id", how="left")
            .select(UNIT, pl.col(cluster).alias(CLUSTER), "tool_start", "flex_share",
                    pl.col("fleksibel").fill_null(False), "group")
            .sort(UNIT)  # a fixed row order: the estimators' float sums follow it
            .collect())


def measure_cells(out: str | Path, population: str, measures: list[str]) -> pl.DataFrame:
    """Afdeling-year cells per measure in one pass: measure, afdeling_id, year, n, sy, syy, y (mean).

    Sums by :func:`queries.aggregate.fsum` and rows sorted, so every run
    estimates from the same numbers in the same order (same estimates to the bit).
    """
    from queries.aggregate import fsum
    from queries.populations import population_rows
    from queries.registry import select

    reg = select(measures)
    aggs = []
    for i, m in enumerate(reg.values()):
        v = m.contribution()
        aggs += [m.counted().cast(pl.Int64).sum().alias(f"n{i}"), fsum(v).alias(f"sy{i}"),
                 fsum(v * v).alias(f"syy{i}")]
    wide = population_rows(out, population).group_by(UNIT, TIME).agg(aggs).collect()
    frames = [wide.select(UNIT, TIME, measure=pl.lit(name), n=pl.col(f"n{i}"), sy=pl.col(f"sy{i}"),
                          syy=pl.col(f"syy{i}"))
              for i, name in enumerate(reg)]
    return (pl.concat(frames).filter(pl.col("n") > 0)
            .with_columns((pl.col("sy") / pl.col("n")).alias("y")).sort("measure", UNIT, TIME))


def comparison_sample(cells: pl.DataFrame, afd: pl.DataFrame, comparison: str,
                      control: str) -> tuple[pl.DataFrame, int]:
    """Cells of the treated group and the control group, with cohort (0 = control); dropped treated count."""
    a = afd.with_columns(
        pl.col("group").list.contains(comparison).fill_null(False).alias("_t"),
        pl.col("group").list.contains(control).fill_null(False).alias("_c"),
    ).filter(pl.col("_t") | pl.col("_c"))
    no_start = a.filter(pl.col("_t") & pl.col("tool_start").is_null()).height
    a = a.filter(~(pl.col("_t") & pl.col("tool_start").is_null())).with_columns(
        pl.when(pl.col("_t")).then(pl.col("tool_start")).otherwise(0).cast(pl.Int64).alias("cohort"),
        # dose: FLEX_SHARE of flexible-letting afdelinger (null = unknown, left out), 0 otherwise
        pl.when(pl.col("_t") & pl.col("fleksibel")).then(pl.col("flex_share")).otherwise(0.0).alias("dose"),
    )
    s = cells.join(a.select(UNIT, CLUSTER, "cohort", "dose"), on=UNIT, how="inner").sort(UNIT, TIME)
    s = s.with_columns(pl.col("n").mean().over(UNIT).alias("w_unit"))
    return s, no_start


# ---------------------------------------------------------------- estimators
def _clusters(s: pl.DataFrame, treated: pl.Expr) -> int:
    return s.filter(treated).get_column(CLUSTER).n_unique()


def _row(estimator: str, term: str, est: float, se: float, lo: float, hi: float, *, event_time=None,
         cohort=None, time=None, clusters: int, n_units: int, n_obs: int) -> dict[str, Any]:
    return dict(estimator=estimator, term=term, event_time=event_time, estimate=est, se=se, ci_low=lo,
                ci_high=hi, cohort=cohort, time=time, n_units=n_units, n_obs=n_obs, _clusters=clusters)


def estimate_twfe_family(s: pl.DataFrame, cfg: dict, *, with_dose: bool,
                         weighting: str = "persons") -> tuple[list[dict], dict]:
    """TWFE, event study, Sun–Abraham and dose rows for one sample; pre-trend tests."""
    g = pl.col("cohort")
    ctrl = _clusters(s, g == 0)
    n_units, n_obs = s.get_column(UNIT).n_unique(), int(s.get_column("n").sum())
    treated_cl = min(_clusters(s, g > 0), ctrl)
    # persons: cells weighted by their counts = the person-level regression; equal: afdeling-years unweighted
    common = dict(outcome="y", unit=UNIT, time=TIME, cluster=CLUSTER,
                  **({"counts": "n"} if weighting == "persons" else {}))
    alpha = cfg["run"]["alpha"]
    rows, tests = [], {}
    est = set(cfg["run"]["estimators"])
    d = s.with_columns(((g > 0) & (pl.col(TIME) >= g)).cast(pl.Float64).alias("post"))

    def guarded(name: str, fn) -> None:
        try:
            fn()
        except (SocialmixError, np.linalg.LinAlgError) as err:
            tests[f"{name}_error"] = str(err)

    def do_twfe() -> None:
        r = twfe(d, treat="post", **common)
        t = r.tidy(alpha).row(0, named=True)
        rows.append(_row("twfe", "treat_post", t["estimate"], t["se"], t["ci_low"], t["ci_high"],
                         clusters=treated_cl, n_units=n_units, n_obs=n_obs))

    def do_es(name: str, fn) -> None:
        es_cfg = cfg["event_study"]
        r = fn(s, cohort="cohort", window=es_cfg["window"], ref=es_cfg["ref"], alpha=alpha, **common)
        tests[name] = r.pretrend
        lo_w, hi_w = es_cfg["window"]
        rel = (pl.col(TIME) - g).clip(lo_w, hi_w)
        per_e = dict(s.filter(g > 0).group_by(rel.alias("e")).agg(pl.col(CLUSTER).n_unique()).iter_rows())
        for e, b, se_, lo, hi in r.table.select("event_time", "estimate", "se", "ci_low", "ci_high").iter_rows():
            rows.append(_row(name, "event", b, se_, lo, hi, event_time=e, clusters=min(per_e.get(e, 0), ctrl),
                             n_units=n_units, n_obs=n_obs))

    def do_dose() -> None:
        tab = dose(s, cohort="cohort", dose="dose", bins=cfg["dose"]["bins"], alpha=alpha, **common)
        for term, b, se_, lo, hi in tab.iter_rows():
            rows.append(_row("dose", term, b, se_, lo, hi, clusters=treated_cl, n_units=n_units, n_obs=n_obs))

    if "twfe" in est:
        guarded("twfe", do_twfe)
    if "event_study" in est:
        guarded("event_study", lambda: do_es("event_study", event_study))
    if "sun_abraham" in est:
        guarded("sun_abraham", lambda: do_es("sun_abraham", sun_abraham))
    if "dose" in est and with_dose:
        guarded("dose", do_dose)
    return rows, tests


def estimate_att_gt(s: pl.DataFrame, cfg: dict, *, bootstrap: int, seed: int,
                    weighting: str = "persons") -> tuple[list[dict], dict]:
    """ATT(g,t) cells and the four aggregations with bootstrap uniform bands."""
    c = cfg["att_gt"]
    alpha = cfg["run"]["alpha"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = att_gt(s, outcome="y", unit=UNIT, time=TIME, cohort="cohort", control=c["control"],
                     base_period=c["base_period"], anticipation=c["anticipation"],
                     weights="w_unit" if weighting == "persons" else None,
                     cluster=CLUSTER, allow_unbalanced=c["allow_unbalanced"], bootstrap=bootstrap,
                     multiplier=c["multiplier"], alpha=alpha, seed=seed)
        u = res.units
        cl_of = u.cluster if u.cluster is not None else np.arange(len(u.cohort))
        n_ctrl = len(np.unique(cl_of[u.cohort == 0]))

        def cl(cohorts) -> int:
            m = np.isin(u.cohort, np.asarray(list(cohorts)))
            return min(len(np.unique(cl_of[m])), n_ctrl)

        n_units, n_obs = len(u.cohort), int(s.get_column("n").sum())
        cells = res.table
        post = cells.filter(pl.col("post") & pl.col("att").is_not_nan())
        rows: list[dict] = []

        def band(r: dict) -> tuple[float, float]:
            if "ci_low" in r and r["ci_low"] is not None:
                return r["ci_low"], r["ci_high"]
            z = float(norm.ppf(1 - alpha / 2))
            se = r["se"] if r["se"] is not None else math.nan
            return r["att"] - z * se, r["att"] + z * se

        def add(term: str, tab: pl.DataFrame, cohorts_of, **keys_of) -> None:
            for r in tab.iter_rows(named=True):
                lo, hi = band(r)
                keys = {k: (r[v] if v else None) for k, v in keys_of.items()}
                rows.append(_row("att_gt", term, r["att"], r["se"], lo, hi, clusters=cl(cohorts_of(r)),
                                 n_units=n_units, n_obs=n_obs, **keys))

        all_post = set(post.get_column("cohort").to_list())
        add("simple", res.aggregate("simple"), lambda r: all_post)
        dyn = res.aggregate("dynamic")
        by_e = cells.filter(pl.col("att").is_not_nan()).group_by("event_time").agg(pl.col("cohort"))
        e_coh = dict(by_e.iter_rows())
        add("dynamic", dyn, lambda r: e_coh.get(r["event_time"], []), event_time="event_time")
        add("dynamic", res.aggregate("dynamic", overall=True), lambda r: all_post)
        add("group", res.aggregate("group"), lambda r: [r["cohort"]], cohort="cohort")
        add("group", res.aggregate("group", overall=True), lambda r: all_post)
        cal = res.aggregate("calendar")
        add("calendar", cal, lambda r: [g for g in all_post if g <= r["time"]], time="time")
        add("calendar", res.aggregate("calendar", overall=True), lambda r: all_post)
        if c.get("cells", True):
            add("cell", cells, lambda r: [r["cohort"]], cohort="cohort", time="time", event_time="event_time")
    return rows, {"att_gt_pretest": res.pretest(permutations=c.get("pretest_permutations", 0), seed=seed)}


# ---------------------------------------------------------------- output
def _fmt_test(t: dict) -> str:
    if "F" in t:
        return f"F({t['df']}, G-1) = {t['F']:.3f}, p = {t['p_value']:.4f}"
    text = f"chi2({t['df']}) = {t['chi2']:.3f}, p = {t['p_value']:.4f}"
    if "p_perm" in t:
        text += f", randomization p = {t['p_perm']:.3f} ({t['permutations']} re-dealings of the cohorts)"
    return text


@recorded("did", inputs=["panel/**", "panel_base/**", "moves.parquet", "afdeling.parquet", "measures/**"],
          outputs=["did/**"])
def run_did(out: str | Path, *, bootstrap: int = 999, seed: int = 1, config: str | Path | None = None) -> None:
    """Write OUT/did/estimates.csv, summary.txt and disclosure_report.csv (atomically).

    Examples
    --------
    >>> run_did("OUT", bootstrap=199)  # doctest: +SKIP
    """
    from queries.disclosure import REPORT_COLUMNS, append_report, check_estimate, load_rules, stamp

    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    cfg = did_config(config)
    run = cfg["run"]
    for pop, wt in run["weighting"].items():
        if wt not in ("persons", "equal"):
            raise InputError(f"did.toml: weighting.{pop} must be 'persons' or 'equal', got {wt!r}")
    rules = load_rules(Path(out))  # the OUT's rules, decided by `socialmix measures` (contract §7)
    with step("did: afdeling attributes"):
        afd = afdeling_frame(out, cluster=run["cluster"])
    if afd.height == 0:
        raise InputError("no study afdelinger (helhedsplan_id) in the afdeling table", file=Path(out) / "afdeling.parquet")
    rows: list[dict] = []
    summary = [f"socialmix did: difference-in-differences of {', '.join(run['comparisons'])} vs {run['control_group']}",
               f"clusters: {run['cluster']}; CRV1 with (N-1)/(N-K)*G/(G-1) (pyfixest default); att_gt: "
               f"{cfg['att_gt']['control']} controls, {cfg['att_gt']['base_period']} base period, "
               f"{bootstrap} {cfg['att_gt']['multiplier']} multiplier-bootstrap draws (seed {seed}); "
               f"disclosure: {rules.describe()}",
               "pre-trend tests: the att_gt pre-period chi2 p-value over-rejects when cohorts hold few afdelinger "
               "(under placebo tool labels it rejected 70-100 % at 5 % with 1-3 afdelinger per cohort); use its "
               "randomization p (the same statistic against re-dealt cohorts, valid when adoption timing is "
               "exchangeable) and the event-study F test with binned leads (docs/did.md).", ""]
    for population in run["populations"]:
        with step(f"did: {population} cells"):
            cells_all = measure_cells(out, population, list(run["measures"]))
        for measure in run["measures"]:
            cells = cells_all.filter(pl.col("measure") == measure)
            for comparison in run["comparisons"]:
                key = dict(measure=measure, population=population, comparison=comparison)
                with step(f"did: {measure} {population} {comparison}"):
                    s, no_start = comparison_sample(cells, afd, comparison, run["control_group"])
                    head = f"[{measure} | {population} | {comparison} vs {run['control_group']}]"
                    if s.filter(pl.col("cohort") > 0).height == 0 or s.filter(pl.col("cohort") == 0).height == 0:
                        summary += [head, "  not estimable: no treated or no control cells", ""]
                        continue
                    weighting = run["weighting"][population]
                    new, tests = estimate_twfe_family(s, cfg, with_dose=comparison in run["dose_comparisons"],
                                                      weighting=weighting)
                    if "att_gt" in run["estimators"]:
                        try:
                            more, t2 = estimate_att_gt(s, cfg, bootstrap=bootstrap, seed=seed, weighting=weighting)
                            new += more
                            tests.update(t2)
                        except (SocialmixError, np.linalg.LinAlgError) as err:
                            tests["att_gt_error"] = str(err)
                    rows += [{**key, **r} for r in new]
                    summary += _summary_block(head, new, tests, no_start)
    est = pl.DataFrame(rows, schema_overrides={"event_time": pl.Int64, "cohort": pl.Int64, "time": pl.Int64},
                       infer_schema_length=None) if rows else pl.DataFrame()
    report_rows = []
    keep = []
    for r in rows:
        reasons = check_estimate(r["_clusters"], r["n_obs"], rules)
        if reasons:
            cell = ";".join(f"{k}={r[k]}" for k in ("estimator", "measure", "population", "comparison", "term",
                                                     "event_time", "cohort", "time") if r[k] is not None)
            report_rows.append(("did_estimates", cell, "min_clusters", "; ".join(reasons)))
        keep.append(not reasons)
    if rows:
        est = est.filter(pl.Series(keep)).select([c for c in COLUMNS])
    else:
        est = pl.DataFrame(schema={c: pl.String for c in COLUMNS})
    report = pl.DataFrame(report_rows, schema=list(REPORT_COLUMNS), orient="row") if report_rows else \
        pl.DataFrame(schema={c: pl.String for c in REPORT_COLUMNS})
    summary += [f"{len(report_rows)} estimates left out by the minimum-cluster rule (see disclosure_report.csv)."]
    with staged_dir(out) as tmp:
        d = tmp / "did"
        d.mkdir()
        stamp(est, rules).write_csv(d / "estimates.csv")
        append_report(report, d / "disclosure_report.csv")  # public: "withheld"; reasons in did/internal/
        (d / "summary.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")


def _summary_block(head: str, rows: list[dict], tests: dict, no_start: int) -> list[str]:
    lines = [head]
    if no_start:
        lines.append(f"  {no_start} treated afdelinger without TOOL_START left out")
    for r in rows:
        if (r["estimator"], r["term"]) in {("twfe", "treat_post"), ("att_gt", "simple")} or \
                (r["estimator"] == "dose" and r["term"] == "dose"):
            lines.append(f"  {r['estimator']:<12} {r['term']:<12} {r['estimate']: .4f} (se {r['se']:.4f}) "
                         f"[{r['ci_low']: .4f}, {r['ci_high']: .4f}]  afdelinger {r['n_units']}, "
                         f"person-years {r['n_obs']}, clusters {r['_clusters']}")
    for name in ("event_study", "sun_abraham"):
        if name in tests:
            lines.append(f"  pre-trend test {name}: {_fmt_test(tests[name])}")
    if "att_gt_pretest" in tests:
        lines.append(f"  pre-trend test att_gt (pre-period ATT(g,t) = 0): {_fmt_test(tests['att_gt_pretest'])}")
    lines += [f"  {k}: {v}" for k, v in tests.items() if k.endswith("_error")]
    return lines + [""]
