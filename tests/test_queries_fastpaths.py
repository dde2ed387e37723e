"""The fast paths of the measures and of the linear audit agree with the plain implementations.

``household_columns_frame`` (dense counting) is checked by hand and against the group_by version
``add_household_columns``; the batched recoverability check of ``queries.disclosure`` against a
per-block SVD written here.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from queries.disclosure import _recoverable
from queries.household import add_household_columns, household_columns_frame


def _records(rows: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"person_id": pl.Int32, "year": pl.Int32, "household_id": pl.Int32,
                                                "age": pl.Int16})


def test_dense_household_counts_by_hand() -> None:
    # household 5: 35 (unknown status), 67, 15, 3; household 6: a student of 23; 8 and 9 have no household
    df = _records({"person_id": [1, 2, 3, 4, 5, 8, 9], "year": [2010] * 7,
                   "household_id": [5, 5, 5, 5, 6, None, None], "age": [35, 67, 15, 3, 23, 40, 41],
                   "socio_category": [None, "old_age_pension", "child", "child", "education", "employed",
                                      "unemployed"]})
    got = household_columns_frame(df).sort("person_id")
    assert got["hh_adults"].to_list() == [2, 2, 2, 2, 1, 1, 1]
    assert got["hh_children"].to_list() == [2, 2, 2, 2, 0, 0, 0]
    assert got["eq_scale"].to_list() == pytest.approx([2.3] * 4 + [1.0, 1.0, 1.0])
    assert got["hh_resource_strong"].to_list() == [None, False, False, False, True, True, False]


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_household_counts_match_group_by(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    hid = pl.Series(rng.integers(0, 800, n), dtype=pl.Int32).scatter(np.flatnonzero(rng.random(n) < 0.1), None)
    df = _records({"person_id": np.arange(n), "year": [2010] * n, "household_id": hid,
                   "age": rng.integers(0, 95, n),
                   "socio_category": pl.Series([["employed", "education", "unemployed", "child", None][i]
                                                for i in rng.integers(0, 5, n)], dtype=pl.String)})
    fast = household_columns_frame(df).sort("person_id")
    plain = add_household_columns(df.lazy()).collect().sort("person_id")
    assert fast.schema == plain.schema
    assert fast.equals(plain)


def _recoverable_per_block(sup, row, inst, is_total, block) -> np.ndarray:
    """The plain definition: per block, e_i in the row space of the relations restricted to hidden cells."""
    out = np.zeros(len(sup), dtype=bool)
    size = np.bincount(inst)
    for b in np.unique(block):
        sel = np.flatnonzero((block == b) & sup[row] & (size[inst] > 1))
        if not len(sel):
            continue
        cells, col = np.unique(row[sel], return_inverse=True)
        insts, r = np.unique(inst[sel], return_inverse=True)
        a = np.zeros((len(insts), len(cells)))
        np.add.at(a, (r, col), np.where(is_total[sel], 1.0, -1.0))
        for j, cell in enumerate(cells):
            e = np.zeros(len(cells))
            e[j] = 1.0
            x, *_ = np.linalg.lstsq(a.T, e, rcond=None)  # e_j = A^T x solvable <=> e_j in the row space
            out[cell] = np.allclose(a.T @ x, e, atol=1e-8)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_batched_recoverability_matches_per_block(seed: int) -> None:
    # random blocks of random relations (each a total and 2-4 parts among 8 cells), some cells hidden
    rng = np.random.default_rng(seed)
    rows, insts, totals, blocks = [], [], [], []
    n_cells, n_inst = 0, 0
    for b in range(40):
        cells = np.arange(n_cells, n_cells + 8)
        for _ in range(rng.integers(1, 5)):
            members = rng.choice(cells, size=rng.integers(3, 6), replace=False)
            rows += members.tolist()
            insts += [n_inst] * len(members)
            totals += [True] + [False] * (len(members) - 1)
            blocks += [b] * len(members)
            n_inst += 1
        n_cells += 8
    row, inst = np.array(rows), np.array(insts)
    is_total, block = np.array(totals), np.array(blocks)
    sup = rng.random(n_cells) < 0.4
    got = _recoverable(sup, row, inst, is_total, block)
    want = _recoverable_per_block(sup, row, inst, is_total, block)
    assert want.any() and not want.all()
    assert np.array_equal(got, want)
