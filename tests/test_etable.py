"""analyses.etable on a hand-made estimates table; every expected cell is worked out by hand.

p-values are two-sided normal: b/se = 2.34 gives p = 2(1 - Φ(2.34)) = 2 × 0.009642 = 0.01928 (*);
5.0 gives 5.7e-7 (***); 0.5 gives 0.617 (none); 1.5 gives 0.134 (none); 2.5004 gives 0.0124 (*).
Shares are shown in percentage points (× 100, 2 decimals), incomes in kr (0 decimals).
"""

from __future__ import annotations

import polars as pl
import pytest

from analyses.etable import etable, p_value
from panel.errors import InputError

COLS = ["estimator", "measure", "population", "comparison", "term", "event_time", "estimate", "se", "ci_low",
        "ci_high", "n_units", "n_obs"]
ROWS = [
    ("twfe", "employment", "stock", "any_tool", "treat_post", None, 0.0234, 0.0100, 0.0, 0.05, 40, 800),
    ("att_gt", "employment", "stock", "any_tool", "simple", None, -0.05, 0.01, -0.07, -0.03, 40, 800),
    ("twfe", "employment", "stock", "anvisning_only", "treat_post", None, 0.001, 0.002, -0.003, 0.005, 20, 400),
    ("twfe", "income", "stock", "any_tool", "treat_post", None, 1500.0, 1000.0, -500.0, 3500.0, 38, 760),
    ("att_gt", "income", "stock", "any_tool", "simple", None, 2500.4, 1000.0, 500.0, 4500.0, 38, 760),
    # not headline rows: an event-study coefficient, a C-S cell ATT, another population
    ("event_study", "employment", "stock", "any_tool", "event", 1, 0.9, 0.1, 0.7, 1.1, 40, 800),
    ("att_gt", "employment", "stock", "any_tool", "cell", None, 0.9, 0.1, 0.7, 1.1, 40, 800),
    ("twfe", "employment", "in", "any_tool", "treat_post", None, 0.9, 0.1, 0.7, 1.1, 40, 300),
]
EST = pl.DataFrame(ROWS, schema=COLS, orient="row")

EXPECTED_MD = """\
|  | (1) | (2) |
|:---|---:|---:|
|  | Allocation and/or flexible letting vs neither | Municipal allocation only vs neither |
| **Employment** |  |  |
| TWFE | 2.34* | 0.10 |
|  | (1.00) | (0.20) |
| Callaway-Sant'Anna | -5.00*** |  |
|  | (1.00) |  |
| Clusters (afdelinger) | 40 | 20 |
| Observations | 800 | 400 |
| **Household disposable income** |  |  |
| TWFE | 1,500 |  |
|  | (1,000) |  |
| Callaway-Sant'Anna | 2,500* |  |
|  | (1,000) |  |
| Clusters (afdelinger) | 38 |  |
| Observations | 760 |  |

Standard errors clustered by afdeling in parentheses. Significance levels: * p < 0.05, ** p < 0.01, \
*** p < 0.001 (two-sided, normal approximation).
Effects on shares in percentage points; effects on incomes in kr. (2013 prices).
Population: residents.
"""


def test_markdown_matches_the_hand_worked_table() -> None:
    assert etable(EST) == EXPECTED_MD


def test_p_values_instead_of_stars_and_danish_numbers() -> None:
    lines = etable(EST, pvalues=True, lang="da", measures=["employment"]).splitlines()
    assert lines[4] == "| TWFE | 2,34 | 0,10 |"
    assert lines[5] == "|  | (1,00) | (0,20) |"
    assert lines[6] == "|  | [0,019] | [0,617] |"
    assert p_value(0.0234, 0.01) == pytest.approx(0.01928, abs=1e-5)


def test_latex_and_html() -> None:
    tex = etable(EST, fmt="tex", measures=["employment"])
    assert r"\begin{tabular}{lcc}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"TWFE & 2.34$^{*}$ & 0.10 \\" in tex
    assert r"Callaway-Sant'Anna & -5.00$^{***}$ &  \\" in tex
    assert r"\multicolumn{3}{l}{\textit{Employment}} \\" in tex
    page = etable(EST, fmt="html", measures=["income"])
    assert '<tr class="coef"><td>Callaway-Sant&#x27;Anna</td><td>2,500*</td></tr>' in page
    assert '<tr class="stat"><td>Observations</td><td>760</td></tr>' in page
    assert page.count("<th>") == 4  # only the comparison income has estimates for: (1) and its name


def test_unknown_population_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="no headline estimates for population 'out'"):
        etable(EST, population="out")
