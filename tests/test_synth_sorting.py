"""Residential sorting of the synthetic registers: afdelinger differ as Danish estates do.

Each afdeling has a persistent reputation that, times the household's
disadvantage score, tilts who moves in (socialmix.synth.housing). Checked
directly on the register files at 120k persons against the realistic shape
of the afdeling distribution of non-Western shares (docs/synthetic.md:
median about 20 %, a long right tail with estates above 50 %), and against
the same registers generated without the reputation, which must be far more
alike (the measured whole-population "before": 99th percentile 40 %).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from synth_fixture import EFFECT, MID_PERSONS, person_year, registers

from socialmix.synth import generate

pytestmark = pytest.mark.slow


def shares(reg, year: int) -> np.ndarray:
    d = person_year(reg, year).filter(pl.col("AFDELING_ID").is_not_null())
    return d.group_by("AFDELING_ID").agg(pl.col("non_western").mean())["non_western"].to_numpy()


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    """The same delivery with the reputation switched off (every afdeling alike but for its tier)."""
    tmp = tmp_path_factory.mktemp("flat")
    override = tmp / "flat.toml"
    override.write_text("[housing]\nreputation_effect = 0.0\n")
    generate(tmp / "reg", persons=MID_PERSONS, seed=5, effect=EFFECT, config=override)
    return tmp / "reg"


def test_afdeling_non_western_distribution_has_a_long_right_tail():
    s = shares(registers(MID_PERSONS, 5, EFFECT), 2013)
    q50, q90, q99 = np.quantile(s, [0.5, 0.9, 0.99])
    assert 0.10 <= q50 <= 0.25
    assert q90 >= 0.30
    assert q99 >= 0.50 and (s > 0.5).sum() >= 3
    # skewed to the right: the tail above the median is longer than the part below it
    assert q90 - q50 > q50 - np.quantile(s, 0.1)


def test_reputation_makes_afdelinger_differ(flat):
    with_rep = shares(registers(MID_PERSONS, 5, EFFECT), 2013)
    without = shares(flat, 2013)
    # at 120k most afdelinger are small study afdelinger (damped reputation) and binomial noise is large:
    # measured std 0.132 vs 0.106, 99th percentile 0.55 vs 0.45, seed 5
    assert np.std(with_rep) > 1.15 * np.std(without)
    assert np.quantile(with_rep, 0.99) > np.quantile(without, 0.99) + 0.05
    assert (with_rep > 0.5).sum() > (without > 0.5).sum()


def test_sorting_keeps_afdelinger_near_capacity():
    """The reputation changes who moves in, not how many: occupancy spread as without it."""
    reg = registers(MID_PERSONS, 5, EFFECT)
    d = person_year(reg, 2013).filter(pl.col("AFDELING_ID").is_not_null())
    n = d.group_by("AFDELING_ID").len()
    n_addr = pl.read_parquet(reg / "lookup" / "afdeling_address.parquet").group_by("AFDELING_ID").len()
    ratio = n.join(n_addr, on="AFDELING_ID", suffix="_addr").select(pl.col("len") / pl.col("len_addr"))
    r = ratio.to_series().to_numpy()
    assert 1.5 <= np.median(r) <= 2.5  # persons_per_address = 2
    assert np.quantile(r, 0.95) < 2 * np.median(r)
