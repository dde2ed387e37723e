"""All statistical disclosure control of socialmix, in one place.

Every table the package releases (measures, comparison series, municipal gaps,
flows, DiD estimates, figures, export) passes through this module, so an
output checker reviews one set of rules. The steps, in order:

1. primary suppression: fewer than ``min_persons`` persons in a cell, or (for
   magnitude cells: means and sums) fewer than ``min_units`` households;
2. dominance (N-K rule) and p-ratio on magnitude cells, from household
   contributions (the N largest households may hold at most k of the total);
3. complementary suppression over the additive relations of the release
   (``total = sum(parts)`` for n and for n*value): first the classic
   iteration (a relation with exactly one suppressed member gets its smallest
   published member suppressed), then an exact linear audit (a suppressed cell
   is recoverable iff its unit vector lies in the row space of the relations
   restricted to the suppressed cells); repeated until stable;
   Class disclosure (a share of 0 or 1 in a small cell) is a primary rule;
4. a report (``disclosure_report.csv``) naming each withheld cell, never why
   (the rule is in ``internal/disclosure_reasons.csv``), with no microdata.

The rule set (:class:`Rules`, profiles in ``queries/disclosure.toml``) is
decided once per OUT in :mod:`queries.disclosure_rules`.

Examples
--------
>>> import polars as pl
>>> rules = load_rules("dst")
>>> t = pl.DataFrame({"unit": ["g", "a", "b", "c"], "n": [30, 3, 12, 15], "value": [0.5, 0.3, 0.6, 0.5]})
>>> rel = Relation(total={"unit": "g"}, parts=[{"unit": u} for u in "abc"])
>>> released, report = protect(t, rules=rules, key=["unit"], relations=[rel])
>>> released.filter(pl.col("suppressed"))["unit"].to_list()
['a', 'b']
>>> report["rule"].to_list()
['primary', 'complementary']
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from panel.errors import DisclosureError, InputError

# the rule set lives in queries.disclosure_rules; re-exported for the callers of this module
from queries.disclosure_rules import STAMP_COLUMN
from queries.disclosure_rules import Profile as Profile
from queries.disclosure_rules import Rules as Rules
from queries.disclosure_rules import load_rules as load_rules

Rule = Literal["primary", "dominance", "p_ratio", "complementary", "inherited"]

REPORT_FILE = "disclosure_report.csv"
REPORT_COLUMNS = ("table", "cell", "rule", "detail")
# The public report says only that a cell is withheld; why (which rule) goes to the internal report,
# which export never ships: a reader told "complementary" knows the cell holds at least the threshold.
PUBLIC_RULE = "withheld"
INTERNAL_DIR = "internal"
INTERNAL_REPORT = "disclosure_reasons.csv"
# Bool column marking rows whose ``share_columns`` hold shares (fractions of persons), for class disclosure.
SHARE_FLAG = "is_share"
# Columns that must never reach a released table (personal identifiers and their surrogates).
FORBIDDEN_COLUMNS = frozenset({"pnr", "familie_id", "adresse_id", "person_id", "household_id", "hh_key"})
# Optional per-cell magnitude columns read by protect() (from magnitude_stats()).
MAGNITUDE_COLUMNS = ("units", "top1", "top2", "top_n", "abs_total")


# ------------------------------------------------------------------ estimates
def check_estimate(n_units: int, n_obs: int, rules: Rules, *, n_params: int = 1) -> list[str]:
    """Reasons an estimate may not leave the secure environment (empty list = releasable).

    ``n_units`` is the number of clusters (afdelinger) the estimate rests on,
    ``n_obs`` the person-years (or unit-years), ``n_params`` the parameters
    estimated (for the residual degrees of freedom).

    Examples
    --------
    >>> check_estimate(40, 900, load_rules("dst"))
    []
    >>> check_estimate(4, 900, load_rules("safe"))
    ['clusters 4 < 10']
    """
    reasons = []
    if n_units < rules.min_clusters:
        reasons.append(f"clusters {n_units} < {rules.min_clusters}")
    if n_obs < rules.min_obs:
        reasons.append(f"observations < {rules.min_obs}")
    if n_obs - n_params < rules.min_dof:
        reasons.append(f"residual degrees of freedom < {rules.min_dof}")
    return reasons


# ------------------------------------------------------------------ magnitude statistics
def magnitude_stats(contrib: pl.LazyFrame | pl.DataFrame, keys: Sequence[str], *, value: str,
                    rules: Rules) -> pl.LazyFrame:
    """Per-cell household statistics for the dominance rules, from household contributions.

    ``contrib`` has one row per cell and household (``keys`` + ``value``: the
    household's contribution to the cell sum, e.g. the sum of its members'
    values). Returns ``keys`` + ``units``, ``top1``, ``top2``, ``top_n`` (the
    ``dominance_n`` largest) and ``abs_total``, all on absolute contributions
    (negative incomes count by size). Join the result onto the table given to
    :func:`protect`; it drops these columns from the released table.

    Examples
    --------
    >>> c = pl.DataFrame({"cell": [1, 1, 1], "c": [900.0, 50.0, 50.0]})
    >>> magnitude_stats(c, ["cell"], value="c", rules=load_rules("dst")).collect()["top_n"].item()
    950.0
    """
    a = pl.col(value).abs()
    return (contrib.lazy().filter(pl.col(value).is_not_null()).group_by(list(keys)).agg(
        units=pl.len().cast(pl.Int64),
        top1=a.max(),
        top2=a.top_k(2).sum() - a.max(),
        top_n=a.top_k(rules.dominance_n).sum(),
        abs_total=a.sum(),
    ))


# ------------------------------------------------------------------ relations
@dataclass(frozen=True)
class Relation:
    """``total = sum(parts)`` holds for n and n*value in every block of the other key columns.

    ``total`` and each part name cells by the *match* columns (e.g. ``level``
    and ``unit``); the relation is instantiated for every combination of the
    remaining key columns (e.g. ``year``, ``population``, ``measure``). A part
    with no row in the table has no persons: it is a published zero.

    Examples
    --------
    >>> Relation(total={"level": "group", "unit": "any_tool"},
    ...          parts=[{"level": "group", "unit": u} for u in ("anvisning_only", "fleksibel_only", "both")],
    ...          name="any_tool")  # doctest: +ELLIPSIS
    Relation(...)
    """

    total: Mapping[str, Any]
    parts: Sequence[Mapping[str, Any]]
    name: str = ""
    match: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        cols = tuple(sorted(self.total))
        if any(tuple(sorted(p)) != cols for p in self.parts):
            raise InputError(f"relation {self.name!r}: total and parts must name the same columns")
        object.__setattr__(self, "match", cols)


def _dense_id(df: pl.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """Dense ids 0..G-1 of the distinct combinations of ``cols`` (cheaper than ranking a struct)."""
    if not cols or not df.height:
        return np.zeros(df.height, dtype=np.int64)
    code = np.zeros(df.height, dtype=np.int64)
    for c in cols:
        col = df[c]
        if col.dtype == pl.String:  # hash-based codes: ids need not follow the sort order, only be dense
            col = col.cast(pl.Categorical).to_physical()
        r = col.rank("dense").fill_null(0).cast(pl.Int64).to_numpy()
        radix = int(r.max()) + 1
        if int(code.max()) >= (1 << 62) // radix:  # would overflow: start again from the ids so far
            code = np.unique(code, return_inverse=True)[1].ravel().astype(np.int64)
        code = code * radix + r
    return np.unique(code, return_inverse=True)[1].ravel().astype(np.int64)


def _unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows of a 2-d array, index of each row's distinct row), by a lexsort over the columns."""
    if len(x) < 2 or x.shape[1] > 256:
        return x, np.arange(len(x))
    order = np.lexsort(x.T[::-1])
    xs = x[order]
    new = np.ones(len(x), dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]).any(axis=1)
    back = np.empty(len(x), dtype=np.int64)
    back[order] = np.cumsum(new) - 1
    return xs[new], back


def relation_membership(table: pl.DataFrame, key: Sequence[str], relations: Sequence[Relation]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, instance, is_total, block) arrays: which table rows take part in which relation instance."""
    empty = np.zeros(0, dtype=np.int64)
    if not relations:
        return empty, empty, empty.astype(bool), empty
    match = relations[0].match
    if any(r.match != match for r in relations):
        raise InputError("all relations given to one protect() call must name the same columns")
    missing = [c for c in match if c not in key]
    if missing:
        raise InputError(f"relation columns {missing} are not key columns of the table")
    by = [c for c in key if c not in match]
    recs = [{**r.total, "_rel": i, "_total": True} for i, r in enumerate(relations)]
    recs += [{**p, "_rel": i, "_total": False} for i, r in enumerate(relations) for p in r.parts]
    rel = pl.DataFrame(recs).with_columns([pl.col(c).cast(table.schema[c]) for c in match])
    t = table.select(key).with_row_index("_row")
    m = t.join(rel, on=list(match), how="inner")
    block = _dense_id(m, by)
    m = m.with_columns(_block=pl.Series(block), _inst=pl.Series(_dense_id(m.with_columns(_b=pl.Series(block)),
                                                                          ["_rel", "_b"])))
    return (m["_row"].to_numpy().astype(np.int64), m["_inst"].to_numpy().astype(np.int64),
            m["_total"].to_numpy(), m["_block"].to_numpy().astype(np.int64))


def _first_per_group(groups: np.ndarray, *sort_keys: np.ndarray) -> np.ndarray:
    """Indices of the first element of each group after sorting by ``sort_keys`` (last key = primary)."""
    order = np.lexsort((*sort_keys, groups))
    g = groups[order]
    keep = np.ones(len(g), dtype=bool)
    keep[1:] = g[1:] != g[:-1]
    return order[keep]


def _iterate(sup: np.ndarray, n: np.ndarray, row: np.ndarray, inst: np.ndarray, is_total: np.ndarray) -> np.ndarray:
    """Classic complementary suppression: no relation instance may have exactly one suppressed member."""
    new = np.zeros(len(sup), dtype=bool)
    if len(row) == 0:
        return new
    n_inst = int(inst.max()) + 1
    while True:
        hidden = sup | new
        count = np.bincount(inst, weights=hidden[row], minlength=n_inst)
        size = np.bincount(inst, minlength=n_inst)
        bad = (count == 1) & (size > 1)
        if not bad.any():
            return new
        cand = bad[inst] & ~hidden[row]
        pick = _first_per_group(inst[cand], row[cand], is_total[cand].astype(np.int64), n[row[cand]])
        new[row[cand][pick]] = True


def _local_rank(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Dense rank (0, 1, ...) of ``values`` within each group; ``groups`` are dense ids 0..G-1."""
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    first_g = np.ones(len(g), dtype=bool)
    first_g[1:] = g[1:] != g[:-1]
    new = first_g.copy()
    new[1:] |= v[1:] != v[:-1]
    c = np.cumsum(new) - 1
    ranks = np.empty(len(g), dtype=np.int64)
    ranks[order] = c - c[first_g][np.cumsum(first_g) - 1]
    return ranks


_BATCH_CELLS = 1 << 22  # matrix entries per batched SVD call (bounds memory to ~32 MB per call)


def _recoverable(sup: np.ndarray, row: np.ndarray, inst: np.ndarray, is_total: np.ndarray,
                 block: np.ndarray) -> np.ndarray:
    """Rows of suppressed cells that some combination of the relations pins down exactly.

    Per block, the relations restricted to the suppressed cells form a matrix A
    (published cells move to the right-hand side); cell i is determined iff the
    unit vector e_i lies in the row space of A. The blocks are independent and
    mostly tiny, so their matrices are stacked (zero-padded to a common
    power-of-two shape, which leaves every row space unchanged) and solved by
    one batched SVD per shape rather than one call per block.
    """
    out = np.zeros(len(sup), dtype=bool)
    size = np.bincount(inst, minlength=int(inst.max(initial=-1)) + 1)
    idx = np.flatnonzero(sup[row] & (size[inst] > 1))
    if not len(idx):
        return out
    _, b = np.unique(block[idx], return_inverse=True)
    b = b.astype(np.int64)
    rows, insts = row[idx], inst[idx]
    col, r = _local_rank(b, rows), _local_rank(b, insts)
    n_blocks = int(b.max()) + 1
    ncol = np.zeros(n_blocks, dtype=np.int64)
    nrow = np.zeros(n_blocks, dtype=np.int64)
    np.maximum.at(ncol, b, col + 1)
    np.maximum.at(nrow, b, r + 1)

    def pow2(x: np.ndarray) -> np.ndarray:
        return (1 << np.ceil(np.log2(np.maximum(x, 1))).astype(np.int64)).astype(np.int64)

    pc, pr = pow2(ncol), pow2(nrow)
    shape_id = pr * (int(pc.max()) + 1) + pc
    sign = np.where(is_total[idx], 1.0, -1.0)
    for sid in np.unique(shape_id):
        members = np.flatnonzero(shape_id == sid)
        m_rows, m_cols = int(pr[members[0]]), int(pc[members[0]])
        step = max(1, _BATCH_CELLS // (m_rows * m_cols))
        for lo in range(0, len(members), step):
            chunk = members[lo:lo + step]
            local = np.full(n_blocks, -1, dtype=np.int64)
            local[chunk] = np.arange(len(chunk))
            ent = np.flatnonzero(local[b] >= 0)
            a = np.zeros((len(chunk), m_rows, m_cols))
            np.add.at(a, (local[b[ent]], r[ent], col[ent]), sign[ent])
            # many blocks share one matrix (same pattern of hidden parts): solve each distinct one once
            uniq, back = _unique_rows(a.reshape(len(chunk), -1))
            _, s, vt = np.linalg.svd(uniq.reshape(-1, m_rows, m_cols), full_matrices=False)
            tol = 1e-9 * np.maximum(1.0, s.max(axis=1, initial=0.0))
            keep = s > tol[:, None]
            proj = ((vt ** 2) * keep[:, :, None]).sum(axis=1)[back.ravel()]  # |e_i projected on the row space|^2
            hit = proj[local[b[ent]], col[ent]] > 1 - 1e-9
            out[rows[ent][hit]] = True
    return out


def _complement(sup: np.ndarray, n: np.ndarray, row: np.ndarray, inst: np.ndarray, is_total: np.ndarray,
                block: np.ndarray) -> np.ndarray:
    """Complementary suppressions (bool per row) so that no suppressed cell is recoverable."""
    new = np.zeros(len(sup), dtype=bool)
    for _ in range(len(sup) + 1):
        new |= _iterate(sup | new, n, row, inst, is_total)
        hidden = sup | new
        rec = _recoverable(hidden, row, inst, is_total, block)
        if not rec.any():
            return new
        # per block: hide the smallest published cell of an instance holding a recoverable cell
        # (or, failing that, of any instance holding a hidden cell)
        touches_rec = np.isin(inst, inst[rec[row]])
        touches_hid = np.isin(inst, inst[hidden[row]])
        blocks = np.unique(block[rec[row]])
        for pool in (touches_rec, touches_hid):
            cand = pool & ~hidden[row] & np.isin(block, blocks)
            if cand.any():
                break
        else:
            raise DisclosureError("complementary suppression cannot protect a cell; check the relations")
        pick = _first_per_group(block[cand], row[cand], is_total[cand].astype(np.int64), n[row[cand]])
        new[row[cand][pick]] = True
    raise DisclosureError("complementary suppression did not converge")


# ------------------------------------------------------------------ protect
def primary_flags(table: pl.DataFrame, rules: Rules, *, share_columns: Sequence[str] = ("value",)) -> pl.DataFrame:
    """Add ``_rule`` (first primary rule that fires, or null) and ``_detail`` to ``table``.

    Class disclosure is a primary rule too: where the bool column
    :data:`SHARE_FLAG` marks a row's ``share_columns`` as shares, a share of
    exactly 0 or 1 in a cell of fewer than ``rules.class_min_n`` persons says
    something about every person of the cell, so the cell is withheld.
    """
    n = pl.col("n")
    has = set(table.columns)
    whens: list[tuple[pl.Expr, str, str]] = [
        (n.is_null() | (n < rules.min_persons), "primary", f"fewer than {rules.min_persons} persons"),
    ]
    shares = [c for c in share_columns if c in has]
    if SHARE_FLAG in has and shares and rules.class_min_n > 0:
        extreme = pl.any_horizontal([pl.col(c).is_in([0.0, 1.0]) for c in shares])
        whens.append((pl.col(SHARE_FLAG).fill_null(False) & extreme & (n < rules.class_min_n), "primary",
                      f"share of 0 or 1 with fewer than {rules.class_min_n} persons (class disclosure)"))
    if "units" in has:
        whens.append((pl.col("units").is_not_null() & (pl.col("units") < rules.min_units), "primary",
                      f"fewer than {rules.min_units} households"))
    if {"top_n", "abs_total"} <= has:
        whens.append((pl.col("top_n") > rules.dominance_k * pl.col("abs_total"), "dominance",
                      f"{rules.dominance_n} largest households over {rules.dominance_k:.0%} of the total"))
    if rules.p_ratio > 0 and {"top1", "top2", "abs_total"} <= has:
        whens.append((pl.col("abs_total") - pl.col("top1") - pl.col("top2") < rules.p_ratio * pl.col("top1"),
                      "p_ratio", f"rest of the cell under {rules.p_ratio:.0%} of the largest household"))
    rule: Any = pl.lit(None, dtype=pl.String)
    detail: Any = pl.lit(None, dtype=pl.String)
    for cond, r, d in reversed(whens):
        rule = pl.when(cond.fill_null(False)).then(pl.lit(r)).otherwise(rule)
        detail = pl.when(cond.fill_null(False)).then(pl.lit(d)).otherwise(detail)
    return table.with_columns(_rule=rule, _detail=detail)


def cell_label(table: pl.DataFrame, key: Sequence[str]) -> pl.Series:
    """``"col=value; ..."`` per row: how a report names a cell."""
    return table.select(pl.concat_str([pl.lit(f"{c}=") + pl.col(c).cast(pl.String).fill_null("")
                                       for c in key], separator="; ").alias("cell"))["cell"]


def protect(table: pl.DataFrame, *, rules: Rules, key: Sequence[str], relations: Sequence[Relation] = (),
            name: str = "table", null_columns: Sequence[str] = ("n", "value"),
            inherited: str = "suppressed", share_columns: Sequence[str] = ("value",)
            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply primary, dominance, p-ratio and complementary suppression; return (released, report).

    ``table`` has the ``key`` columns (one row per cell), ``n`` (persons in the
    denominator) and the published columns; optionally the magnitude columns of
    :func:`magnitude_stats` and a bool column ``inherited`` (default
    ``suppressed``) marking cells that must be hidden because a cell they derive
    from is (rule ``inherited``; e.g. flows of a suppressed stock cell).
    ``relations`` lists every additive relation the release holds among these
    rows. In the released table ``null_columns`` are null where ``suppressed``
    is true and the magnitude columns are gone; the report has one row per
    suppressed cell: ``table``, ``cell``, ``rule``, ``detail``.
    """
    missing = [c for c in [*key, "n", *null_columns] if c not in table.columns]
    if missing:
        raise InputError(f"table {name!r} lacks columns {missing}")
    if table.select(key).is_duplicated().any():
        raise InputError(f"table {name!r} has more than one row for some key")
    forbidden = sorted(c for c in table.columns if c.lower() in FORBIDDEN_COLUMNS)
    if forbidden:
        raise DisclosureError(f"table {name!r} carries identifier columns {forbidden}")
    t = primary_flags(table, rules, share_columns=share_columns)
    if inherited in t.columns:
        inh = t[inherited].fill_null(False)
        t = t.with_columns(_rule=pl.when(inh & pl.col("_rule").is_null()).then(pl.lit("inherited"))
                           .otherwise(pl.col("_rule")),
                           _detail=pl.when(inh & pl.col("_rule").is_null()).then(pl.lit("derived from a suppressed cell"))
                           .otherwise(pl.col("_detail")))
    sup = t["_rule"].is_not_null().to_numpy()
    n = t["n"].fill_null(0).cast(pl.Int64).to_numpy()
    row, inst, is_total, block = relation_membership(t, key, relations)
    comp = _complement(sup, n, row, inst, is_total, block)
    t = t.with_columns(
        _rule=pl.when(pl.Series(comp)).then(pl.lit("complementary")).otherwise(pl.col("_rule")),
        _detail=pl.when(pl.Series(comp)).then(pl.lit("protects a suppressed cell in an additive relation"))
        .otherwise(pl.col("_detail")),
    )
    suppressed = pl.col("_rule").is_not_null()
    report = (t.filter(suppressed).with_columns(cell=cell_label(t.filter(suppressed), key))
              .select(table=pl.lit(name), cell="cell", rule="_rule", detail="_detail"))
    drop = [c for c in (*MAGNITUDE_COLUMNS, inherited, SHARE_FLAG, "_detail") if c in t.columns]
    released = (t.with_columns([pl.when(suppressed).then(None).otherwise(pl.col(c)).alias(c) for c in null_columns])
                .drop(drop).with_columns(suppressed=suppressed).drop("_rule"))
    return released, report


def empty_report() -> pl.DataFrame:
    """A report with no rows (for concatenation)."""
    return pl.DataFrame(schema={c: pl.String for c in REPORT_COLUMNS})


# ------------------------------------------------------------------ release checks and writing
def check_released(df: pl.DataFrame, rules: Rules, *, name: str = "table",
                   null_columns: Sequence[str] = ("n", "value"), share_measures: Sequence[str] = ()) -> None:
    """Raise :class:`DisclosureError` unless ``df`` looks like a protected release.

    No identifier column; a ``suppressed`` column; suppressed rows carry no
    values; no published row has ``n`` below the person threshold; and, for
    the rows whose ``measure`` is one of ``share_measures``, no published
    ``value`` of exactly 0 or 1 below ``class_min_n`` persons.
    """
    forbidden = sorted(c for c in df.columns if c.lower() in FORBIDDEN_COLUMNS)
    if forbidden:
        raise DisclosureError(f"release {name!r} carries identifier columns {forbidden}")
    if "suppressed" not in df.columns:
        raise DisclosureError(f"release {name!r} has no 'suppressed' column; pass it through protect()")
    present = [c for c in null_columns if c in df.columns]
    leaks = df.filter(pl.col("suppressed") & pl.any_horizontal([pl.col(c).is_not_null() for c in present])).height \
        if present else 0
    if leaks:
        raise DisclosureError(f"release {name!r}: {leaks} suppressed rows still carry values")
    if "n" in df.columns:
        small = df.filter(~pl.col("suppressed") & (pl.col("n") < rules.min_persons)).height
        if small:
            raise DisclosureError(f"release {name!r}: {small} published rows below {rules.min_persons} persons")
    if share_measures and rules.class_min_n > 0 and {"measure", "value", "n"} <= set(df.columns):
        extreme = df.filter(~pl.col("suppressed") & pl.col("measure").is_in(list(share_measures))
                            & pl.col("value").is_in([0.0, 1.0]) & (pl.col("n") < rules.class_min_n)).height
        if extreme:
            raise DisclosureError(f"release {name!r}: {extreme} published shares of 0 or 1 below "
                                  f"{rules.class_min_n} persons (class disclosure)")


def write_released(df: pl.DataFrame, path_stem: str | Path, report: pl.DataFrame | None = None, *,
                   rules: Rules, null_columns: Sequence[str] = ("n", "value")) -> None:
    """Write ``path_stem``.parquet and .csv after :func:`check_released`; append ``report`` rows.

    The report goes to ``disclosure_report.csv`` in the same directory (created
    with a header on first use), so every table of a release shares one report
    (see :func:`append_report`). Under rules below the profile's floor every
    table carries the column ``below_disclosure_floor`` = true.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rel, rep = protect(pl.DataFrame({"unit": ["a"], "n": [2], "value": [0.5]}), rules=load_rules("dst"),
    ...                    key=["unit"], name="demo")
    >>> write_released(rel, d / "demo", rep, rules=load_rules("dst"))
    >>> sorted(p.name for p in d.iterdir())
    ['demo.csv', 'demo.parquet', 'disclosure_report.csv', 'internal']
    """
    path_stem = Path(path_stem)
    check_released(df, rules, name=path_stem.name, null_columns=null_columns)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    df = stamp(df, rules)
    df.write_parquet(path_stem.with_suffix(".parquet"))
    df.write_csv(path_stem.with_suffix(".csv"))
    if report is not None:
        append_report(report, path_stem.parent / REPORT_FILE)


def stamp(df: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """``df`` with the column ``below_disclosure_floor`` = true when ``rules`` are below the floor."""
    return df.with_columns(pl.lit(True).alias(STAMP_COLUMN)) if rules.below_floor else df


def internal_report_path(path: str | Path) -> Path:
    """Where the full reasons behind the public report at ``path`` go: ``internal/disclosure_reasons.csv``."""
    path = Path(path)
    return path.parent / INTERNAL_DIR / INTERNAL_REPORT


def append_report(report: pl.DataFrame, path: str | Path) -> None:
    """Append report rows: to the public report at ``path`` as ``withheld``, in full to the internal one.

    The public file names each withheld cell with rule ``withheld`` and an
    empty detail; the rule and its detail (primary, complementary ...) go to
    :func:`internal_report_path`, which ``export`` never ships. Each file gets
    its header once.
    """
    path = Path(path)
    if set(report.columns) != set(REPORT_COLUMNS):
        raise InputError(f"a disclosure report needs exactly the columns {REPORT_COLUMNS}")
    full = report.select(REPORT_COLUMNS)
    public = full.with_columns(rule=pl.lit(PUBLIC_RULE), detail=pl.lit(""))
    internal = internal_report_path(path)
    internal.parent.mkdir(parents=True, exist_ok=True)
    for target, rows in ((path, public), (internal, full)):
        new = not target.exists()
        with target.open("a", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(REPORT_COLUMNS)
            w.writerows(rows.iter_rows())
