"""Whole-year aggregates by counting into dense arrays indexed by household.

``household_id`` is a per-year surrogate (the smallest ``person_id`` of the
household), so it indexes a dense array directly: a per-household sum is one
``np.bincount`` over the persons instead of a hash group_by over millions of
households. Persons without a household get slots of their own after the
largest id, so every person has a *slot* and every slot is one household.

Used for the steps that touch every person of a year: the household
composition (:mod:`queries.household`) and the municipal and whole-population
cells with their dominance statistics (:mod:`queries.cells`). Each function
returns None when its precondition fails (a sparse id range), and the caller
falls back to the general group_by path.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import polars as pl

from queries.disclosure import Rules
from queries.registry import Measure

# ---- the layout both paths share: column names and integer packings, defined here once
# a household_id range up to this many times the rows (or 2^23) is counted in a dense array
DENSE_FACTOR = 4
# hh_key is in +-2^31; a block above that range packs (municipality, hh_key) or (cell, hh_key) into one
# Int64, so a group_by on a pair becomes a one-column group_by (about twice as fast)
KOM_HH_BLOCK = 1 << 34
CELL_HH_BLOCK = 1 << 33  # used with hh_key shifted to >= 0
CELL_SCHEMA = {"level": pl.String, "unit": pl.String, "year": pl.Int32, "population": pl.String,
               "measure": pl.String, "n": pl.Int64, "value": pl.Float64, "units": pl.Int64, "top1": pl.Float64,
               "top2": pl.Float64, "top_n": pl.Float64, "abs_total": pl.Float64}  # the long cells of queries.cells


def count_col(name: str) -> str:
    """The column of a measure's counted-person indicator (summed: the cell's n)."""
    return f"k|{name}"


def sum_col(name: str) -> str:
    """The column of a measure's contribution (summed: the cell's total)."""
    return f"c|{name}"


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc mallopt parameters


@contextlib.contextmanager
def reuse_heap() -> Iterator[None]:
    """While inside, freed large arrays stay in the process heap for reuse (glibc; a no-op elsewhere).

    At whole-population scale every numpy temporary (tens of MB) is above
    glibc's largest mmap threshold, so each is a fresh mmap whose pages the
    kernel zeroes on first touch: about a third of the CPU time of the
    measures went to these page faults. Here large blocks come from the heap
    and the heap is not trimmed; on exit the defaults are restored and the
    heap trimmed. Memory is only held, never shared, so results are unchanged.
    """
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc only)
        except (OSError, AttributeError):
            libc = None
    if libc is None or not (libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)):
        yield
        return
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, 65536)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def household_slots(records: pl.DataFrame) -> tuple[np.ndarray, int] | None:
    """(slot per person, number of slots), or None when ``household_id`` is too sparse for a dense array.

    The slot is the ``household_id``; a person without one gets a slot of
    their own after the largest id.

    Examples
    --------
    >>> df = pl.DataFrame({"household_id": [4, None, 4, None]}, schema={"household_id": pl.Int32})
    >>> slot, n = household_slots(df)
    >>> slot.tolist(), n
    ([4, 5, 4, 6], 7)
    """
    hid_s = records["household_id"]
    if records.height == 0:
        return None
    lo, hi = hid_s.min(), hid_s.max()
    n_null = hid_s.null_count()
    hi = -1 if hi is None else int(hi)
    if (lo is not None and lo < 0) or hi > max(DENSE_FACTOR * records.height, 1 << 23):
        return None
    if n_null == 0:
        return hid_s.to_numpy().astype(np.int64, copy=False), hi + 1
    own = hi + hid_s.is_null().cast(pl.Int64).cum_sum()
    slot = pl.select(pl.coalesce(hid_s.cast(pl.Int64), own)).to_series().to_numpy()
    return slot, hi + 1 + n_null


def kom_codes(kom: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per person, kom value per code with -1 for null): the municipality number itself, shifted to >= 0.

    Codes need not be dense (municipality numbers are small), so no lookup pass.
    """
    lo = min(int(kom.min()) if kom.null_count() < len(kom) else 0, -1)
    hi = int(kom.max()) if kom.null_count() < len(kom) else 0
    code = (kom.cast(pl.Int32).fill_null(-1) - lo).to_numpy()
    return code, np.arange(lo, hi + 1)


def float_sums(group: np.ndarray, frame: pl.DataFrame, columns: Sequence[str], n_groups: int) -> dict[str, np.ndarray]:
    """Per group, the sum of each float column, added in the frame's row order (so the same every run).

    A polars group_by adds a group's floats in whatever order its threads
    deliver them (see :func:`queries.aggregate.fsum`); ``np.bincount`` adds
    them row by row, and the records are read in file order.
    """
    return {c: np.bincount(group, weights=frame[c].to_numpy(), minlength=n_groups) for c in columns}


def few_group_top(group: np.ndarray, contrib: np.ndarray, n_groups: int, *,
                  rules: Rules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(units, absolute total, the largest absolute values largest first) per group, for few, large groups.

    For municipalities (one group: the population). The largest values of a
    group are at least the k-th largest of any subset of it, so a strided
    sample gives each group a threshold that keeps its top k and drops nearly
    everything else; the few candidates left are split by a stable sort and
    their tops found by ``np.partition``. Exact. :func:`stats_from_top` turns
    the result into the statistics of :func:`stats_by_group`.
    """
    a = np.abs(contrib)
    if n_groups == 1:  # group is all zeros: no passes over it
        units, abs_total = np.array([len(a)]), np.array([a.sum()])
    else:
        units = np.bincount(group, minlength=n_groups)
        abs_total = np.bincount(group, weights=a, minlength=n_groups)
    kmax = max(2, rules.dominance_n)
    stride = 64
    if n_groups > 1 and len(a) > 16 * stride * n_groups:
        threshold = _top_values(group[::stride], a[::stride], n_groups, kmax)[:, -1]  # 0: keep the group whole
        cand = np.flatnonzero(a >= threshold[group])
        group, a = group[cand], a[cand]
    return units, abs_total, _top_values(group, a, n_groups, kmax)


def stats_from_top(units: np.ndarray, abs_total: np.ndarray, top: np.ndarray, *, rules: Rules) -> dict[str, np.ndarray]:
    """The statistics of :func:`stats_by_group` from each group's largest values (a row per group)."""
    tops = {k: np.zeros(len(units)) for k in sorted({1, 2, rules.dominance_n})}
    for k in tops:
        for j in range(min(k, top.shape[1])):  # left to right, as a top-k sum
            tops[k] += top[:, j]
    return stats_from_sums(units, abs_total, tops, rules=rules)


def stats_from_sums(units: np.ndarray, abs_total: np.ndarray, tops: Mapping[int, np.ndarray], *,
                    rules: Rules) -> dict[str, np.ndarray]:
    """The dominance statistics from each group's sums of its k largest (``tops[k]``, k in 1, 2, dominance_n)."""
    return {"units": units, "top1": tops[1], "top2": tops[2] - tops[1], "top_n": tops[rules.dominance_n],
            "abs_total": abs_total}


def _top_values(group: np.ndarray, a: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(n_groups, k) array: each group's k largest values, largest first; 0 where a group has fewer (a >= 0)."""
    out = np.zeros((n_groups, k))
    if n_groups > 1:
        order = np.argsort(group, kind="stable")
        group, a = group[order], a[order]
        units = np.bincount(group, minlength=n_groups)
    else:
        units = np.array([len(a)])
    bounds = np.concatenate([[0], np.cumsum(units)])
    for g in np.flatnonzero(units):
        seg = a[bounds[g]:bounds[g + 1]]
        kk = min(k, len(seg))
        out[g, :kk] = np.sort(np.partition(seg, len(seg) - kk)[len(seg) - kk:])[::-1]
    return out


def dense_kom_applies(records: pl.DataFrame) -> tuple[np.ndarray, int] | None:
    """The household slots when the municipal cells can be counted densely (ids dense, codes >= 0), else None."""
    low = records["kom"].min() if records.height else None
    if low is not None and low < 0:
        return None
    return household_slots(records)


def kom_population_stats(ind: pl.DataFrame, slot: np.ndarray, n_slots: int, measures: Mapping[str, Measure],
                         *, rules: Rules) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Dominance statistics of the magnitude measures per municipality and for the whole population.

    Returns (``kom`` + ``measure`` + stats, ``measure`` + stats, ``kom`` +
    ``c|<measure>`` sums); municipality codes must be >= 0 (:func:`dense_kom_applies`). The sums
    are added in record order (as :func:`float_sums` does), so they are the
    same every run; the group_by of the other municipal sums leaves them out.

    A household is almost always in one
    municipality: its contribution is then one dense sum. Households spanning
    municipalities are summed per (municipality, household) on their few
    rows, exactly as the general path would.
    """
    code, kom_of_code = kom_codes(ind["kom"])
    n_kom = len(kom_of_code)
    home = np.full(n_slots, -1, dtype=np.int32)
    home[slot] = code  # some member's municipality; a household spanning two shows a mismatch
    split_person = home[slot] != code
    split = split_rows = None
    if split_person.any():
        split = np.zeros(n_slots, dtype=bool)
        split[slot[split_person]] = True
        split_rows = np.flatnonzero(split[slot])
    del split_person
    kom_parts, pop_parts = [], []
    floats = {"kom": pl.Series(kom_of_code).cast(pl.Int16).set(pl.Series(kom_of_code < 0), None)}
    for name, m in measures.items():
        if not m.magnitude:
            continue
        k = ind[count_col(name)].to_numpy()
        c = ind[sum_col(name)].to_numpy()
        floats[sum_col(name)] = pl.Series(np.bincount(code, weights=c, minlength=n_kom))
        counted = np.zeros(n_slots, dtype=bool)
        counted[slot[k]] = True  # (a plain scatter releases the GIL; np.maximum.at holds it)
        c_h = np.bincount(slot, weights=c, minlength=n_slots)
        whole = np.flatnonzero(counted)
        one = whole if split is None else whole[~split[whole]]
        units, abs_total, top = few_group_top(home[one], c_h[one], n_kom, rules=rules)
        # a household's largest contributions are among its municipality's largest: the population's
        # largest are among the municipalities' (plus, whole, the households spanning municipalities)
        pop_units, pop_abs, pop_top = units.sum(), abs_total.sum(), top.ravel()
        if split is not None:  # per (municipality, household) for the few households spanning municipalities
            pair = pl.DataFrame({"g": code[split_rows], "s": slot[split_rows], "k": k[split_rows],
                                 "c": c[split_rows]}).group_by("g", "s").agg(pl.col("k").any(), pl.col("c").sum())
            pair = pair.filter(pl.col("k"))
            p_units, p_abs, p_top = few_group_top(pair["g"].to_numpy(), pair["c"].to_numpy(), n_kom, rules=rules)
            units, abs_total = units + p_units, abs_total + p_abs
            top = -np.sort(-np.concatenate([top, p_top], axis=1), axis=1)[:, :top.shape[1]]
            spanning = c_h[whole[split[whole]]]
            pop_units += len(spanning)
            pop_abs += np.abs(spanning).sum()
            pop_top = np.concatenate([pop_top, np.abs(spanning)])
        kmax = top.shape[1]
        best = np.zeros((1, kmax))
        if len(pop_top):
            largest = -np.sort(-np.partition(pop_top, max(len(pop_top) - kmax, 0))[-kmax:])
            best[0, :len(largest)] = largest
        pop = stats_from_top(np.array([pop_units]), np.array([pop_abs]), best, rules=rules)
        pop_parts.append(pl.DataFrame({"measure": [name], **{s: v for s, v in pop.items()}}))
        st = stats_from_top(units, abs_total, top, rules=rules)
        keep = st["units"] > 0
        kom_parts.append(pl.DataFrame({"kom": kom_of_code[keep], "measure": name,
                                       **{s: v[keep] for s, v in st.items()}}))
    schema = {"units": pl.Int64, "top1": pl.Float64, "top2": pl.Float64, "top_n": pl.Float64,
              "abs_total": pl.Float64}
    kom = (pl.concat(kom_parts) if kom_parts else pl.DataFrame(schema={"kom": pl.Int64, "measure": pl.String}))
    kom = kom.with_columns(kom=pl.when(pl.col("kom") >= 0).then(pl.col("kom")).cast(pl.Int16))
    pop = pl.concat(pop_parts) if pop_parts else pl.DataFrame(schema={"measure": pl.String})
    return (kom.with_columns([pl.col(c).cast(t) for c, t in schema.items() if c in kom.columns]),
            pop.with_columns([pl.col(c).cast(t) for c, t in schema.items() if c in pop.columns]),
            pl.DataFrame(floats))


def long_cells(sums: pl.DataFrame, stats: pl.DataFrame | None, keys: Sequence[str],
               measures: Mapping[str, Measure]) -> pl.DataFrame:
    """Long cell table (``keys`` + measure, n, value + magnitude stats) from wide sums and long stats.

    The same rows as :func:`queries.aggregate.cells` when the statistics come
    from the same household contributions.
    """
    keys = list(keys)
    parts = []
    for name, m in measures.items():
        n, s = pl.col(count_col(name)), pl.col(sum_col(name))
        value = s if m.kind == "sum" else s / n
        parts.append(sums.lazy().filter(n > 0).select(*keys, measure=pl.lit(name), n=n.cast(pl.Int64),
                                                      value=value.cast(pl.Float64)))
    out = pl.concat(parts, how="vertical_relaxed")
    if stats is not None:
        out = out.join(stats.lazy(), on=[*keys, "measure"], how="left", nulls_equal=True)
    return out.collect()


def top_sums(group: np.ndarray, a: np.ndarray, n_groups: int, ks: Sequence[int]) -> dict[int, np.ndarray]:
    """Per group, the sum of its k largest values of ``a`` (>= 0) for each k in ``ks``, ties counted.

    Peels the largest remaining value of every group at once (``np.maximum.at``)
    max(ks) times: no sort. A group with fewer than k values sums them all.

    Examples
    --------
    >>> top_sums(np.array([0, 0, 0, 1]), np.array([5.0, 7.0, 7.0, 2.0]), 2, [1, 2, 3])[2].tolist()
    [14.0, 2.0]
    """
    kmax = max(ks)
    out = {k: np.zeros(n_groups) for k in ks}
    filled = np.zeros(n_groups, dtype=np.int64)
    v = a
    for it in range(kmax):
        m = np.full(n_groups, -np.inf)
        np.maximum.at(m, group, v)
        top = v == m[group]  # removed values (-inf) of an exhausted group also match; `has` drops them
        ties = np.bincount(group[top], minlength=n_groups)
        has = m > -np.inf
        level = np.where(has, m, 0.0)
        for k in ks:
            out[k] += np.minimum(ties, np.clip(k - filled, 0, None)) * level
        filled += np.where(has, ties, 0)
        if it + 1 < kmax:
            v = np.where(top, -np.inf, v)
    return out


def stats_by_group(group: np.ndarray, contrib: np.ndarray, n_groups: int, *, rules: Rules) -> dict[str, np.ndarray]:
    """:func:`queries.disclosure.magnitude_stats` for groups 0..n_groups-1 (``group`` per household row)."""
    a = np.abs(contrib)
    tops = top_sums(group, a, n_groups, sorted({1, 2, rules.dominance_n}))
    return stats_from_sums(np.bincount(group, minlength=n_groups), np.bincount(group, weights=a, minlength=n_groups),
                           tops, rules=rules)


def group_ids(df: pl.DataFrame, keys: Sequence[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """(distinct ``keys`` rows, the row of that table for every row of ``df``), by one group_by of row indices."""
    if not keys:
        return pl.DataFrame(), np.zeros(df.height, dtype=np.int64)
    groups = df.select(keys).with_row_index("_i").group_by(keys).agg(pl.col("_i"))
    gid = np.empty(df.height, dtype=np.int64)
    gid[groups["_i"].explode().to_numpy()] = np.repeat(np.arange(groups.height),
                                                       groups["_i"].list.len().to_numpy())
    return groups.drop("_i"), gid


def household_stats(hh: pl.DataFrame, keys: Sequence[str], columns: Mapping[str, tuple[str, str]], *,
                    rules: Rules) -> dict[str, pl.DataFrame]:
    """:func:`queries.disclosure.magnitude_stats` of several measures from one household table.

    ``hh`` has one row per cell (``keys``) and household; ``columns`` maps a
    measure to its (count, contribution) columns; a household counts for the
    measure where its count is > 0. The cells are numbered once for all
    measures (:func:`group_ids`), the statistics taken by :func:`stats_by_group`.
    """
    groups, gid = group_ids(hh, list(keys))
    n_groups = groups.height if keys else 1
    out = {}
    for name, (k_col, c_col) in columns.items():
        sel = (hh[k_col] > 0).to_numpy() & hh[c_col].is_not_null().to_numpy()
        st = stats_by_group(gid[sel], hh[c_col].to_numpy()[sel], n_groups, rules=rules)
        frame = groups if keys else pl.DataFrame({"_": [0]})
        frame = frame.with_columns(**{s: pl.Series(v) for s, v in st.items()}).cast({"units": pl.Int64})
        out[name] = frame.filter(pl.col("units") > 0).drop("_", strict=False)
    return out
