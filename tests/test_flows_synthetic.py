"""Flow tables on synthetic registers: exact sums, parity with measures.parquet, a second
implementation of the decomposition, and the disclosure invariants of the written release."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from panel.build import build
from panel.schema import scan_panel
from queries.disclosure import load_rules
from queries.flows import flow_tables
from queries.flows.decomposition import COMPONENTS
from queries.registry import registry
from queries.run import run_measures
from socialmix.synth import generate

pytestmark = pytest.mark.slow
TABLES = ("decomposition", "retention", "tenure", "destinations", "trajectories")
VALUES = ["change", *COMPONENTS]


@pytest.fixture(scope="module")
def synth_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flows_synth")
    generate(root / "reg", persons=20000, seed=1, effect=0)
    build(root / "reg", root / "out")
    run_measures(root / "out")
    return root / "out"


@pytest.fixture(scope="module")
def raw(synth_out: Path) -> dict[str, pl.DataFrame]:
    return flow_tables(synth_out)


def test_every_flow_table_is_written(synth_out: Path) -> None:
    d = synth_out / "measures"
    for t in TABLES:
        assert (d / f"{t}.parquet").exists() and (d / f"{t}.csv").exists(), t
    dec = pl.read_parquet(d / "decomposition.parquet")
    contract = ["level", "unit", "year", "measure", "change", *COMPONENTS, "suppressed"]
    assert dec.columns[: len(contract) - 1] == contract[:-1] and "suppressed" in dec.columns
    assert set(registry()) - {m for m in registry() if registry()[m].kind == "sum"} == set(dec["measure"])
    assert dec["year"].min() == scan_panel(synth_out).select(pl.col("year").min()).collect().item() + 1


def test_components_add_up_on_synthetic_data(raw: dict[str, pl.DataFrame]) -> None:
    dec = raw["decomposition"]
    scale = pl.max_horizontal(pl.lit(1.0), (pl.col("s_prev") / pl.col("n_prev")).abs())
    err = dec.select(((pl.sum_horizontal(COMPONENTS) - pl.col("change")).abs() / scale).max()).item()
    assert err < 1e-12


def test_change_is_the_change_in_measures(synth_out: Path) -> None:
    dec = pl.read_parquet(synth_out / "measures" / "decomposition.parquet")
    m = pl.read_parquet(synth_out / "measures" / "measures.parquet").filter(pl.col("population") == "stock")
    key = ["level", "unit", "year", "measure"]
    cur = m.select(*key, v_t="value", s_t="suppressed")
    prev = m.select(*key, v_p="value", s_p="suppressed").with_columns(pl.col("year") + 1)
    j = dec.join(cur, on=key, how="left").join(prev, on=key, how="left")
    published = j.filter(~pl.col("suppressed"))
    assert published.height > 0
    diff = (published["change"] - (published["v_t"] - published["v_p"])).abs() / (1 + published["v_p"].abs())
    assert diff.max() < 1e-12
    # a change whose stock cell (t or t-1) is suppressed is hidden with all its components
    # (the release is at group level, flow_level = "group": in this fixture no group stock cell may be hidden)
    hidden_stock = j.filter(pl.col("s_t").fill_null(True) | pl.col("s_p").fill_null(True))
    assert hidden_stock["suppressed"].all()
    assert hidden_stock.select(pl.all_horizontal([pl.col(c).is_null() for c in VALUES])).to_series().all()


def _brute_force(out: Path, measure: str, units: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    """The decomposition by plain Python over persons, straight from the definitions."""
    m = registry()[measure]
    rows = (scan_panel(out, include_base=True)
            .with_columns(pl.col("household_id").alias("hh"))
            .select("person_id", "year", "afdeling_id", "age", y=m.contribution())
            .collect())
    rec = {(r["person_id"], r["year"]): r for r in rows.iter_rows(named=True)}
    years = sorted({k[1] for k in rec})
    res: dict[tuple[str, int], dict[str, float]] = {}
    for unit in units:
        for t in years[2:]:
            prev = [r for (p, y), r in rec.items() if y == t - 1 and r["afdeling_id"] == unit]
            cur = [r for (p, y), r in rec.items() if y == t and r["afdeling_id"] == unit]
            mp = [r for r in prev if r["y"] is not None]
            mc = [r for r in cur if r["y"] is not None]
            if not mp or not mc:
                continue
            v_prev = sum(r["y"] for r in mp) / len(mp)
            n_t = len(mc)
            acc: dict[str, float] = defaultdict(float)
            for r in mp:  # persons of the t-1 stock: stayers, out-movers, exits
                nxt = rec.get((r["person_id"], t))
                if nxt is None:
                    acc["exits"] -= (r["y"] - v_prev) / n_t
                elif nxt["afdeling_id"] != unit:
                    acc["out_movers"] -= (r["y"] - v_prev) / n_t
                elif nxt["y"] is None:
                    acc["stayers"] -= (r["y"] - v_prev) / n_t
                else:
                    acc["stayers"] += (nxt["y"] - r["y"]) / n_t
            for r in mc:  # persons of the t stock who were not in it at t-1 with a value
                before = rec.get((r["person_id"], t - 1))
                if before is None:
                    acc["entries"] += (r["y"] - v_prev) / n_t
                elif before["afdeling_id"] != unit:
                    acc["in_movers"] += (r["y"] - v_prev) / n_t
                elif before["y"] is None:
                    acc["stayers"] += (r["y"] - v_prev) / n_t
            acc["change"] = sum(r["y"] for r in mc) / n_t - v_prev
            res[(unit, t)] = dict(acc)
    return res


@pytest.mark.parametrize("measure", ["employment", "income"])
def test_decomposition_matches_a_second_implementation(synth_out: Path, raw: dict[str, pl.DataFrame],
                                                       measure: str) -> None:
    dec = raw["decomposition"].filter((pl.col("level") == "afdeling") & (pl.col("measure") == measure))
    units = dec.group_by("unit").agg(pl.col("n_cur").sum()).sort("n_cur", descending=True)["unit"][:3].to_list()
    want = _brute_force(synth_out, measure, units)
    assert len(want) >= 3 * 7
    for (unit, year), parts in want.items():
        got = dec.filter((pl.col("unit") == unit) & (pl.col("year") == year)).row(0, named=True)
        for c in VALUES:
            assert got[c] == pytest.approx(parts.get(c, 0.0), rel=1e-9, abs=1e-9), (unit, year, c)


def test_release_is_protected(synth_out: Path) -> None:
    rules = load_rules("dst")
    d = synth_out / "measures"
    for t in ("retention", "tenure", "destinations", "trajectories"):
        df = pl.read_parquet(d / f"{t}.parquet")
        assert not {"person_id", "household_id", "hh", "hh_key"} & set(df.columns)
        assert df.filter(~pl.col("suppressed"))["n"].min() >= rules.min_persons, t
        assert df.filter(pl.col("suppressed"))["n"].null_count() == df["suppressed"].sum(), t
    dec = pl.read_parquet(d / "decomposition.parquet")
    shown = dec.filter(~pl.col("suppressed"))
    hidden = shown.select(pl.sum_horizontal([pl.col(c).is_null().cast(pl.Int32) for c in COMPONENTS])).to_series()
    # a published change never has exactly one hidden component (it would be change minus the rest)
    assert (hidden != 1).all()
    assert (hidden >= 2).any()
    # the components that are shown in a complete row add up to the change
    full = shown.filter(hidden == 0)  # at group level (flow_level = "group") possibly none in this fixture
    assert full.height == 0 or (full.select(pl.sum_horizontal(COMPONENTS) - pl.col("change")).to_series().abs()
            / (1 + full["change"].abs())).max() < 1e-9
    report = pl.read_csv(d / "disclosure_report.csv")
    assert set(TABLES) <= set(report["table"])
