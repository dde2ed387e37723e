"""From person rows to cells: additive sums, plus household contributions for magnitudes.

Each person row becomes measure indicators once (``k|m``: counted in m;
``c|m``: contribution to m's sum). Two aggregates then carry everything:

* ``sums``: indicators summed per fine key (e.g. afdeling-year): n and n*value
  add up, so groups and comparison series are sums of afdeling sums (groups
  pool persons);
* ``hh``: for the magnitude measures only (means, sums), indicators summed per
  fine key and household: the household contributions the dominance rules
  need, re-summed per household when afdelinger are pooled.

Keeping shares out of the household-level table keeps the one
high-cardinality group_by narrow (speed at whole-population scale).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

import polars as pl

from queries.dense import count_col, household_stats, sum_col
from queries.disclosure import Rules, magnitude_stats
from queries.registry import Measure

_k, _c = count_col, sum_col  # the column names of queries.dense (short names for the many uses here)


def _cols(measures: Mapping[str, Measure], *, magnitude_only: bool = False) -> list[str]:
    return [c for name, m in measures.items() if m.magnitude or not magnitude_only for c in (_k(name), _c(name))]


class Agg(NamedTuple):
    """Additive sums per key and household contributions of the magnitude measures."""

    sums: pl.LazyFrame
    hh: pl.LazyFrame

    def apply(self, fn: Callable[[pl.LazyFrame], pl.LazyFrame]) -> Agg:
        """The same LazyFrame step (a filter, a join, a literal column) on both parts."""
        return Agg(fn(self.sums), fn(self.hh))

    def collect(self) -> Agg:
        """Materialise both parts (they feed several cell tables)."""
        s, h = pl.collect_all([self.sums, self.hh])
        return Agg(s.lazy(), h.lazy())


def indicators(rows: pl.LazyFrame, keys: Sequence[str], measures: Mapping[str, Measure]) -> pl.LazyFrame:
    """Per person: ``keys`` + ``hh_key`` + ``k|m`` and ``c|m`` for every measure.

    Vectorised once per row, so the group_bys that follow are plain sums.
    Shares carry booleans (one byte), magnitudes a float.
    """
    cols = []
    for name, m in measures.items():
        k = m.counted()
        c = (pl.when(k).then(m.value.cast(pl.Float64)).otherwise(0.0) if m.magnitude
             else (k & m.value.cast(pl.Boolean)).fill_null(False))
        cols += [k.alias(_k(name)), c.alias(_c(name))]
    return rows.select(*keys, "hh_key", *cols)


def aggregate(ind: pl.LazyFrame, keys: Sequence[str], measures: Mapping[str, Measure]) -> Agg:
    """Sums per ``keys`` and magnitude contributions per ``keys`` and household, from indicators.

    Examples
    --------
    >>> from queries.registry import registry
    >>> rows = pl.LazyFrame({"u": ["A", "A", "A"], "hh_key": [1, 1, 2], "age": [30, 40, 50],
    ...                      "in_labour_force": [True, True, False], "employed": [True, False, None],
    ...                      "hh_income_2013": [100.0, 100.0, 50.0]})
    >>> ms = {m: registry()[m] for m in ("employment", "income")}
    >>> a = aggregate(indicators(rows, ["u"], ms), ["u"], ms)
    >>> a.sums.collect().rows()
    [('A', 2, 1, 3, 250.0)]
    >>> a.hh.sort("hh_key").collect().rows()
    [('A', 1, 2, 200.0), ('A', 2, 1, 50.0)]
    """
    return Agg(regroup_sums(ind, keys, measures), regroup_hh(ind, keys, measures))


_QUANTUM = 2.0 ** 40  # fsum adds multiples of 2^-40 (9e-13 of the unit: of a krone for incomes)
_EXACT_LIMIT = 2.0 ** 60  # addends below this in size: their 2^-40 multiples summed fit 128 bits many times over


def fsum(expr: pl.Expr) -> pl.Expr:
    """A float sum that does not depend on the order of the rows.

    Float addition is not associative, and polars adds a group's rows in
    whatever order its threads and joins deliver them, so the same release
    run twice differed in the last digits of its means (2,462 of the demo's
    lines). Here each addend is rounded to a multiple of 2^-40 and the
    multiples are added exactly as 128-bit integers, converted back once: the
    same result in any order, within n * 2^-41 of the exact sum (a plain float
    sum is off by up to n * 1e-16 of the total). Nulls, all-null groups, NaN
    and infinities as ``sum``. Sorting the addends would do it too, but
    polars drops a ``sort`` before a ``sum``, and a running sum over sorted
    groups was 4-5x slower.
    (The whole-population paths add floats with ``np.bincount`` in row order
    instead: :func:`queries.dense.float_sums`.)

    Examples
    --------
    >>> rows = pl.DataFrame({"x": [0.3, 0.2, 0.1]})
    >>> rows.select(pl.col("x").sum()).item(), rows.reverse().select(pl.col("x").sum()).item()
    (0.6, 0.6000000000000001)
    >>> rows.select(fsum(pl.col("x"))).item() == rows.reverse().select(fsum(pl.col("x"))).item()
    True
    """
    ok = expr.abs() < _EXACT_LIMIT  # false for NaN and inf: those (and absurdly large values) add as floats,
    exact = pl.when(ok).then(expr).otherwise(0.0)  # so they propagate as in a plain sum; zeros add in any order
    rest = pl.when(ok).then(0.0).otherwise(expr)
    return ((exact * _QUANTUM).round().cast(pl.Int128).sum().cast(pl.Float64) / _QUANTUM + rest.sum()).alias(
        expr.meta.output_name(raise_if_undetermined=False) or "sum")


def sum_columns(frame: pl.LazyFrame, columns: Sequence[str]) -> list[pl.Expr]:
    """``sum`` of each column, by :func:`fsum` where the column holds floats (integers add up exactly)."""
    schema = frame.collect_schema()
    return [fsum(pl.col(c)) if schema[c].is_float() else pl.col(c).sum() for c in columns]


def float_columns(measures: Mapping[str, Measure]) -> list[str]:
    """The indicator columns holding floats: the contributions of the magnitude measures."""
    return [_c(name) for name, m in measures.items() if m.magnitude]


def regroup_sums(sums: pl.LazyFrame, keys: Sequence[str], measures: Mapping[str, Measure], *,
                 floats: bool = True) -> pl.LazyFrame:
    """Sum the indicator columns per ``keys`` (no keys: one row, the total).

    Float columns by :func:`fsum`; ``floats=False`` leaves them out, for a
    caller that sums them in a fixed row order itself (:mod:`queries.dense`).
    """
    flo = set(float_columns(measures))
    aggs = sum_columns(sums, [c for c in _cols(measures) if floats or c not in flo])
    return sums.group_by(list(keys)).agg(aggs) if keys else sums.select(aggs)


def regroup_hh(hh: pl.LazyFrame, keys: Sequence[str], measures: Mapping[str, Measure]) -> pl.LazyFrame:
    """Sum the magnitude columns per ``keys`` and household.

    Plain sums: they feed only the dominance statistics, which never leave
    the package (see :func:`fsum` for the published sums).
    """
    return hh.group_by([*keys, "hh_key"]).agg([pl.col(c).sum() for c in _cols(measures, magnitude_only=True)])


def regroup(agg: Agg, keys: Sequence[str], measures: Mapping[str, Measure]) -> Agg:
    """Pool to coarser ``keys`` (after a join of afdelinger to groups, or over all afdelinger)."""
    return Agg(regroup_sums(agg.sums, keys, measures), regroup_hh(agg.hh, keys, measures))


TopK = Literal["numpy", "polars"]


def cells(agg: Agg, keys: Sequence[str], measures: Mapping[str, Measure], *, rules: Rules,
          topk: TopK = "numpy") -> pl.LazyFrame:
    """Long cell table: ``keys`` + measure, n, value (+ magnitude statistics).

    ``agg`` must already be at the granularity of ``keys``. Only cells with at
    least one person counted are rows. Shares and means are s / n, sums are s.
    Magnitude measures carry ``units``, ``top1``, ``top2``, ``top_n``,
    ``abs_total`` for :func:`queries.disclosure.protect`; with ``topk="numpy"``
    they are computed eagerly by :func:`queries.dense.household_stats` (no
    top-k per group; the household table is collected once here), with
    ``"polars"`` by polars' top_k per group (the reference they are tested against).
    """
    keys = list(keys)
    mags = {name: (_k(name), _c(name)) for name, m in measures.items() if m.magnitude}
    fast = topk == "numpy"
    stats_of = household_stats(agg.hh.collect(), keys, mags, rules=rules) if fast and mags else {}
    wide = regroup_sums(agg.sums, keys, measures)
    parts = []
    for name, m in measures.items():
        n, s = pl.col(_k(name)), pl.col(_c(name))
        value = s if m.kind == "sum" else s / n
        part = (wide.filter(n > 0)
                .select(*keys, measure=pl.lit(name), n=n.cast(pl.Int64), value=value.cast(pl.Float64)))
        if m.magnitude:
            if fast:
                stats = stats_of[name].lazy()
            else:
                contrib = agg.hh.filter(pl.col(_k(name)) > 0).select(*keys, c=pl.col(_c(name)))
                stats = magnitude_stats(contrib, keys, value="c", rules=rules)
            part = part.join(stats, on=keys, how="left", nulls_equal=True)
        parts.append(part)
    return pl.concat(parts, how="diagonal_relaxed")
