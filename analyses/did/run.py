"""``socialmix did OUT``: the standard difference-in-differences estimates under OUT/did/.

For every measure × population (stock, in-movers, out-movers) × tool group
against ``neither``, a loop over the configured estimators (``ESTIMATORS``:
name -> function giving tidy rows in the ``estimates.csv`` columns of
:mod:`analyses.did.columns`): TWFE, event study, Callaway–Sant'Anna ATT(g,t)
with its aggregations, Sun–Abraham and (for flexible-letting groups)
dose-response. ``did.toml`` is read into a validated plan
(:mod:`analyses.did.plan`) before any estimate.

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
``disclosure_report.csv``. The same estimator code also gives the synthetic
truth (:func:`estimate_sample` on cells of the individual effect Y1 − Y0,
``socialmix.synth.truth``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analyses.did.att_gt import AttGtResult, att_gt
from analyses.did.columns import SCHEMA, TEST_SCHEMA, estimate_row, frame, test_row, wald_test_row
from analyses.did.diagnostics import BACON_COLUMNS, BACON_SCHEMA, bacon_rows
from analyses.did.dose import dose
from analyses.did.event_study import event_name, event_study
from analyses.did.plan import DidPlan, load_plan
from analyses.did.randomization import ri_simple_p
from analyses.did.summary import summary_block, summary_head
from analyses.did.sun_abraham import sun_abraham
from analyses.did.twfe import twfe
from panel.atomic import staged_dir
from panel.errors import InputError, SocialmixError
from panel.progress import step
from panel.provenance import recorded
from panel.schema import scan_afdelinger

UNIT, TIME, CLUSTER = "afdeling_id", "year", "cluster"


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


def baseline_covariates(out: str | Path, afd: pl.DataFrame, plan: DidPlan) -> pl.DataFrame:
    """Afdeling-level baseline covariates from the years before the first TOOL_START (did.toml [covariates]).

    ``size``: mean stock residents per year; ``non_western`` / ``employment``:
    mean of the stock shares over those years; ``kom_size_class``: the
    municipality's residents in the first panel year, classed at
    ``kom_size_bounds``. Baseline only, so no covariate can be moved by a tool.
    """
    from panel.schema import scan_panel
    from queries.municipalities import size_class
    from queries.populations import population_rows

    starts = afd.get_column("tool_start").drop_nulls()
    first_tool = int(starts.min()) if len(starts) else 10_000
    pre = pl.col(TIME) < first_tool
    cov = afd.select(UNIT)
    names = set(plan.covariates.names)
    if "size" in names:
        size = (population_rows(out, "stock").filter(pre).group_by(UNIT, TIME).len()
                .group_by(UNIT).agg(pl.col("len").mean().alias("size")).collect())
        cov = cov.join(size, on=UNIT, how="left")
    shares = [m for m in ("non_western", "employment") if m in names]
    if shares:
        cells = measure_cells(out, "stock", shares).filter(pre)
        wide = cells.group_by(UNIT).agg([pl.col("y").filter(pl.col("measure") == m).mean().alias(m) for m in shares])
        cov = cov.join(wide, on=UNIT, how="left")
    if "kom_size_class" in names:
        panel = scan_panel(out)
        y1 = panel.select(pl.col(TIME).min()).collect().item()
        kom_n = panel.filter(pl.col(TIME) == y1).group_by("kom").len().collect()
        kom = scan_afdelinger(out).select(UNIT, "kom").collect().join(kom_n, on="kom", how="left")
        cls = size_class(pl.col("len"), list(plan.covariates.kom_size_bounds))  # one definition (queries)
        cov = cov.join(kom.select(UNIT, cls.alias("kom_size_class")), on=UNIT, how="left")
    return cov.sort(UNIT)


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


# ---------------------------------------------------------------- one sample
@dataclass
class Sample:
    """One measure × population × comparison: its cells and what every row states about them."""

    cells: pl.DataFrame
    weighting: str = "persons"
    with_dose: bool = True
    covariates: pl.DataFrame | None = None  # afdeling-level baseline covariates (att_gt.covariates)
    population: str = ""
    sensitivity: list[dict[str, Any]] = field(default_factory=list)  # HonestDiD rows (did/sensitivity.csv)
    notes: list[str] = field(default_factory=list)  # diagnostics for summary.txt (Goodman-Bacon)
    bacon: list[dict[str, Any]] = field(default_factory=list)  # Goodman-Bacon 2x2 rows (did/bacon.csv)

    def __post_init__(self) -> None:
        s = self.cells
        self.n_units = s.get_column(UNIT).n_unique()
        self.n_obs = int(s.get_column("n").sum())
        self.n_periods = s.get_column(TIME).n_unique()
        self.n_clusters = s.get_column(CLUSTER).n_unique()
        self.control_clusters = self.clusters(pl.col("cohort") == 0)

    def clusters(self, where: pl.Expr) -> int:
        return self.cells.filter(where).get_column(CLUSTER).n_unique()

    def df_resid(self, k: int) -> int:
        """N − (slopes + unit effects + year effects − 1): every absorbed effect counted."""
        return self.n_obs - (k + self.n_units + self.n_periods - 1)

    def regression_kwargs(self) -> dict[str, Any]:
        # persons: cells weighted by their counts = the person-level regression; equal: afdeling-years unweighted
        return dict(outcome="y", unit=UNIT, time=TIME, cluster=CLUSTER,
                    **({"counts": "n"} if self.weighting == "persons" else {}))


@dataclass(frozen=True)
class Options:
    """Run-time choices that are not part of the estimand: bootstrap draws, seed, extra inference."""

    bootstrap: int = 999
    seed: int = 1
    inference: bool = True  # pre-tests, randomization and wild p-values (off for the synthetic truth)


Rows = list[dict[str, Any]]
Estimator = Callable[[Sample, DidPlan, Options], tuple[Rows, Rows]]


def _wild_p(result: Any, term: str, plan: DidPlan) -> float | None:
    """p_wild of one regression term: the wild cluster restricted bootstrap (analyses/did/wild.py).

    Integrator: ``TwfeResult.wild_bootstrap(term, B=, weights=, seed=)`` returns a
    mapping with ``p_value``; switched on by ``[wild] enabled = true`` once merged.
    """
    if not plan.wild.enabled or result is None:
        return None
    w = plan.wild
    return float(result.wild_bootstrap(term, B=w.B, weights=w.weights, seed=w.seed)["p_value"])


def _adjusted_p(p: list[float], plan: DidPlan) -> list[float | None]:
    """p_adjusted across the family (analyses/did/multitest.py ``adjust_pvalues(p, method)``).

    Integrator: Romano–Wolf needs the family's joint bootstrap t draws
    (``romano_wolf(t_obs, t_boot)``); Holm and BH need only ``p``. Switched on by
    ``[multiple_testing] enabled = true`` once merged.
    """
    if not plan.multiple_testing.enabled or not p:
        return [None] * len(p)
    from analyses.did.multitest import adjust_pvalues

    return [float(x) for x in adjust_pvalues(np.asarray(p), plan.multiple_testing.method)]


def _twfe_rows(sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows]:
    s = sm.cells
    g = pl.col("cohort")
    d = s.with_columns(((g > 0) & (pl.col(TIME) >= g)).cast(pl.Float64).alias("post"))
    r = twfe(d, treat="post", **sm.regression_kwargs())
    t = r.tidy(plan.run.alpha).row(0, named=True)
    row = estimate_row("twfe", "treat_post", t["estimate"], t["se"], alpha=plan.run.alpha, df_t=r.fit.df_t,
                       n_units=sm.n_units, n_obs=sm.n_obs, n_clusters_treated=sm.clusters(g > 0),
                       n_clusters_control=sm.control_clusters, df_resid=sm.df_resid(1))
    row["p_wild"] = _wild_p(r, "post", plan) if opt.inference else None
    if opt.inference and sm.population == "stock":
        new, notes = bacon_rows(d, unit=UNIT, time=TIME, cluster=CLUSTER)
        sm.bacon += new
        sm.notes += notes
    return [row], []


def _event_rows(name: str, fn: Callable) -> Estimator:
    def rows_of(sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows]:
        s, es = sm.cells, plan.event_study
        g = pl.col("cohort")
        r = fn(s, cohort="cohort", window=list(es.window), ref=es.ref, alpha=plan.run.alpha,
               **sm.regression_kwargs())
        lo_w, hi_w = es.window
        rel = (pl.col(TIME) - g).clip(lo_w, hi_w)
        per_e = dict(s.filter(g > 0).group_by(rel.alias("e")).agg(pl.col(CLUSTER).n_unique()).iter_rows())
        df_t, k = r.fit.fit.df_t, len(r.fit.terms)
        out = []
        for e, b, se_ in r.table.select("event_time", "estimate", "se").iter_rows():
            row = estimate_row(name, "event", b, se_, alpha=plan.run.alpha, df_t=df_t, event_time=e,
                               n_units=sm.n_units, n_obs=sm.n_obs, n_clusters_treated=per_e.get(e, 0),
                               n_clusters_control=sm.control_clusters, df_resid=sm.df_resid(k))
            if name == "event_study" and opt.inference and e != es.ref:
                row["p_wild"] = _wild_p(r.fit, event_name(e), plan)
            out.append(row)
        sp = plan.sensitivity
        if name == "event_study" and opt.inference and sp.enabled and sm.population in sp.populations:
            sm.sensitivity += sensitivity_rows(r, sp, alpha=plan.run.alpha)
        tests = [wald_test_row(f"{name}_pretrend", r.pretrend, df_t)] if opt.inference else []
        return out, tests
    return rows_of


SENSITIVITY_COLUMNS = ("estimator", "measure", "population", "comparison", "event_time", "method", "m",
                       "ci_low", "ci_high", "original_low", "original_high", "breakdown")


def sensitivity_rows(res: Any, sp: Any, *, alpha: float) -> Rows:
    """HonestDiD robust intervals of one event study: relative magnitudes over Mbar, smoothness over M.

    A method that cannot be computed for this sample (e.g. no pre-period estimate) gives no rows; the
    summary says so through the missing rows, not a crash.
    """
    from analyses.did.honest import honest_did

    rows: Rows = []
    for method, grid in (("relative_magnitude", dict(mbar=list(sp.mbar))), ("smoothness", dict(m=list(sp.m)))):
        if method not in sp.methods:
            continue
        try:
            tab = honest_did(res, event_time=sp.event_time, method=method, alpha=alpha, **grid)
        except (SocialmixError, ValueError, np.linalg.LinAlgError):
            continue
        rows += [dict(estimator="event_study", event_time=sp.event_time, **r) for r in tab.iter_rows(named=True)]
    return rows


def _dose_rows(sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows]:
    if not sm.with_dose:
        return [], []
    tab = dose(sm.cells, cohort="cohort", dose="dose", bins=list(plan.dose.bins), alpha=plan.run.alpha,
               **sm.regression_kwargs())
    n_bins = tab.filter(pl.col("term") != "dose").height
    treated = sm.clusters(pl.col("cohort") > 0)
    return [estimate_row("dose", term, b, se_, alpha=plan.run.alpha, df_t=sm.n_clusters - 1, n_units=sm.n_units,
                         n_obs=sm.n_obs, n_clusters_treated=treated, n_clusters_control=sm.control_clusters,
                         df_resid=sm.df_resid(1 if term == "dose" else n_bins))
            for term, b, se_ in tab.select("term", "estimate", "se").iter_rows()], []


def fit_att_gt(sm: Sample, plan: DidPlan, opt: Options) -> AttGtResult:
    """att_gt on one sample with the plan's options (covariates only when ``[att_gt] covariates`` names some)."""
    c = plan.att_gt
    kwargs: dict[str, Any] = {}
    s = sm.cells
    if c.covariates:  # att_gt's covariates= / est_method= (analyses/did/att_gt.py, round 2)
        if sm.covariates is None:
            raise InputError("[att_gt] covariates: no baseline covariates were computed", file="did.toml")
        s = s.join(sm.covariates.select(UNIT, *c.covariates), on=UNIT, how="left")
        kwargs = dict(covariates=list(c.covariates), est_method=c.est_method,
                      covariate_fallback=c.covariate_fallback)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt(s, outcome="y", unit=UNIT, time=TIME, cohort="cohort", control=c.control,
                      base_period=c.base_period, anticipation=c.anticipation,
                      weights="w_unit" if sm.weighting == "persons" else None, cluster=CLUSTER,
                      allow_unbalanced=c.allow_unbalanced, bootstrap=opt.bootstrap, multiplier=c.multiplier,
                      small_sample=c.small_sample,
                      alpha=plan.run.alpha, seed=opt.seed, **kwargs)


def _att_gt_rows(sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows]:
    """ATT(g,t) cells and the four aggregations; bootstrap uniform bands in cb_low/cb_high."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing cells are left out of the aggregations (R's na.rm)
        res = fit_att_gt(sm, plan, opt)
        sm.notes += [f"  att_gt: {n}" for n in res.notes]
        return _att_gt_rows_of(res, sm, plan, opt)


def _att_gt_rows_of(res: AttGtResult, sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows]:
    u = res.units
    cl_of = u.cluster if u.cluster is not None else np.arange(len(u.cohort))
    n_ctrl = len(np.unique(cl_of[u.cohort == 0]))
    n_units = len(u.cohort)
    df_resid = sm.df_resid(1)
    alpha = plan.run.alpha

    def cl(cohorts) -> int:
        return len(np.unique(cl_of[np.isin(u.cohort, np.asarray(list(cohorts)))]))

    cells = res.table
    post = cells.filter(pl.col("post") & pl.col("att").is_not_nan())
    rows: Rows = []

    def add(term: str, tab: pl.DataFrame, cohorts_of, **keys_of) -> None:
        for r in tab.iter_rows(named=True):
            cb = (r["ci_low"], r["ci_high"]) if r.get("ci_low") is not None else None
            keys = {k: (r[v] if v else None) for k, v in keys_of.items()}
            rows.append(estimate_row("att_gt", term, r["att"], r["se"], alpha=alpha, df_t=None, cb=cb,
                                     n_units=n_units, n_obs=sm.n_obs, n_clusters_treated=cl(cohorts_of(r)),
                                     n_clusters_control=n_ctrl, df_resid=df_resid, **keys))

    all_post = set(post.get_column("cohort").to_list())
    add("simple", res.aggregate("simple"), lambda r: all_post)
    if opt.inference and plan.randomization.permutations:
        rows[-1]["p_ri"] = ri_simple_p(res, permutations=plan.randomization.permutations,
                                       seed=plan.randomization.seed)
    e_coh = dict(cells.filter(pl.col("att").is_not_nan()).group_by("event_time").agg(pl.col("cohort")).iter_rows())
    add("dynamic", res.aggregate("dynamic"), lambda r: e_coh.get(r["event_time"], []), event_time="event_time")
    add("dynamic", res.aggregate("dynamic", overall=True), lambda r: all_post)
    add("group", res.aggregate("group"), lambda r: [r["cohort"]], cohort="cohort")
    add("group", res.aggregate("group", overall=True), lambda r: all_post)
    add("calendar", res.aggregate("calendar"), lambda r: [g for g in all_post if g <= r["time"]], time="time")
    add("calendar", res.aggregate("calendar", overall=True), lambda r: all_post)
    if plan.att_gt.cells:
        add("cell", cells, lambda r: [r["cohort"]], cohort="cohort", time="time", event_time="event_time")
    tests: Rows = []
    if opt.inference:
        pt = res.pretest(permutations=plan.att_gt.pretest_permutations, seed=opt.seed)
        tests.append(test_row("att_gt_pretest", statistic=pt["chi2"], df=pt["df"], p_value=pt["p_value"]))
        if "p_perm" in pt:
            tests.append(test_row("att_gt_pretest_randomization", statistic=pt["chi2"], df=pt["df"],
                                  df2=pt["permutations"], p_value=pt["p_perm"]))
    return rows, tests


ESTIMATORS: dict[str, Estimator] = {
    "twfe": _twfe_rows,
    "event_study": _event_rows("event_study", event_study),
    "sun_abraham": _event_rows("sun_abraham", sun_abraham),
    "dose": _dose_rows,
    "att_gt": _att_gt_rows,
}


def estimate_sample(sm: Sample, plan: DidPlan, opt: Options) -> tuple[Rows, Rows, list[str]]:
    """Every configured estimator on one sample: estimate rows, test rows and error notes."""
    rows: Rows = []
    tests: Rows = []
    errors: list[str] = []
    for name, fn in ESTIMATORS.items():
        if name not in plan.run.estimators:
            continue
        try:
            r, t = fn(sm, plan, opt)
        except (SocialmixError, np.linalg.LinAlgError) as err:
            errors.append(f"{name}_error: {err}")
            continue
        rows += r
        tests += t
    return rows, tests, errors


# ---------------------------------------------------------------- the run
def _is_headline(r: dict[str, Any]) -> bool:
    """The default multiple-testing family: att_gt simple of every measure x population x comparison."""
    return r["estimator"] == "att_gt" and r["term"] == "simple" and r.get("subset") is None


@recorded("did", inputs=["panel/**", "panel_base/**", "moves.parquet", "afdeling.parquet", "measures/**"],
          outputs=["did/**"])
def run_did(out: str | Path, *, bootstrap: int = 999, seed: int = 1, config: str | Path | None = None) -> None:
    """Write OUT/did/estimates.csv, tests.csv, summary.txt and disclosure_report.csv (atomically).

    Examples
    --------
    >>> run_did("OUT", bootstrap=199, config="my_did.toml")  # doctest: +SKIP
    """
    from queries.disclosure import REPORT_COLUMNS, append_report, check_estimate, load_rules, stamp

    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    plan = load_plan(config)  # every key checked before any estimate
    run = plan.run
    rules = load_rules(Path(out))  # the OUT's rules, decided by `socialmix measures` (contract §7)
    with step("did: afdeling attributes"):
        afd = afdeling_frame(out, cluster=run.cluster)
    if afd.height == 0:
        raise InputError("no study afdelinger (helhedsplan_id) in the afdeling table", file=Path(out) / "afdeling.parquet")
    covariates = None
    if plan.att_gt.covariates:
        with step("did: baseline covariates"):
            covariates = baseline_covariates(out, afd, plan)
    opt = Options(bootstrap=bootstrap, seed=seed)
    subsets: list[tuple[str, list[str]]] = []
    split_lines: list[str] = []
    if plan.split.area_status.enabled:
        from analyses.did.subsets import area_status_subsets

        sp = plan.split.area_status
        subsets, line = area_status_subsets(out, afd, version=sp.version, year=sp.year, unit=UNIT)
        split_lines.append(line)
    rows: Rows = []
    tests: Rows = []
    sensitivity: Rows = []
    bacon: Rows = []
    blocks: list[str] = []
    for population in run.populations:
        with step(f"did: {population} cells"):
            cells_all = measure_cells(out, population, list(run.measures))
        for measure in run.measures:
            cells = cells_all.filter(pl.col("measure") == measure)
            for comparison in run.comparisons:
                with step(f"did: {measure} {population} {comparison}"):
                    s, no_start = comparison_sample(cells, afd, comparison, run.control_group)
                for subset, ids in [(None, None), *subsets]:
                    key = dict(measure=measure, population=population, comparison=comparison, subset=subset)
                    head = f"[{measure} | {population} | {comparison} vs {run.control_group}" + (
                        f" | {subset}]" if subset else "]")
                    sub = s if ids is None else s.filter(pl.col(UNIT).is_in(ids))
                    if sub.filter(pl.col("cohort") > 0).height == 0 or sub.filter(pl.col("cohort") == 0).height == 0:
                        blocks += [head, "  not estimable: no treated or no control cells", ""]
                        continue
                    with step(f"did: {measure} {population} {comparison}" + (f" {subset}" if subset else "")):
                        sm = Sample(sub, weighting=run.weighting.of(population),
                                    with_dose=comparison in run.dose_comparisons, covariates=covariates,
                                    population=population)
                        new, new_tests, errors = estimate_sample(sm, plan, opt)
                    new = [{**key, **r} for r in new]
                    clusters = dict(n_clusters_treated=sm.clusters(pl.col("cohort") > 0),
                                    n_clusters_control=sm.control_clusters)
                    new_tests = [{**key, **t, **clusters} for t in new_tests]
                    if subset is None:  # HonestDiD and Goodman-Bacon of the full comparisons only
                        sensitivity += [dict(measure=measure, population=population, comparison=comparison, **r)
                                        for r in sm.sensitivity]
                        bacon += [{**key, **r} for r in sm.bacon]
                    rows += new
                    tests += new_tests
                    blocks += summary_block(head, new, new_tests, errors + sm.notes, no_start if ids is None else 0,
                                            plan)
    family = [r for r in rows if _is_headline(r) and r["p_value"] is not None]
    for r, p in zip(family, _adjusted_p([r["p_value"] for r in family], plan), strict=True):
        r["p_adjusted"] = p
    report_rows, keep = [], []
    for r in rows:
        reasons = check_estimate(min(r["n_clusters_treated"], r["n_clusters_control"]), r["n_obs"], rules)
        if reasons:
            cell = ";".join(f"{k}={r[k]}" for k in ("estimator", "measure", "population", "comparison", "term",
                                                     "event_time", "cohort", "time", "subset") if r.get(k) is not None)
            report_rows.append(("did_estimates", cell, "min_clusters", "; ".join(reasons)))
        else:
            keep.append(r)
    for t in tests:  # a test on too few clusters says as much as an estimate would: withheld the same way
        if check_estimate(min(t["n_clusters_treated"], t["n_clusters_control"]), 10**9, rules):
            cell = ";".join(f"{k}={t[k]}" for k in ("test", "measure", "population", "comparison", "subset")
                            if t.get(k) is not None)
            report_rows.append(("did_tests", cell, "min_clusters", "fewer clusters than the rules allow"))
            t.update(statistic=None, p_value=None)
    for b in bacon:  # a 2x2 rests on its two cohorts: withheld (weight kept) below the rule
        if check_estimate(min(b["n_clusters_treated"], b["n_clusters_control"]), b["n_obs"], rules):
            cell = ";".join(f"{k}={b[k]}" for k in ("measure", "population", "comparison", "type", "treated",
                                                     "control"))
            report_rows.append(("did_bacon", cell, "min_clusters", "fewer clusters than the rules allow"))
            b["estimate"] = None
    sens_keys = {(r["measure"], r["population"], r["comparison"]) for r in keep}
    sensitivity = [r for r in sensitivity if (r["measure"], r["population"], r["comparison"]) in sens_keys]
    report = pl.DataFrame(report_rows, schema=list(REPORT_COLUMNS), orient="row") if report_rows else \
        pl.DataFrame(schema={c: pl.String for c in REPORT_COLUMNS})
    summary = summary_head(plan, bootstrap, seed, rules.describe(), split_lines) + blocks + [
        f"{len(report_rows)} estimates left out by the minimum-cluster rule (see disclosure_report.csv)."]
    with staged_dir(out) as tmp:
        d = tmp / "did"
        d.mkdir()
        stamp(frame(keep, SCHEMA), rules).write_csv(d / "estimates.csv")
        frame(tests, TEST_SCHEMA).write_csv(d / "tests.csv")
        frame(bacon, BACON_SCHEMA).select(BACON_COLUMNS).write_csv(d / "bacon.csv")
        pl.DataFrame(sensitivity, schema=dict.fromkeys(SENSITIVITY_COLUMNS, pl.Float64) | {
            c: pl.String for c in ("estimator", "measure", "population", "comparison", "method")} | {
            "event_time": pl.Int64}, orient="row").select(SENSITIVITY_COLUMNS).write_csv(d / "sensitivity.csv") \
            if sensitivity else pl.DataFrame(schema=dict.fromkeys(SENSITIVITY_COLUMNS, pl.String)).write_csv(
                d / "sensitivity.csv")
        append_report(report, d / "disclosure_report.csv")  # public: "withheld"; reasons in did/internal/
        (d / "summary.txt").write_text("\n".join(summary) + "\n", encoding="utf-8")
