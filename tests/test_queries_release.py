"""``run_measures`` end to end on the hand-written fixture: files, suppression, attack, identifiers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from test_disclosure_protect import recovered_cells
from test_queries_fixture import write_out

from panel.schema import scan_afdelinger
from queries.cells import compute_cells
from queries.disclosure import FORBIDDEN_COLUMNS, load_rules
from queries.release import KEY, release_relations
from queries.run import run_measures

FILES = {"measures", "comparison", "municipal_gap"}


def run_low(out: Path, min_cell: int | None) -> None:
    """run_measures at a person threshold below the dst floor (allowed in the library, stamped), no class rule.

    The command line refuses this (``--min-cell`` may only raise the floor); the tests use small thresholds
    to see the relations of the tiny fixture at work, so also without lockstep and the interval audit (which
    on this fixture withhold nearly every afdeling block; they have their own tests, test_release_audit.py).
    """
    if min_cell is None:
        run_measures(out)
    else:
        run_measures(out, rules=replace(load_rules("dst", min_cell=min_cell), class_min_n=0, lockstep=False,
                                        audit=False, reason="test"))


def reasons(out: Path) -> pl.DataFrame:
    """The internal report (the rule behind each withheld cell)."""
    return pl.read_csv(out / "measures" / "internal" / "disclosure_reasons.csv")


def _published(dest: Path) -> pl.DataFrame:
    """The release as an attacker sees it: every published cell of the three tables, in one frame."""
    m = pl.read_parquet(dest / "measures.parquet")
    c = pl.read_parquet(dest / "comparison.parquet").rename({"series": "unit"}).with_columns(
        level=pl.lit("comparison"))
    g = pl.read_parquet(dest / "municipal_gap.parquet")
    k = (g.select(unit="kom", year="year", measure="measure", n="kom_n", suppressed="suppressed")
         .filter(pl.col("n").is_not_null()).unique(["unit", "year", "measure"])
         .with_columns(level=pl.lit("kom"), population=pl.lit("stock"), value=pl.lit(None, pl.Float64)))
    cols = [*KEY, "n", "suppressed"]
    return pl.concat([m.select(cols), c.select(cols), k.select(cols)])


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_out(tmp_path_factory.mktemp("rel") / "out")


@pytest.mark.parametrize("min_cell", [1, 2, 3, None])
def test_release_holds_no_small_cell_and_resists_subtraction(out: Path, min_cell: int | None) -> None:
    run_low(out, min_cell)
    dest = out / "measures"
    assert FILES <= {p.stem for p in dest.glob("*.parquet")}
    threshold = min_cell or 5
    m = pl.read_parquet(dest / "measures.parquet")
    stamp = ["below_disclosure_floor"] if threshold < 5 else []  # below the profile's floor: every table stamped
    assert m.columns == ["level", "unit", "year", "population", "measure", "n", "value", "suppressed", *stamp]
    if stamp:
        assert m["below_disclosure_floor"].all()
    assert m.filter(~pl.col("suppressed") & (pl.col("n") < threshold)).height == 0
    assert m.filter(pl.col("suppressed") & (pl.col("n").is_not_null() | pl.col("value").is_not_null())).height == 0
    # non-study afdeling D is never published at afdeling level
    assert "D" not in m.filter(level="afdeling")["unit"].to_list()
    # the attack: every additive relation of the release, against the published files
    afd = scan_afdelinger(out).collect()
    released = _published(dest)
    truth = compute_cells(out, rules=load_rules("dst")).select(*KEY, "n")
    rels = release_relations(afd, sorted(released.filter(level="kom")["unit"].unique().to_list()))
    assert recovered_cells(released, truth, KEY, rels) == set()
    # every suppressed published cell has a report row, every report row names a rule
    report = reasons(out).filter(pl.col("table") != "audit")  # the audit's summary rows name no cell
    assert set(report["rule"]) <= {"primary", "dominance", "p_ratio", "complementary", "inherited"}
    assert report.filter(pl.col("table") == "measures").height == m["suppressed"].sum()
    public = pl.read_csv(dest / "disclosure_report.csv")  # the public file: the same cells, never why
    assert public["cell"].to_list() == report["cell"].to_list() and set(public["rule"]) <= {"withheld"}


def test_published_values_equal_the_unprotected_cells(out: Path) -> None:
    run_low(out, 1)
    m = pl.read_parquet(out / "measures" / "measures.parquet").filter(~pl.col("suppressed"))
    truth = compute_cells(out, rules=load_rules("dst"))
    joined = m.join(truth, on=KEY, suffix="_true")
    assert joined.height == m.height > 0
    assert (joined["n"] == joined["n_true"]).all()
    assert ((joined["value"] - joined["value_true"]).abs() < 1e-9).all()
    # in A 2010 stock with min_cell 1 the shares are published, the income mean (2 households) is not
    a = pl.read_parquet(out / "measures" / "measures.parquet").filter(level="afdeling", unit="A", year=2010,
                                                                          population="stock")
    sup = dict(a.select("measure", "suppressed").iter_rows())
    assert sup["non_western"] is False and sup["income"] is True


def test_every_cell_with_a_person_is_a_row(out: Path) -> None:
    run_measures(out)
    m = pl.read_parquet(out / "measures" / "measures.parquet")
    truth = compute_cells(out, rules=load_rules("dst")).filter(pl.col("level").is_in(["afdeling", "group"])
                                                              & (pl.col("unit") != "D"))
    assert m.height == truth.height
    assert m["year"].unique().sort().to_list() == [2010, 2011]


def test_profile_safe_suppresses_at_least_what_dst_does(out: Path) -> None:
    def primary(rep: pl.DataFrame) -> set[str]:
        return set(rep.filter((pl.col("table") == "measures") & (pl.col("rule") == "primary"))["cell"])

    def loose(profile: str) -> object:  # the thresholds alone (lockstep would withhold whole blocks)
        return replace(load_rules(profile), lockstep=False, audit=False, reason="test")

    run_measures(out, rules=loose("dst"))
    dst = pl.read_parquet(out / "measures" / "measures.parquet")
    dst_rep = reasons(out)
    run_measures(out, rules=loose("safe"))
    safe = pl.read_parquet(out / "measures" / "measures.parquet")
    safe_rep = reasons(out)
    assert primary(dst_rep) <= primary(safe_rep)
    # cells of 5-9 persons published under dst are all suppressed under safe (threshold 10)
    mid = dst.filter(~pl.col("suppressed") & pl.col("n").is_between(5, 9)).select(KEY)
    assert mid.height > 0
    assert safe.join(mid, on=KEY)["suppressed"].all()
    assert safe.filter(~pl.col("suppressed")).height == 0  # no measures cell of the fixture reaches 10
    assert "safe" in (out / "measures" / "disclosure_rules.txt").read_text()


def test_no_identifier_in_any_output(out: Path) -> None:
    run_low(out, 1)
    for f in (out / "measures").iterdir():
        if f.suffix == ".csv":
            df = pl.read_csv(f)
            assert not {c.lower() for c in df.columns} & FORBIDDEN_COLUMNS, f.name
            text = f.read_text()
            assert "person_id" not in text and "household" not in text.split("\n")[0]
    report = pl.read_csv(out / "measures" / "disclosure_report.csv")
    def keys(rows: pl.DataFrame) -> set[str]:
        return set(rows["cell"].str.extract_all(r"(\w+)=").explode().str.strip_suffix("=").drop_nulls())

    assert keys(report.filter(pl.col("table").is_in(list(FILES)))) <= {*KEY, "unit"}
    assert not {k.lower() for k in keys(report)} & FORBIDDEN_COLUMNS


def test_a_failed_run_keeps_the_earlier_release(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_low(out, 1)
    before = (out / "measures" / "measures.csv").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("queries.run.write_released", boom)
    with pytest.raises(RuntimeError):
        run_measures(out, min_cell=7)
    assert (out / "measures" / "measures.csv").read_bytes() == before


def test_one_year_without_base_or_moves(tmp_path: Path) -> None:
    from test_queries_fixture import Y2010

    out = write_out(tmp_path / "out", {2010: Y2010}, base={}, moves=[])
    run_low(out, 1)
    m = pl.read_parquet(out / "measures" / "measures.parquet")
    assert set(m["population"]) == {"stock"}
    assert m.filter(level="afdeling", unit="A", measure="non_western")["n"].item() == 5


def test_dominant_household_suppresses_the_income_cell(tmp_path: Path) -> None:
    # afdeling A, 2010: six adults in four households; household 1 (two adults) has 5 000 000 kr,
    # the others 100 000 each -> household contributions 10 000 000, 200 000, 100 000, 100 000:
    # top 2 = (10 000 000 + 200 000) / 10 400 000 = 98 % > 85 %.
    def adult(pid: int, hh: int, income: float) -> tuple:
        return (pid, "A", 40, False, "H30", True, "employed", True, True, income, hh, 101)

    rows = [adult(1, 1, 5e6), adult(2, 1, 5e6), adult(3, 2, 1e5), adult(4, 2, 1e5), adult(5, 3, 1e5),
            adult(6, 4, 1e5)]
    out = write_out(tmp_path / "out", {2010: rows}, base={}, moves=[])
    run_measures(out)
    m = pl.read_parquet(out / "measures" / "measures.parquet").filter(level="afdeling", unit="A")
    sup = dict(m.select("measure", "suppressed").iter_rows())
    # all six employed: a share of 1 in a cell of 6 < class_min_n 10 is withheld too (class disclosure)
    assert sup["income"] is True and sup["employment"] is True
    report = reasons(out)
    rule = report.filter((pl.col("table") == "measures")
                         & pl.col("cell").str.contains("unit=A; year=2010; population=stock; measure=income$"))
    assert rule["rule"].to_list() == ["dominance"]
    emp = report.filter((pl.col("table") == "measures") & pl.col("cell").str.contains("unit=A; year=2010; population=stock; measure=employment$"))
    assert emp["rule"].to_list() == ["primary"] and "class disclosure" in emp["detail"].item()
