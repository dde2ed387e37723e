"""Municipality size classes: one definition for every table and estimator that groups municipalities.

A municipality's class is its number of residents in the first panel year (every person-year with that
``kom``), counted against ascending bounds: class 0 below the first bound, class k from bound k on.
Baseline only, so no class can be moved by a letting tool. Used by the segregation summaries per
municipality type (:mod:`queries.segregation_change`) and the DiD covariate ``kom_size_class``.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from panel.errors import InputError


def size_class(residents: pl.Expr, bounds: Sequence[int]) -> pl.Expr:
    """Class 0..len(bounds) of a residents count (null counts as 0).

    Examples
    --------
    >>> pl.DataFrame({"n": [5, 20, 99]}).select(size_class(pl.col("n"), [20, 50]))["n"].to_list()
    [0, 1, 2]
    """
    b = list(bounds)
    if any(x >= y for x, y in zip(b, b[1:], strict=False)):
        raise InputError(f"municipality size bounds must increase, got {b}", column="kom_size_bounds")
    return pl.sum_horizontal([(residents.fill_null(0) >= x).cast(pl.Int32) for x in b])


def class_labels(bounds: Sequence[int]) -> list[str]:
    """Stable labels of the classes: ``lt20000``, ``20000_49999``, ..., ``ge100000``.

    Examples
    --------
    >>> class_labels([20000, 50000])
    ['lt20000', '20000_49999', 'ge50000']
    """
    b = list(bounds)
    if not b:
        return ["all"]
    return [f"lt{b[0]}", *(f"{lo}_{hi - 1}" for lo, hi in zip(b, b[1:], strict=False)), f"ge{b[-1]}"]


def municipality_classes(panel: pl.LazyFrame, bounds: Sequence[int]) -> pl.DataFrame:
    """``kom``, ``residents`` (first panel year), ``kom_class`` (int) and ``kom_type`` (its label)."""
    y1 = panel.select(pl.col("year").min()).collect().item()
    labels = class_labels(bounds)
    counts = (panel.filter((pl.col("year") == y1) & pl.col("kom").is_not_null())
              .group_by("kom").agg(residents=pl.len().cast(pl.Int64)).collect())
    return (counts.with_columns(kom_class=size_class(pl.col("residents"), bounds))
            .with_columns(kom_type=pl.col("kom_class").replace_strict(dict(enumerate(labels)),
                                                                      return_dtype=pl.String))
            .sort("kom"))
