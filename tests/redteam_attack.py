"""A red-team attack on a socialmix release, written from the published tables alone (issue 16).

:mod:`redteam_relations` turns the published tables into unknowns (the
withheld count cells) and relations checked on the published rows; this
module bounds every unknown: exact propagation, interval propagation, then
per connected component LP and MILP solves (HiGHS). ``attack`` is the entry
point; ``truth_from_persons`` recomputes a few true cells from the person
rows for the score.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from redteam_relations import (  # noqa: F401  (re-exported for the tests and the benchmark)
    INF,
    Problem,
    build_problem,
    measure_cells,
    read_release,
    read_rules,
    share_measures,
)


def _is_int(x: float) -> bool:
    return abs(x - round(x)) < 1e-5


def propagate(p: Problem) -> dict[tuple, tuple[float, float, str]]:
    """Exact propagation (one unknown left) and interval propagation; returns key -> (lo, hi, family)."""
    bounds = {k: [lo, hi] for k, (lo, hi) in p.unknown.items()}
    how = {k: "" for k in p.unknown}
    solved: dict[tuple, float] = {}
    by_var = defaultdict(list)
    for i, r in enumerate(p.relations):
        for k in r.coefs:
            if k in bounds:
                by_var[k].append(i)
    le_of = defaultdict(list)
    for a, b in p.le:
        le_of[a].append(b)
        le_of[b].append(a)

    def val(k: tuple) -> float | None:
        return solved[k] if k in solved else p.value(k)

    def fix(k: tuple, v: float, fam: str) -> bool:
        if k in solved:
            return False
        v = float(round(v)) if _is_int(v) else v
        solved[k] = v
        bounds[k] = [v, v]
        how[k] = fam
        return True

    queue = list(range(len(p.relations)))
    rounds = 0
    while queue and rounds < 200:
        rounds += 1
        changed_vars = set()
        for i in queue:
            r = p.relations[i]
            rest, free = r.rhs, []
            for k, c in r.coefs.items():
                v = val(k)
                if v is None:
                    free.append((k, c))
                else:
                    rest -= c * v
            if not free:
                continue
            if len(free) == 1:
                k, c = free[0]
                if fix(k, rest / c, r.family):
                    changed_vars.add(k)
                continue
            # interval propagation: c_k x_k = rest - sum_{j != k} c_j x_j
            los = [min(c * bounds[k][0], c * bounds[k][1]) for k, c in free]
            his = [max(c * bounds[k][0], c * bounds[k][1]) for k, c in free]
            slo, shi = sum(los), sum(his)
            for j, (k, c) in enumerate(free):
                olo, ohi = slo - los[j], shi - his[j]  # range of the others' sum
                a, b = (rest - ohi) / c, (rest - olo) / c
                lo, hi = (min(a, b), max(a, b)) if not (math.isnan(a) or math.isnan(b)) else (-INF, INF)
                lo = math.ceil(lo - 1e-6) if lo > -INF else -INF
                hi = math.floor(hi + 1e-6) if hi < INF else INF
                if lo > bounds[k][0] + 1e-9 or hi < bounds[k][1] - 1e-9:
                    bounds[k] = [max(lo, bounds[k][0]), min(hi, bounds[k][1])]
                    if bounds[k][0] == bounds[k][1]:
                        fix(k, bounds[k][0], r.family + " + bounds")
                    changed_vars.add(k)
        for a, b in p.le:  # s <= n
            if a in bounds and b in bounds:
                if bounds[a][1] > bounds[b][1]:
                    bounds[a][1] = bounds[b][1]
                    changed_vars.add(a)
            elif a in bounds and val(b) is not None and bounds[a][1] > val(b):
                bounds[a][1] = val(b)
                changed_vars.add(a)
            if a in bounds and bounds[a][0] == bounds[a][1]:
                fix(a, bounds[a][0], how[a] or "bounds")
        queue = sorted({i for k in changed_vars for i in by_var[k]})
    return {k: (bounds[k][0], bounds[k][1], how[k]) for k in p.unknown}


def components(p: Problem, free: set[tuple]) -> list[tuple[list[tuple], list[int]]]:
    """Connected components of the still-free unknowns (linked by relations and s <= n)."""
    parent = {k: k for k in free}

    def find(k: tuple) -> tuple:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k
    rel_of = []
    for i, r in enumerate(p.relations):
        ks = [k for k in r.coefs if k in free]
        if len(ks) >= 2:
            for k in ks[1:]:
                parent[find(k)] = find(ks[0])
        if ks:
            rel_of.append((i, ks[0]))
    for a, b in p.le:
        if a in free and b in free:
            parent[find(a)] = find(b)
    comp = defaultdict(list)
    for k in free:
        comp[find(k)].append(k)
    rels = defaultdict(list)
    for i, k0 in rel_of:
        rels[find(k0)].append(i)
    return [(ks, rels[root]) for root, ks in comp.items()]


def _component_rows(p: Problem, keys: list[tuple], rel_ids: list[int], fixed: dict[tuple, float]
                    ) -> tuple[list[dict[int, float]], list[float], list[float]]:
    """Rows (index -> coef) with their lower and upper sides, known cells moved to the right."""
    idx = {k: i for i, k in enumerate(keys)}
    rows, lo_r, hi_r = [], [], []
    for i in rel_ids:
        r = p.relations[i]
        row, rest = {}, r.rhs
        for k, c in r.coefs.items():
            if k in idx:
                row[idx[k]] = row.get(idx[k], 0.0) + c
            else:
                v = fixed.get(k, p.value(k))
                rest -= c * (v if v is not None else 0.0)
        tol = max(r.tol * (1 + abs(r.rhs)), 1e-9)
        rows.append(row)
        lo_r.append(rest - tol)
        hi_r.append(rest + tol)
    for a, b in p.le:
        if a in idx and b in idx:
            rows.append({idx[a]: 1.0, idx[b]: -1.0})
            lo_r.append(-INF)
            hi_r.append(0.0)
    return rows, lo_r, hi_r


def lp_milp_bounds(p: Problem, keys: list[tuple], rel_ids: list[int], fixed: dict[tuple, float],
                   bounds: dict[tuple, tuple[float, float]], targets: list[tuple], *, integer: str,
                   time_limit: float, narrow: float = 50) -> dict[tuple, tuple[float, float]]:
    """Min and max of each target over one component: the LP relaxation (warm-started), then the MILP.

    ``integer``: ``"all"`` re-solves every target whose rounded LP interval is
    not a point with integrality; ``"narrow"`` only those at most ``narrow`` wide;
    ``"none"`` keeps the LP interval (rounded inwards: the cells are integers);
    ``"exact"`` only finds the targets pinned to one integer value (two
    integer points that differ in a target rule it out, so most need no
    solve of their own), the others keep their propagated interval.
    """
    import highspy

    inf = highspy.kHighsInf
    idx = {k: i for i, k in enumerate(keys)}
    rows, lo_r, hi_r = _component_rows(p, keys, rel_ids, fixed)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    nv = len(keys)
    h.addVars(nv, np.array([max(bounds[k][0], -inf) for k in keys]), np.array([min(bounds[k][1], inf) for k in keys]))
    for row, lo, hi in zip(rows, lo_r, hi_r, strict=True):
        ii = np.array(list(row), dtype=np.int32)
        h.addRow(max(lo, -inf), min(hi, inf), len(ii), ii, np.array([row[i] for i in ii]))
    zero = np.zeros(nv)
    all_idx = np.arange(nv, dtype=np.int32)

    def solve(k: tuple, sense: float) -> float:
        h.changeColsCost(nv, all_idx, zero)
        h.changeColCost(idx[k], sense)
        h.run()
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            return sense * h.getInfo().objective_function_value
        return -INF if sense > 0 else INF  # unbounded / infeasible / out of time: nothing sure is learnt

    def rounded(lo: float, hi: float) -> tuple[float, float]:
        return (math.ceil(lo - 1e-6) if lo > -INF else -INF, math.floor(hi + 1e-6) if hi < INF else INF)

    if integer == "exact":  # which targets are pinned: integer points that differ rule a target out
        h.changeColsIntegrality(nv, all_idx, np.array([highspy.HighsVarType.kInteger] * nv))
        seen_lo, seen_hi = np.full(nv, INF), np.full(nv, -INF)

        def look(k: tuple | None, sense: float) -> float | None:
            h.changeColsCost(nv, all_idx, zero)
            if k is not None:
                h.changeColCost(idx[k], sense)
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None
            x = np.asarray(h.getSolution().col_value)
            np.minimum(seen_lo, x, out=seen_lo)
            np.maximum(seen_hi, x, out=seen_hi)
            return x[idx[k]] if k is not None else 0.0

        res = {}
        if look(None, 1.0) is None:
            return {k: bounds[k] for k in targets}
        for k in targets:
            i = idx[k]
            if seen_hi[i] - seen_lo[i] > 0.5 or look(k, 1.0) is None or seen_hi[i] - seen_lo[i] > 0.5 \
                    or look(k, -1.0) is None or seen_hi[i] - seen_lo[i] > 0.5:
                res[k] = bounds[k]  # not pinned (or not solved): the propagated interval stands
            else:
                v = float(round(seen_lo[i]))
                res[k] = (v, v)
        return res
    res = {k: rounded(solve(k, 1.0), solve(k, -1.0)) for k in targets}
    todo = [k for k in targets if res[k][0] != res[k][1]
            and (integer == "all" or (integer == "narrow" and res[k][1] - res[k][0] <= narrow))]
    if todo:
        h.changeColsIntegrality(nv, all_idx, np.array([highspy.HighsVarType.kInteger] * nv))
        for k in todo:
            lo, hi = rounded(solve(k, 1.0), solve(k, -1.0))
            res[k] = (max(lo, res[k][0]), min(hi, res[k][1]))
    return res


def attack(out: str | Path, *, milp: str = "all", max_component: int = 5000, time_limit: float = 5.0,
           budget: float = 600.0, target: Callable[[tuple], bool] | None = None,
           narrow: float = 50) -> tuple[pl.DataFrame, Problem]:
    """Bounds on every withheld count cell of ``out``'s measures (and comparison) tables.

    Every free unknown of a component up to ``max_component`` unknowns gets
    LP bounds; ``milp`` (``"all"``, ``"narrow"``, ``"none"``: see
    :func:`lp_milp_bounds`) says which are re-solved with integrality;
    ``"off"`` stops after propagation. ``budget`` caps the seconds spent in
    the solvers (components beyond it keep their propagated intervals, so the
    attack's count is then a lower bound). ``target``: which measure cell keys
    ``("m", level, unit, year, population, measure, field)`` get solver bounds
    (default all).
    """
    p, _ = build_problem(out)
    prop = propagate(p)
    final = {k: (lo, hi) for k, (lo, hi, _) in prop.items()}
    fam = {k: f for k, (_, _, f) in prop.items()}
    fixed = {k: lo for k, (lo, hi) in final.items() if lo == hi}
    free = {k for k, (lo, hi) in final.items() if lo != hi}
    t0 = time.monotonic()
    if milp != "off":
        for keys, rel_ids in sorted(components(p, free), key=lambda c: len(c[0])):
            if len(keys) > max_component or time.monotonic() - t0 > budget:
                p.unsolved += 1
                continue
            targets = [k for k in keys if k[0] == "m" and (target is None or target(k))]
            if not targets:
                continue
            got = lp_milp_bounds(p, keys, rel_ids, fixed, final, targets, integer=milp, time_limit=time_limit,
                                 narrow=narrow)
            for k, (lo, hi) in got.items():
                lo, hi = max(lo, final[k][0]), min(hi, final[k][1])
                if (lo, hi) != final[k]:
                    final[k] = (lo, hi)
                    if lo == hi:
                        fam[k] = "LP/MILP over the component"
    rows = [{"table": "comparison" if k[1] == "comparison" else "measures", "level": k[1], "unit": k[2],
             "year": k[3], "population": k[4], "measure": k[5], "field": k[6], "lo": lo, "hi": hi,
             "relation": fam[k] if lo == hi else ""} for k, (lo, hi) in final.items() if k[0] == "m"]
    schema = {"table": pl.String, "level": pl.String, "unit": pl.String, "year": pl.Int32, "population": pl.String,
              "measure": pl.String, "field": pl.String, "lo": pl.Float64, "hi": pl.Float64, "relation": pl.String}
    return pl.DataFrame(rows, schema=schema), p


# ------------------------------------------------------------------ the truth and the score
def score(bounds: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Join the attack's bounds to the true cells (level, unit, year, population, measure, field, x)."""
    return bounds.join(truth, on=["level", "unit", "year", "population", "measure", "field"], how="left").with_columns(
        exact=(pl.col("lo") == pl.col("hi")) & (pl.col("lo") == pl.col("x")),
        inside=(pl.col("lo") <= pl.col("x")) & (pl.col("x") <= pl.col("hi")))


def protection_failures(scored: pl.DataFrame, min_persons: int) -> pl.DataFrame:
    """Primary withheld n cells (x < min_persons) whose interval is narrower than [max(x - t, 1), x + t]."""
    t = min_persons
    prim = scored.filter((pl.col("field") == "n") & (pl.col("x") < t))
    return prim.filter((pl.col("hi") < pl.col("x") + t) | (pl.col("lo") > pl.max_horizontal(pl.col("x") - t, 1)))


def summary(scored: pl.DataFrame) -> pl.DataFrame:
    """Withheld cells and exact recoveries per table, field and relation family."""
    per = scored.group_by("table", "field").agg(withheld=pl.len(), recovered_exactly=pl.col("exact").sum(),
                                                 truth_outside=(~pl.col("inside")).sum())
    return per.sort("table", "field")


def truth_from_persons(out: str | Path) -> pl.DataFrame:
    """True afdeling cells of non_western, under_18, over_64 (n, s) and income (n), from the person rows.

    Contract §2: the stock of t is everyone in the afdeling on 31 Dec t; an
    in-mover (between, into_sector, immigration) is measured on its year-t
    record, an out-mover (between, out_of_sector) on its year t-1 record.
    """
    out = Path(out)
    cols = ["person_id", "year", "afdeling_id", "age", "non_western", "hh_income_2013"]
    rec = pl.concat([pl.read_parquet(out / d, columns=cols) for d in ("panel", "panel_base")
                     if (out / d).exists()], how="vertical_relaxed")
    years = pl.read_parquet(out / "panel", columns=["year"])["year"].unique()
    mv = pl.read_parquet(out / "moves.parquet")
    stock = rec.filter(pl.col("year").is_in(years.implode()) & pl.col("afdeling_id").is_not_null()).with_columns(
        population=pl.lit("stock"), unit=pl.col("afdeling_id"), rec_year=pl.col("year"))
    ins = mv.filter(pl.col("kind").is_in(["between", "into_sector", "immigration"])).select(
        "person_id", "year", unit="to_afdeling", rec_year="year", population=pl.lit("in"))
    outs = mv.filter(pl.col("kind").is_in(["between", "out_of_sector"])).select(
        "person_id", "year", unit="from_afdeling", rec_year=pl.col("year") - 1, population=pl.lit("out"))
    flows = pl.concat([ins, outs]).join(rec.rename({"year": "rec_year"}).drop("afdeling_id"),
                                        on=["person_id", "rec_year"], how="inner")
    rows = pl.concat([stock.select(flows.columns), flows], how="vertical_relaxed")
    adult = pl.col("age").is_between(18, 64) & pl.col("hh_income_2013").is_not_null()
    everyone = pl.col("non_western").is_not_null()
    agg = rows.group_by("unit", "year", "population").agg(
        nw_n=everyone.sum(), nw_s=pl.col("non_western").sum(), u18=(pl.col("age") < 18).sum(),
        o64=(pl.col("age") > 64).sum(), n_all=pl.len(), inc_n=adult.sum())
    spec = [("non_western", "n", "nw_n"), ("non_western", "s", "nw_s"), ("under_18", "n", "n_all"),
            ("under_18", "s", "u18"), ("over_64", "n", "n_all"), ("over_64", "s", "o64"), ("income", "n", "inc_n")]
    return pl.concat([agg.select(level=pl.lit("afdeling"), unit="unit", year=pl.col("year").cast(pl.Int32),
                                 population="population", measure=pl.lit(m), field=pl.lit(f),
                                 x=pl.col(c).cast(pl.Float64)) for m, f, c in spec]).filter(pl.col("x") > 0)
