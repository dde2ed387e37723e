"""reconciliation.json: every person-year read, written or left out, with the reason.

Layout (documented in docs/panel.md)::

    {"panel_years": [Y1, Y2], "base_year": Y1-1,
     "years": {"YYYY": {"role": "panel" | "base",
                        "person_years": {"read": n, "written": n},
                        "registers": {"bef": {"read", "written"},
                                      "udda" | "ind" | "akm": {"read", "matched", "orphans"}},
                        "left_out": {"no_udda_row": n, ...},
                        "unknown_codes_mapped": {"akm.SOCIO13": n, ...},
                        "moves": {"internal": n, ...}}},
     "totals": {...}}

Counts only: no identifier value can reach this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from panel.errors import SocialmixError
from panel.schema import MOVE_KINDS

LEFT_OUT_REASONS = {
    "no_udda_row": "BEF person-year without a UDDA row: education unknown",
    "hfaudd_missing": "UDDA row with HFAUDD null (or an unknown code mapped to unknown): education unknown",
    "education_unknown": "person-years with unknown education (left out of the education measure)",
    "no_akm_row": "BEF person-year without an AKM row: labour-market status unknown",
    "socio_unknown_code": "AKM row with code 0/999 (or an unknown code mapped to unknown)",
    "socio_unknown": "person-years with unknown labour-market status",
    "no_ind_row": "BEF person-year without an IND row: contributes 0 kr to the household income",
    "income_missing_in_ind": "IND row with DISPON_NY null: contributes 0 kr",
    "no_address": "BEF person-year with ADRESSE_ID null (no fixed address): not in public housing",
    "address_outside_lookup": "ADRESSE_ID not in lookup/afdeling_address: not in public housing",
    "in_public_housing": "person-years at an afdeling address (not left out; for reference)",
    "in_study_afdeling": "person-years in an afdeling with a HELHEDSPLAN_ID (not left out; for reference)",
    "birth_date_unknown": "FOED_DAG null: age unknown",
    "origin_unknown": "IE_TYPE null: non-Western origin unknown",
    "adult_labour_status_unknown": "adults whose labour-force status is unknown (left out of education/employment)",
}


def year_entry(year: int, role: str, counts: dict[str, Any], left_out: dict[str, int], written: int,
               moves: dict[str, int] | None) -> dict[str, Any]:
    """The reconciliation of one year; fails if a BEF person-year was lost or duplicated."""
    read = counts["bef"]["read"]
    if written != read:
        raise SocialmixError(f"internal: year {year} read {read} BEF person-years but wrote {written}")
    regs: dict[str, Any] = {"bef": {"read": read, "written": written}}
    for r in ("udda", "ind", "akm"):
        c = counts[r]
        regs[r] = {"read": c["read"], "matched": c["read"] - c["orphans"], "orphans": c["orphans"]}
    entry: dict[str, Any] = {
        "role": role,
        "person_years": {"read": read, "written": written},
        "registers": regs,
        "left_out": left_out,
        "unknown_codes_mapped": dict(sorted(counts["unknown_codes_mapped"].items())),
    }
    if moves is not None:
        entry["moves"] = {k: int(moves.get(k, 0)) for k in MOVE_KINDS}
    return entry


def reconciliation(years: tuple[int, int], entries: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Assemble the whole file from the per-year entries."""
    y1, y2 = years
    panel = [e for y, e in entries.items() if y1 <= y <= y2]
    totals = {
        "person_years_read": sum(e["person_years"]["read"] for e in entries.values()),
        "person_years_written": sum(e["person_years"]["written"] for e in entries.values()),
        "panel_person_years": sum(e["person_years"]["written"] for e in panel),
        "orphans": {r: sum(e["registers"][r]["orphans"] for e in entries.values()) for r in ("udda", "ind", "akm")},
        "unknown_codes_mapped": sum(sum(e["unknown_codes_mapped"].values()) for e in entries.values()),
        "moves": {k: sum(e.get("moves", {}).get(k, 0) for e in panel) for k in MOVE_KINDS},
    }
    return {
        "panel_years": [y1, y2],
        "base_year": y1 - 1,
        "years": {str(y): entries[y] for y in sorted(entries)},
        "totals": totals,
        "reasons": LEFT_OUT_REASONS,
    }


def write_reconciliation(path: Path, rec: dict[str, Any]) -> None:
    path.write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
