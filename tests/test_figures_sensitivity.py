"""The HonestDiD figure draws the released intervals (in percentage points for shares), original at x = 0."""

from __future__ import annotations

import numpy as np
import polars as pl

from analyses.figures.sensitivity import sensitivity_figure
from analyses.figures.style import load_style


def test_intervals_are_the_released_ones():
    sens = pl.DataFrame({
        "estimator": ["event_study"] * 3, "measure": ["employment"] * 3, "population": ["stock"] * 3,
        "comparison": ["fleksibel_only"] * 3, "event_time": [0] * 3, "method": ["smoothness"] * 3,
        "m": [0.0, 0.01, 0.02], "ci_low": [-0.01, -0.02, -0.04], "ci_high": [0.03, 0.04, 0.06],
        "original_low": [0.001] * 3, "original_high": [0.02] * 3, "breakdown": [0.0] * 3})
    fig = sensitivity_figure(sens, measure="employment", population="stock", method="smoothness", kind="share",
                             style=load_style(), lang="en")
    ax = fig.axes[0]
    robust = next(c for c in ax.collections if c.get_gid() == "robust")
    segs = np.array(robust.get_segments())
    assert segs[:, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert np.allclose(segs[:, 0, 1], [-1.0, -2.0, -4.0]) and np.allclose(segs[:, 1, 1], [3.0, 4.0, 6.0])
    original = np.array(next(c for c in ax.collections if c.get_gid() == "original").get_segments())
    assert np.allclose(original[0], [[0.0, 0.1], [0.0, 2.0]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["original", "0", "0.01", "0.02"]
