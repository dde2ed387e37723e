"""Parallel trends by construction: without the effect, the registers ignore the tool labels.

The tool groups, TOOL_START and FLEX_SHARE are labels drawn for the study
afdelinger and read only by the planted effect. So with ``--effect 0`` every
register file must be the same whichever groups and tool years the afdelinger
get: group contrasts then differ only by which afdelinger drew which label
(idiosyncratic afdeling paths, mean zero), never by a trend tied to a group or
a cohort. A change to the dynamics that looks at the labels breaks this test.
"""

from __future__ import annotations

import hashlib

import polars as pl

from socialmix.synth import generate

PERSONS = 5000
SEED = 4


def _digest(reg) -> dict[str, str]:
    return {str(p.relative_to(reg)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(reg.rglob("*")) if p.is_file()}


def test_without_effect_registers_do_not_depend_on_groups_or_tool_years(tmp_path):
    base = tmp_path / "base"
    generate(base, persons=PERSONS, seed=SEED, effect=0.0)
    override = tmp_path / "labels.toml"
    # other group proportions (same total), later and differently weighted tool years
    override.write_text("[housing]\ngroup_counts = [35, 163, 69, 98]\n"
                        "tool_start_years = [2008, 2009, 2010, 2011, 2012, 2013]\n"
                        "tool_start_weights = [0.05, 0.10, 0.15, 0.20, 0.25, 0.25]\n")
    other = tmp_path / "other"
    generate(other, persons=PERSONS, seed=SEED, effect=0.0, config=override)
    a, b = _digest(base), _digest(other)
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k] != b[k]}
    assert differ <= {"lookup/afdeling.parquet", "truth.json"}, differ
    # the labels did change: other tool years and other group sizes for the same afdelinger
    la = pl.read_parquet(base / "lookup" / "afdeling.parquet")
    lb = pl.read_parquet(other / "lookup" / "afdeling.parquet")
    assert la["AFDELING_ID"].to_list() == lb["AFDELING_ID"].to_list()
    assert la["TOOL_START"].min() == 2006 and lb["TOOL_START"].min() >= 2008
    fleks = (pl.col("FLEKSIBEL") & ~pl.col("ANVISNING")).sum()
    assert la.select(fleks).item() != lb.select(fleks).item()
