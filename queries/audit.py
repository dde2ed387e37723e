"""Interval audit of the measures release: how well can a reader bound a withheld cell? (issue 16, part 3)

Complementary suppression (:mod:`queries.disclosure`) makes sure no withheld
cell is *exactly* recoverable from the additive relations. A reader knows more
than those relations, though, and can also bound a cell, not only pin it. This
module models what a reader of the released measures tables can use and asks,
by linear programming, how far each withheld primary cell can be pushed:

* variables: for each withheld cell its count ``n`` and sum ``s = n * value``
  (a share's numerator count; a mean's amount); cells sharing a denominator
  (:attr:`queries.registry.Measure.denominator`) share one ``n``;
* equalities: the release hierarchy (:func:`queries.release.release_relations`)
  for n and for s; the denominator identities
  (:data:`queries.registry.DENOMINATOR_IDENTITIES`, e.g. n of 18-64 = n of all
  - under 18 - over 64) and the parts of a share (:data:`queries.registry.PARTS`),
  each imposed only in the cells whose true values satisfy it (conservative);
  published cells are constants;
* bounds: ``n >= 1`` (a listed cell has a person), ``0 <= s <= n`` for shares,
  ``s >= 0`` for amounts (a reader assumes non-negative incomes).

A cell passes when the reader's interval is wide enough (sdcTable's protection
levels): a withheld count x must reach ``x + t`` and ``max(x - t, L)``
(L the a-priori bound: one person per listed afdeling row below it)
(``t = rules.count_level``); an amount s must reach ``s (1 +- p)``
(``p = rules.protection_p``); a withheld share of 0 (of 1) must allow a
numerator of 1 (a non-member). Only primary cells (person, household,
dominance, p-ratio and class rules) need an interval. :func:`extension` names
the published block to withhold next when one fails (the smallest published
member of its relations, sdcTable's heuristic); the caller re-protects and
audits again (:func:`queries.release.protect_release`).

The models are solved with HiGHS (``highspy``): one model per connected
block of withheld cells, first two pooled solves (push every pending cell up,
then down) whose solutions settle most requirements at once, then one
warm-started re-solve per requirement still open. A vertex integral in its
counts is an integer solution; a fractional one is settled by
:func:`scipy.optimize.milp`. A requirement once met stays met when more cells
are withheld (the feasible set only grows), so passed ones are not re-solved.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from queries.disclosure import Relation, Rules, internal_report_path, primary_flags, relation_membership
from queries.registry import DENOMINATOR_IDENTITIES, PARTS, Measure

BLOCK = ["level", "unit", "year", "population"]
TOL = 1e-6
INF = np.inf
POOLED = 1  # pooled solves per direction while each settles a tenth of the open requirements
TRIES = 3  # extensions by parts per failing requirement before the totals above it; twice that: give up


@dataclass
class AuditStats:
    """Figures of one audit, summed over its rounds (``internal/audit.csv``)."""

    withheld: int = 0
    audited: int = 0
    requirements: int = 0
    lps: int = 0
    milps: int = 0
    extensions: int = 0
    rounds: int = 0
    unresolved: int = 0
    seconds: float = 0.0
    added: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the stage summary."""
        return (f"audit: {self.withheld:,} withheld, {self.audited:,} audited, {self.lps:,} LPs, "
                f"{self.extensions} extensions, {self.seconds:.1f} s")

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) rows of ``audit.csv``."""
        figures = {"withheld_cells": self.withheld, "audited_cells": self.audited, "requirements": self.requirements,
                   "lps_solved": self.lps, "milps_solved": self.milps, "extensions": self.extensions,
                   "rounds": self.rounds, "unresolved": self.unresolved, "seconds": round(self.seconds, 2)}
        return [(k, str(v)) for k, v in figures.items()] + [("extension_block", b) for b in self.added]


AUDIT_FILE = "audit.csv"


def write_audit(stats: AuditStats, report: str | Path) -> Path:
    """Write ``internal/audit.csv`` beside the public ``report`` and add summary rows to the internal reasons.

    Both are under ``internal/``, which export never ships (the extensions name withheld blocks by reason).
    """
    internal = internal_report_path(report)
    internal.parent.mkdir(parents=True, exist_ok=True)
    path = internal.parent / AUDIT_FILE
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("figure", "value"))
        w.writerows(stats.rows())
    new = not internal.exists()
    with internal.open("a", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(("table", "cell", "rule", "detail"))
        w.writerows(("audit", f"audit: {k}", "audit", v) for k, v in stats.rows()[:9])  # summary, not cells
    return path


@dataclass
class Model:
    """What stays fixed while the withheld set changes: the cells, their relations and identities."""

    table: pl.DataFrame
    n: np.ndarray  # true counts
    s: np.ndarray  # true sums (share: numerator count, rounded)
    share: np.ndarray  # bool: s is a count
    gid: np.ndarray  # denominator group of each row (rows with one gid share n)
    terms: np.ndarray  # (eq, row, q, coef) rows: q 0 = n, 1 = s
    rel_row: np.ndarray  # relation membership: row, instance, is_total
    rel_inst: np.ndarray
    rel_total: np.ndarray
    need: list[tuple[int, str, float]]  # (row, requirement, target)
    enough: float = 0.0  # an extension block of at least this many persons widens a count interval at once
    passed: set[tuple[int, str]] = field(default_factory=set)
    tries: dict[tuple[int, str], int] = field(default_factory=dict)  # extensions so far per failing requirement


def _dense(df: pl.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """Dense ids 0..G-1 of the distinct combinations of ``cols``."""
    label = pl.concat_str([pl.col(c).cast(pl.String).fill_null("\x00") for c in cols], separator="\x1f")
    return df.select(label.rank("dense")).to_series().to_numpy().astype(np.int64) - 1


def apriori_n(n_rows: int, row: np.ndarray, inst: np.ndarray, is_total: np.ndarray) -> np.ndarray:
    """A reader's lower bound on each row's n before any value: 1 per listed row, summed up the relations."""
    low = np.ones(n_rows)
    if not len(row):
        return low
    for _ in range(6):  # afdeling -> group -> any_tool -> study: a few levels
        sums = np.bincount(inst, weights=np.where(is_total, 0.0, low[row]), minlength=int(inst.max()) + 1)
        new = low.copy()
        np.maximum.at(new, row[is_total], sums[inst[is_total]])
        if np.array_equal(new, low):
            break
        low = new
    return low


def requirements(table: pl.DataFrame, rules: Rules, measures: Mapping[str, Measure],
                 low: np.ndarray | None = None) -> list[tuple[int, str, float]]:
    """(row, requirement, target) of every primary cell: ``n_up``/``n_down``, ``s_up``/``s_down``, ``class_1``.

    ``low``: the a-priori lower bound of each row's n (default 1), the floor of a count's down target.
    """
    t = primary_flags(table, rules)
    rule = t["_rule"].to_list()
    detail = t["_detail"].fill_null("").to_list()
    n = table["n"].to_numpy().astype(float)
    v = table["value"].fill_null(0.0).to_numpy().astype(float)
    kind = [measures[m].kind if m in measures else "share" for m in table["measure"].to_list()]
    c, p = rules.count_level, rules.protection_p
    out: list[tuple[int, str, float]] = []
    for i, r in enumerate(rule):
        if r is None:
            continue
        s = n[i] * v[i]
        if "persons" in detail[i] and "class" not in detail[i]:
            out += [(i, "n_up", n[i] + c), (i, "n_down", max(n[i] - c, 1.0 if low is None else low[i]))]
        if kind[i] != "share":
            if p > 0:
                out += [(i, "s_up", s + p * abs(s)), (i, "s_down", s - p * abs(s))]
        elif v[i] == 0.0:
            out.append((i, "s_up", 1.0))
        elif v[i] == 1.0:
            out.append((i, "class_1", 1.0))
    return out


def build(table: pl.DataFrame, relations: Sequence[Relation], key: Sequence[str], rules: Rules,
          measures: Mapping[str, Measure]) -> Model:
    """The fixed part of the audit model of a release ``table`` (the unprotected cells, as published)."""
    t = table.with_row_index("_r")
    n = t["n"].cast(pl.Float64).to_numpy()
    kinds = {m: x.kind for m, x in measures.items()}
    share = t["measure"].replace_strict(kinds, default="share").to_numpy() == "share"
    s = n * t["value"].fill_null(0.0).to_numpy()
    s = np.where(share, np.round(s), s)
    dens = {m: x.denominator for m, x in measures.items() if x.denominator}
    t = t.with_columns(_den=pl.col("measure").replace_strict(dens, default=None))
    t = t.with_columns(_den=pl.col("_den").fill_null(pl.concat_str([pl.lit("\x00"), pl.col("measure")])))
    gid = _dense(t, [*BLOCK, "_den"])
    row, inst, is_total, _ = relation_membership(t, key, relations)
    terms = [np.column_stack([2 * inst + q, row, np.full(len(row), q), np.where(is_total, 1.0, -1.0)])
             for q in (0, 1)]
    eq = 2 * (int(inst.max()) + 1 if len(inst) else 0)
    bid = _dense(t, BLOCK)
    by_measure = {m: i for i, m in enumerate(t["measure"].unique().sort().to_list())}
    mcode = t["measure"].replace_strict(by_measure, return_dtype=pl.Int64).to_numpy()
    index = np.full((int(bid.max()) + 1 if len(bid) else 0, len(by_measure)), -1, dtype=np.int64)
    index[bid, mcode] = np.arange(len(bid))

    def rows_of(m: str) -> np.ndarray:
        return index[:, by_measure[m]] if m in by_measure else np.full(index.shape[0], -1)

    def rep(den: str) -> np.ndarray:  # one row per block with this denominator (-1: none)
        out = np.full(index.shape[0], -1)
        for m in (m for m, d in dens.items() if d == den):
            r = rows_of(m)
            out = np.where(out < 0, r, out)
        return out

    ident: list[tuple[list[np.ndarray], list[int], list[float]]] = []
    for den, (base, minus) in DENOMINATOR_IDENTITIES.items():
        ident.append(([rep(den), rep(base), *[rows_of(m) for m in minus]], [0, 0] + [1] * len(minus),
                      [1.0, -1.0] + [1.0] * len(minus)))
    for total, parts in PARTS.items():
        ident.append(([rows_of(total), *[rows_of(m) for m in parts]], [1] * (1 + len(parts)),
                      [1.0] + [-1.0] * len(parts)))
    for members, qs, coefs in ident:
        ok = np.all([m >= 0 for m in members], axis=0)
        val = np.zeros(index.shape[0])
        for m, q, c in zip(members, qs, coefs, strict=True):
            val[ok] += c * (n if q == 0 else s)[m[ok]]
        ok &= np.abs(val) < 1e-6 * (1 + np.abs(s[members[0]] if qs[0] else n[members[0]]))
        k = np.flatnonzero(ok)
        for m, q, c in zip(members, qs, coefs, strict=True):
            terms.append(np.column_stack([eq + np.arange(len(k)), m[k], np.full(len(k), q), np.full(len(k), c)]))
        eq += len(k)
    return Model(table=table, n=n, s=s, share=share, gid=gid, terms=np.concatenate(terms),
                 rel_row=row, rel_inst=inst, rel_total=is_total, need=requirements(table, rules, measures, apriori_n(len(n), row, inst, is_total)),
                 enough=float(rules.count_level + 1))


def _solver():  # noqa: ANN202 - highspy types are not annotated
    """A quiet HiGHS instance (its banner goes to file descriptor 1, so silence that around the first one)."""
    import highspy

    fd = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(fd, 1)
        os.close(fd)
    h.setOptionValue("output_flag", False)
    # re-solves change only the objective: the last basis stays primal feasible, so primal simplex
    # from it (no presolve, which would discard it) takes a few pivots
    h.setOptionValue("presolve", "off")
    h.setOptionValue("simplex_strategy", 4)
    return h


@dataclass
class System:
    """The LP of one withheld set: variables, sparse rows, bounds, requirements."""

    a: sp.csr_matrix
    lo: np.ndarray  # row bounds
    hi: np.ndarray
    vlo: np.ndarray  # variable bounds
    vhi: np.ndarray
    integer: np.ndarray  # bool per variable: a count
    truth: np.ndarray  # the true values (a feasible integer point)
    nvar: np.ndarray  # per table row: the variable of its n (-1: published)
    svar: np.ndarray  # per table row: the variable of its s (-1: published)
    req: list[tuple[int, str, float, dict[int, float]]]  # (row, name, target, objective)


def system(model: Model, hidden: np.ndarray) -> System:
    """Variables and constraints for the withheld cells ``hidden`` (bool per row of the table)."""
    nrow = len(hidden)
    has_var = np.zeros(int(model.gid.max()) + 1 if nrow else 0, dtype=bool)
    has_var[model.gid[hidden]] = True
    gvar = np.cumsum(has_var) - 1
    n_nvar = int(has_var.sum())
    svar = np.full(nrow, -1)
    svar[hidden] = n_nvar + np.arange(int(hidden.sum()))
    nvars = n_nvar + int(hidden.sum())
    e, r, q, c = model.terms.T
    e, r, q = e.astype(np.int64), r.astype(np.int64), q.astype(np.int64)
    var = np.where(q == 0, np.where(has_var[model.gid[r]], gvar[model.gid[r]], -1), svar[r])
    const = np.where(q == 0, model.n[r], model.s[r])
    live = np.zeros(int(e.max()) + 1 if len(e) else 0, dtype=bool)
    live[e[var >= 0]] = True
    keep = live[e]
    e, var, c, const = e[keep], var[keep], c[keep], const[keep]
    _, erow = np.unique(e, return_inverse=True)
    neq = int(erow.max()) + 1 if len(erow) else 0
    isv = var >= 0
    rhs = -np.bincount(erow[~isv], weights=(c * const)[~isv], minlength=neq)
    amount = np.bincount(erow, weights=((q[keep] == 1) & ~model.share[r[keep]]).astype(float), minlength=neq) > 0
    scale = np.bincount(erow, weights=np.abs(c * const), minlength=neq)
    slack = np.where(amount, 1e-9 * scale + 1e-7, 0.0)  # float sums of amounts: the true point must stay feasible
    rows, cols, vals = [erow[isv]], [var[isv]], [c[isv]]
    lo, hi = [rhs - slack], [rhs + slack]
    # shares: s - n <= 0
    hs = np.flatnonzero(hidden & model.share)
    ns = np.where(has_var[model.gid[hs]], gvar[model.gid[hs]], -1)
    k = np.arange(len(hs)) + neq
    rows += [k, k[ns >= 0]]
    cols += [svar[hs], ns[ns >= 0]]
    vals += [np.ones(len(hs)), -np.ones(int((ns >= 0).sum()))]
    lo.append(np.full(len(hs), -INF))
    hi.append(np.where(ns >= 0, 0.0, model.n[hs]))
    a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(neq + len(hs), nvars))
    vlo = np.ones(nvars)
    vhi = np.full(nvars, INF)
    pub = np.zeros_like(has_var)
    pub[model.gid[~hidden]] = True
    g_of_var = np.flatnonzero(has_var)
    fixed = pub[g_of_var]  # a denominator also published in another measure of the block: n is known
    first = np.full(len(has_var), -1)
    first[model.gid[::-1]] = np.arange(nrow)[::-1]
    vlo[:n_nvar][fixed] = vhi[:n_nvar][fixed] = model.n[first[g_of_var[fixed]]]
    hr = np.flatnonzero(hidden)
    vlo[n_nvar:] = np.where(model.share[hr], 0.0, np.minimum(0.0, model.s[hr]))
    integer = np.zeros(nvars, dtype=bool)
    integer[:n_nvar] = True
    integer[n_nvar:] = model.share[hr]
    x = np.zeros(nvars)
    x[gvar[model.gid[hr]]] = model.n[hr]
    x[n_nvar:] = model.s[hr]
    req = []
    for i, name, target in model.need:
        if not hidden[i] or (i, name) in model.passed:
            continue
        nv, sv = int(gvar[model.gid[i]]), int(svar[i])
        obj = {nv: 1.0} if name.startswith("n_") else {sv: 1.0} if name.startswith("s_") else {nv: 1.0, sv: -1.0}
        req.append((i, name, target, obj))
    nvar = np.where(hidden, gvar[model.gid], -1)
    return System(a=a, lo=np.concatenate(lo), hi=np.concatenate(hi), vlo=vlo, vhi=vhi, integer=integer, truth=x,
                  nvar=nvar, svar=svar, req=req)


def interval(model: Model, hidden: np.ndarray, row: int, quantity: str = "n") -> tuple[float, float]:
    """The LP interval a reader can put on withheld row ``row``'s ``n`` or ``s`` (scipy's HiGHS, one cell).

    A second path to the bounds the audit checks (for tests and inspection); ``inf`` when unbounded.
    """
    from scipy.optimize import linprog

    sysm = system(model, hidden)
    v = int((sysm.nvar if quantity == "n" else sysm.svar)[row])
    if v < 0:
        value = float((model.n if quantity == "n" else model.s)[row])
        return value, value
    eq = sysm.lo == sysm.hi
    cost = np.zeros(sysm.a.shape[1])
    cost[v] = 1.0
    a_ub = sp.vstack([sysm.a[~eq & np.isfinite(sysm.hi)], -sysm.a[~eq & np.isfinite(sysm.lo)]])
    b_ub = np.concatenate([sysm.hi[~eq & np.isfinite(sysm.hi)], -sysm.lo[~eq & np.isfinite(sysm.lo)]])
    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * cost, A_ub=a_ub if a_ub.shape[0] else None, b_ub=b_ub if a_ub.shape[0] else None,
                      A_eq=sysm.a[eq] if eq.any() else None, b_eq=sysm.lo[eq] if eq.any() else None,
                      bounds=list(zip(sysm.vlo, np.where(np.isfinite(sysm.vhi), sysm.vhi, None), strict=True)),
                      method="highs")
        out.append(sign * res.fun if res.status == 0 else -sign * INF)  # not optimal: unbounded
    return out[0], out[1]


def _solve_block(sysm: System, cols: np.ndarray, rows: np.ndarray, reqs: list[int], stats: AuditStats
                 ) -> set[int]:
    """Indices (into ``sysm.req``) of the requirements of one connected block that are met."""
    import highspy

    local = np.full(sysm.a.shape[1], -1)
    local[cols] = np.arange(len(cols))
    sub = sysm.a[rows][:, cols].tocsc()
    sub_r = sub.tocsr()
    rlo, rhi = sysm.lo[rows], sysm.hi[rows]
    vlo, vhi, integer = sysm.vlo[cols], sysm.vhi[cols], sysm.integer[cols]
    ri, ci, cv = [], [], []
    for k, j in enumerate(reqs):
        for v, c in sysm.req[j][3].items():
            ri.append(k)
            ci.append(int(local[v]))
            cv.append(c)
    obj = sp.csr_matrix((cv, (ri, ci)), shape=(len(reqs), len(cols)))
    target = np.array([sysm.req[j][2] for j in reqs])
    down = np.array([sysm.req[j][1].endswith("down") for j in reqs])
    open_ = np.ones(len(reqs), dtype=bool)

    def integral(x: np.ndarray) -> bool:
        return not np.any(np.abs(x[integer] - np.round(x[integer])) > 1e-5)

    def feasible(x: np.ndarray) -> bool:
        ax = sub_r @ x
        return bool(np.all(ax >= rlo - 1e-6) and np.all(ax <= rhi + 1e-6) and np.all(x >= vlo - 1e-9)
                    and np.all(x <= vhi + 1e-9))

    def harvest(x: np.ndarray) -> None:
        if not integral(x):  # a fractional point proves nothing about integer bounds: try it rounded
            x = np.where(integer, np.round(x), x)
            if not feasible(x):
                return
        val = obj @ x
        open_[np.where(down, val <= target + TOL, val >= target - TOL)] = False

    harvest(sysm.truth[cols])
    if sub.shape[0] == 0:  # no constraint: each variable ranges over its bounds
        harvest(np.where(np.isfinite(vhi), vhi, vlo + 1e12))
        harvest(vlo.copy())
        return {reqs[k] for k in np.flatnonzero(~open_)}
    h = _solver()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), sub.shape[0]
    lp.col_cost_ = np.zeros(len(cols))
    lp.col_lower_, lp.col_upper_ = vlo, vhi
    lp.row_lower_, lp.row_upper_ = rlo, rhi
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = sub.indptr, sub.indices, sub.data
    h.passModel(lp)
    idx = np.arange(len(cols), dtype=np.int32)

    def run(cost: np.ndarray, maximize: bool, upper: np.ndarray | None = None) -> tuple[str, np.ndarray | None]:
        h.changeColsCost(len(cols), idx, cost)
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)
        if upper is not None:
            h.changeColsBounds(len(cols), idx, vlo, upper)
        h.run()
        stats.lps += 1
        status = h.getModelStatus()
        if upper is not None:
            h.changeColsBounds(len(cols), idx, vlo, vhi)
        if status == highspy.HighsModelStatus.kOptimal:
            return "optimal", np.asarray(h.getSolution().col_value)
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return "unbounded", None
        return "infeasible", None

    cap = np.minimum(vhi, np.floor(10.0 * (1.0 + np.abs(sysm.truth[cols]).max()) + 1e3))
    weight = 1.0 / np.maximum(1.0, np.abs(target))
    for d in (False, True):  # pooled: push every open cell up (then down); harvest the vertices
        for _ in range(POOLED):
            pick = open_ & (down == d)
            before = int(open_.sum())
            if not pick.any():
                break
            cost = np.asarray(obj[pick].T @ weight[pick]).ravel()
            _, x = run(cost, not d, None if d else cap)
            if x is not None:
                harvest(x)
            if int(open_.sum()) > before - max(2, before // 10):
                break
    for k in range(len(reqs)):
        if not open_[k]:
            continue
        cost = obj[k].toarray().ravel()
        status, x = run(cost, not down[k])
        if status == "unbounded" and not down[k]:
            open_[k] = False
            continue
        if x is None:
            continue
        harvest(x)
        met_lp = (cost @ x <= target[k] + TOL) if down[k] else (cost @ x >= target[k] - TOL)
        if open_[k] and met_lp:  # fractional vertex: ask the integer programme
            stats.milps += 1
            sign = 1.0 if down[k] else -1.0
            res = milp(sign * cost, constraints=LinearConstraint(sub, rlo, rhi), integrality=integer.astype(int),
                       bounds=Bounds(vlo, vhi), options={"time_limit": 10.0})
            if res.x is not None:
                harvest(np.asarray(res.x))
    return {reqs[k] for k in np.flatnonzero(~open_)}


def audit(model: Model, hidden: np.ndarray, stats: AuditStats) -> list[tuple[int, str]]:
    """(row, requirement) of the cells whose interval is too narrow under the withheld set ``hidden``."""
    t0 = time.perf_counter()
    sysm = system(model, hidden)
    stats.rounds += 1
    stats.withheld = int(hidden.sum())
    stats.audited = len({i for i, _, _ in model.need if hidden[i]})
    stats.requirements = len(model.need)
    failed: list[tuple[int, str]] = []
    if sysm.req:
        nv = sysm.a.shape[1]
        coo = sysm.a.tocoo()
        nr = sysm.a.shape[0]
        graph = sp.coo_matrix((np.ones(coo.nnz), (coo.col, nv + coo.row)), shape=(nv + nr, nv + nr))
        _, label = connected_components(graph, directed=False)
        by_block: dict[int, list[int]] = {}
        for j, (_, _, _, obj) in enumerate(sysm.req):
            by_block.setdefault(int(label[next(iter(obj))]), []).append(j)
        for comp, reqs in by_block.items():
            members = np.flatnonzero(label == comp)
            cols, rows = members[members < nv], members[members >= nv] - nv
            met = _solve_block(sysm, cols, rows, reqs, stats)
            for j in reqs:
                i, name = sysm.req[j][0], sysm.req[j][1]
                if j in met:
                    model.passed.add((i, name))
                else:
                    failed.append((i, name))
    stats.seconds += time.perf_counter() - t0
    return sorted(set(failed))


def extension(model: Model, hidden: np.ndarray, failed: Sequence[tuple[int, str]]) -> list[int]:
    """Rows of one more block per failed cell: the published member of its relations with the smallest n.

    Parts before totals (an afdeling of the group before the group itself), and
    among them the smallest with at least ``model.enough`` persons if any (one
    block that widens the interval at once saves rounds of re-protection);
    when every member is withheld already, the relations one step up are searched.
    A withheld share of 0 (of 1) whose published total is 0 (is all) cannot be
    hidden behind its parts: the total is withheld instead.
    """
    row, inst, tot = model.rel_row, model.rel_inst, model.rel_total
    picks: set[int] = set()
    for i, name in failed:
        model.tries[(i, name)] = model.tries.get((i, name), 0) + 1
        if model.tries[(i, name)] > 2 * TRIES:  # nothing withheld so far helped: left unresolved (reported)
            continue
        flat_share = name in ("s_up", "class_1") and bool(model.share[i])
        if model.tries[(i, name)] > TRIES or flat_share:  # totals above the cell, level by level
            frontier, found = np.array([i]), []
            for _ in range(4):
                up = np.isin(inst, inst[np.isin(row, frontier) & ~tot]) & tot
                r = np.unique(row[up])
                pub = r[~hidden[r]]
                if flat_share and model.tries[(i, name)] <= TRIES:
                    pub = pub[(model.s[pub] == 0) if name == "s_up" else (model.s[pub] == model.n[pub])]
                if len(pub):
                    found = pub.tolist()
                    break
                frontier = r[hidden[r]]
                if not len(frontier):
                    break
            if found:
                picks.update(int(x) for x in found)
                continue
        frontier = {i}
        seen: set[int] = set()
        for _ in range(4):
            insts = np.unique(inst[np.isin(row, list(frontier))])
            mem = np.isin(inst, insts)
            cand = mem & ~hidden[row]
            if cand.any():
                r, t = row[cand], tot[cand]
                order = np.lexsort((r, model.n[r], model.n[r] < model.enough, t))
                picks.add(int(r[order[0]]))
                break
            seen |= frontier
            frontier = set(row[mem].tolist()) - seen
            if not frontier:
                break
    return sorted(picks)
