"""The household tables of issue 18 in the flows release: compute (group level only), protect, write.

``family_households`` and ``family_cohorts`` (:mod:`queries.flows.families`) and ``displacement``
(:mod:`queries.flows.displacement`), each disclosure-controlled in
:mod:`queries.flows.families_release` and written beside the other flow tables. docs/flows.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from panel.progress import step
from queries.disclosure import Rules, write_released
from queries.flows.displacement import protect_displacement
from queries.flows.families import unit_relations
from queries.flows.families_release import protect_family_cohorts, protect_family_households


def write_household_tables(tabs: Mapping[str, Any], dest: Path, flags: pl.DataFrame | None, flow_cfg: dict, *,
                           rules: Rules) -> None:
    """Protect and write the household tables into ``dest`` (after ``retention``, whose cells they share)."""
    cfg = tabs["family_config"]
    with step("flows: household tables, disclosure control"):
        fh, fh_rep = protect_family_households(tabs["family_households"], cfg, list(flow_cfg["tenure"]["labels"]),
                                               rules=rules, dest=dest, relations=unit_relations())
        fc, fc_rep = protect_family_cohorts(tabs["family_cohorts"], cfg, rules=rules, relations=unit_relations())
        dp, dp_rep = protect_displacement(tabs["displacement"], flags, rules=rules)
    write_released(fh, dest / "family_households", fh_rep, rules=rules, null_columns=("n", "share", "rate"))
    write_released(fc, dest / "family_cohorts", fc_rep, rules=rules, null_columns=("n", "rate"))
    write_released(dp, dest / "displacement", dp_rep, rules=rules, null_columns=("n", "value", "share"))
