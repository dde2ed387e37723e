"""Compress person-level rows to sufficient statistics per fixed-effect cell.

A person-year regression whose regressors vary only by (unit, time, regressor
pattern, cluster) is fully described by each cell's count, sum of y and sum
of y²: the weighted regression of cell means on the cells (weights = counts)
has the same coefficients, bread and cluster scores as the person-level one
(see :mod:`analyses.did.fe`). Tens of millions of person-years become at most
units × years × patterns rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from panel.errors import InputError
from queries.aggregate import fsum

FAST_CELLS = 1 << 22  # largest dense code range the numpy path allocates (4M cells)


def compress(
    data: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    keys: Sequence[str],
) -> pl.DataFrame:
    """Cells of ``keys`` with ``n`` (rows), ``sy`` (sum of y), ``syy`` (sum of y²) and ``y`` (mean).

    Rows with a null outcome are left out (as a regression would). Booleans
    in the outcome count as 0/1.

    Examples
    --------
    >>> df = pl.DataFrame({"u": [1, 1, 2], "t": [0, 0, 0], "y": [1.0, 3.0, 5.0]})
    >>> compress(df, outcome="y", keys=["u", "t"]).sort("u").get_column("y").to_list()
    [2.0, 5.0]
    """
    lf = data.lazy()
    schema = lf.collect_schema()
    missing = [c for c in [outcome, *keys] if c not in schema.names()]
    if missing:
        raise InputError(f"compress: column(s) not found: {', '.join(missing)}", column=missing[0])
    if isinstance(data, pl.DataFrame) and all(schema[k].is_integer() or schema[k] == pl.Boolean for k in keys):
        fast = _compress_dense(data, outcome=outcome, keys=list(keys))
        if fast is not None:
            return fast
    yv = pl.col(outcome).cast(pl.Float64)
    return (
        lf.filter(yv.is_not_null() & yv.is_not_nan())
        .group_by(list(keys))
        .agg(pl.len().alias("n"), fsum(yv).alias("sy"), fsum(yv * yv).alias("syy"))  # (the same every run)
        .with_columns((pl.col("sy") / pl.col("n")).alias("y"))
        .sort(list(keys))
        .collect()
    )


def compress_codes(y: np.ndarray, *key_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """numpy fast path: cells of small non-negative integer keys via one ``bincount`` each.

    Returns (cell index of each kept cell, n, sy, syy); decode the cell
    index with ``np.unravel_index(cell, dims)`` where dims are the key sizes.
    """
    dims = [int(c.max()) + 1 for c in key_codes]
    flat = np.ravel_multi_index(key_codes, dims)
    size = int(np.prod(dims))
    n = np.bincount(flat, minlength=size)
    sy = np.bincount(flat, weights=y, minlength=size)
    syy = np.bincount(flat, weights=y * y, minlength=size)
    cell = np.nonzero(n)[0]
    return cell, n[cell].astype(float), sy[cell], syy[cell]


def _compress_dense(df: pl.DataFrame, *, outcome: str, keys: list[str]) -> pl.DataFrame | None:
    """Integer keys: combine them into one dense code and ``bincount`` (no sort, no hash).

    A key that does not fit the code range is checked for being constant within
    the cells of the keys so far (e.g. the cluster of a unit) and then carried as
    a per-cell value instead; otherwise None (the caller falls back to polars).
    """
    if df.select(pl.any_horizontal(pl.col(keys).is_null()).any()).item():
        return None
    yv = df.get_column(outcome)
    y = yv.cast(pl.Float64).to_numpy()
    bad = np.isnan(y)
    if bad.any():
        y = np.where(bad, 0.0, y)
    code = np.zeros(len(y), dtype=np.int64)
    size = 1
    parts: list[tuple[str, int, int]] = []  # (key, offset, range) in the code, most significant first
    carried: list[tuple[str, int, np.ndarray]] = []  # (key, len(parts) when tested, value per prefix code)
    for k in keys:
        a = df.get_column(k).to_numpy()
        lo, hi = int(a.min()), int(a.max())
        r = hi - lo + 1
        if size * r > FAST_CELLS:
            if size == 1:
                return None
            first = np.zeros(size, dtype=np.int64)
            first[code] = a
            if not np.array_equal(first[code], a):  # not constant within the cells so far
                return None
            carried.append((k, len(parts), first))
            continue
        code *= r
        code += a
        code -= lo
        size *= r
        parts.append((k, lo, r))
    w = None if not bad.any() else (~bad).astype(float)
    n = np.bincount(code, weights=w, minlength=size)
    cell = np.nonzero(n)[0]
    sy = np.bincount(code, weights=y, minlength=size)[cell]
    syy = np.bincount(code, weights=y * y, minlength=size)[cell]
    cols: dict[str, np.ndarray] = {}
    rest = cell.copy()
    for k, lo, r in reversed(parts):
        cols[k] = rest % r + lo
        rest //= r
    for k, n_before, first in carried:
        prefix = np.zeros(len(cell), dtype=np.int64)
        for kk, lo, r in parts[:n_before]:
            prefix = prefix * r + (cols[kk] - lo)
        cols[k] = first[prefix]
    nn = np.rint(n[cell]).astype(np.int64)
    return pl.DataFrame({k: pl.Series(k, cols[k]).cast(df.schema[k]) for k in keys}).with_columns(
        pl.Series("n", nn, dtype=pl.UInt32), pl.Series("sy", sy), pl.Series("syy", syy), pl.Series("y", sy / nn))
