"""`socialmix export`: only cleared material leaves, microdata and small cells are refused."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import polars as pl
import pytest

from panel.errors import DisclosureError
from panel.provenance import run_stage
from queries.disclosure_rules import load_rules, save_rules
from socialmix.cli import main
from socialmix.export import export

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_measures(out: Path, rows: list[tuple[str, int | None, float | None, bool]]) -> None:
    """A measures table in the contract's layout (unit, n, value, suppressed), written by hand."""
    (out / "measures").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        rows, schema={"unit": pl.String, "n": pl.Int64, "value": pl.Float64, "suppressed": pl.Boolean}, orient="row"
    ).with_columns(level=pl.lit("afdeling"), year=pl.lit(2010), population=pl.lit("stock"),
                   measure=pl.lit("employment")).write_csv(out / "measures" / "measures.csv")


STAGES = {"measures": ["measures/**"], "did": ["did/**"], "figures": ["figures/**"], "report": ["report.html"]}


def record(out: Path, *stages: str) -> None:
    """Record OUT's files in manifest.json as the stages would (the export ships only what a stage vouches for)."""
    for stage in stages or STAGES:
        run_stage(stage, out, lambda: None, inputs={}, outputs=STAGES[stage], config={}, command=["test"])


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A clean OUT: released tables, estimates, a figure, the report, and microdata that must stay."""
    o = tmp_path / "out"
    write_measures(o, [("A", 12, 0.5, False), ("B", None, None, True), ("C", 40, 0.25, False)])
    (o / "measures" / "measures.parquet").write_bytes(b"PAR1 not copied")
    (o / "measures" / "disclosure_report.csv").write_text("table,cell,rule,detail\nmeasures,B,primary,n<5\n")
    (o / "did").mkdir()
    (o / "did" / "estimates.csv").write_text(
        "estimator,measure,term,estimate,se,n_units,n_obs\ntwfe,employment,d,0.03,0.01,40,9000\n"
        "att_gt,employment,simple,,,,\n")
    (o / "did" / "summary.txt").write_text("free text is not exported\n")
    (o / "figures").mkdir()
    (o / "figures" / "fig_7_1.png").write_bytes(PNG)
    (o / "report.html").write_text("<html><body>report</body></html>")
    (o / "panel" / "year=2010").mkdir(parents=True)
    pl.DataFrame({"person_id": [1, 2], "age": [30, 40]}).write_parquet(o / "panel" / "year=2010" / "part-0.parquet")
    pl.DataFrame({"person_id": [1], "kind": ["between"]}).write_parquet(o / "moves.parquet")
    save_rules(load_rules("dst"), o / "measures")
    record(o)
    return o


RELEASED = ["did/estimates.csv", "figures/fig_7_1.png", "measures/disclosure_rules.txt", "measures/measures.csv",
            "report.html"]


def test_clean_out_is_exported_with_a_verifiable_manifest(out: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    export(out, bundle)
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert files == sorted([*RELEASED, "MANIFEST.txt", "manifest.json", "disclosure_summary.csv"])
    lines = (bundle / "MANIFEST.txt").read_text().splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines if not line.startswith("#"))
    assert listed == {**{rel: sha(out / rel) for rel in RELEASED}, "disclosure_summary.csv":
                      sha(bundle / "disclosure_summary.csv")}
    assert all((bundle / rel).read_bytes() == (out / rel).read_bytes() for rel in RELEASED)
    header = "\n".join(line for line in lines if line.startswith("#"))
    assert "profile dst" in header and "n >= 5" in header
    man = json.loads((bundle / "manifest.json").read_text())
    assert man["stages"]["export"]["outputs"]["report.html"]["sha256"] == sha(out / "report.html")
    assert man["stages"]["export"]["inputs"]["OUT"]["files"]["measures/measures.csv"]["rows"] == 3


def test_cli_export_leaves_a_bundle_the_checker_can_read(out: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert main(["export", str(out), str(tmp_path / "b")]) == 0
    finally:
        os.umask(old)
    b = tmp_path / "b"
    assert stat.S_IMODE(b.stat().st_mode) == 0o755  # the staging dir was private (0700)
    assert stat.S_IMODE((b / "MANIFEST.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((b / "manifest.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("columns", [
    {"person_id": [987654, 987655], "age": [31, 45]},
    {"PNR": ["0101701234", "0202702345"], "unit": ["A", "B"]},
    {"age": [31, 45], "sex": [1, 2], "hh_income_2013": [210000.0, 99000.0]},  # no identifier, still microdata
])
def test_planted_person_level_table_is_refused(out: Path, tmp_path: Path, columns: dict,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pl.DataFrame(columns).write_csv(out / "measures" / "people.csv")
    bundle = tmp_path / "bundle"
    with pytest.raises(DisclosureError) as err:
        export(out, bundle)
    msg = str(err.value)
    assert "measures/people.csv" in msg
    for values in columns.values():  # no value of the table reaches the message
        assert not any(str(v) in msg for v in values if len(str(v)) > 2)
    assert not bundle.exists()  # nothing written
    assert main(["export", str(out), str(bundle)]) == 2
    assert "measures/people.csv" in capsys.readouterr().err


def test_planted_small_cell_is_refused(out: Path, tmp_path: Path) -> None:
    write_measures(out, [("A", 12, 0.5, False), ("B", 3, 0.33, False), ("C", 40, 0.25, False)])
    record(out, "measures")
    with pytest.raises(DisclosureError, match=r"measures/measures.csv.*1 published rows below 5 persons"):
        export(out, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_threshold_comes_from_the_rules_the_measures_wrote(out: Path, tmp_path: Path) -> None:
    # n = 7 passes dst (5) but not the safe profile (10) written to OUT/measures/disclosure_rules.toml
    write_measures(out, [("A", 7, 0.5, False), ("C", 40, 0.25, False)])
    record(out, "measures")
    export(out, tmp_path / "ok")
    save_rules(load_rules("safe"), out / "measures")
    record(out, "measures")
    with pytest.raises(DisclosureError, match="below 10 persons"):
        export(out, tmp_path / "safe")


def test_unsuppressed_table_and_thin_estimate_and_denied_types_are_refused(out: Path, tmp_path: Path) -> None:
    (out / "measures" / "extra.csv").write_text("unit,n,value\nA,50,0.1\n")
    with pytest.raises(DisclosureError, match="extra.csv.*no 'suppressed' column"):
        export(out, tmp_path / "b1")
    (out / "measures" / "extra.csv").unlink()
    (out / "did" / "estimates.csv").write_text("estimator,estimate,n_units,n_obs\ntwfe,0.1,2,500\n")
    record(out, "did")
    with pytest.raises(DisclosureError, match="estimates.csv.*1 estimate rows.*clusters"):
        export(out, tmp_path / "b2")
    (out / "did" / "estimates.csv").write_text("estimator,estimate,n_units,n_obs\ntwfe,0.1,30,500\n")
    (out / "figures" / "fig_7_2.png").write_bytes(b"PAR1" + b"\x00" * 10)  # a data file named .png
    record(out, "did", "figures")
    with pytest.raises(DisclosureError, match="fig_7_2.png.*parquet"):
        export(out, tmp_path / "b3")


def test_size_cap(out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socialmix.export as ex

    real = ex.load_config

    def small(pkg: str, name: str, override=None):
        cfg = real(pkg, name, override)
        if name == "export.toml":
            cfg["max_bytes"][".html"] = 10
        return cfg

    monkeypatch.setattr(ex, "load_config", small)
    with pytest.raises(DisclosureError, match="report.html.*exceeds the 10-byte cap"):
        export(out, tmp_path / "b")


def test_re_export_replaces_an_earlier_bundle_whole(out: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    export(out, bundle)
    (out / "figures" / "fig_7_1.png").unlink()
    record(out, "figures")
    export(out, bundle)
    assert not (bundle / "figures").exists()
    assert "fig_7_1" not in (bundle / "MANIFEST.txt").read_text()
    other = tmp_path / "notabundle"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(Exception, match="not an earlier export bundle"):
        export(out, other)
    assert (other / "thesis.tex").exists()


def test_a_file_changed_after_its_stage_is_refused_by_name(out: Path, tmp_path: Path) -> None:
    # run_did(out, config=plan) outside the CLI used to leave the old manifest beside a new estimates.csv
    (out / "did" / "estimates.csv").write_text(
        "estimator,measure,term,estimate,se,n_units,n_obs\ntwfe,employment,d,0.05,0.01,40,9000\n")
    with pytest.raises(DisclosureError, match=r"did/estimates.csv: differs from what the did stage recorded"):
        export(out, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_skipped_files_are_listed_with_their_reason(out: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (out / "measures" / "notes.csv").write_text("unit,n,value,suppressed\nA,50,0.1,false\n")  # no stage wrote it
    (out / "figures" / "fig_7_2.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    record(out, "figures")
    (out / "measures" / "internal").mkdir()
    (out / "measures" / "internal" / "disclosure_reasons.csv").write_text("table,cell,rule,detail\n")
    bundle = tmp_path / "bundle"
    export(out, bundle)
    shipped = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert not {"measures/notes.csv", "figures/fig_7_2.svg", "measures/disclosure_report.csv"} & shipped
    assert not any("internal" in s for s in shipped)
    console = capsys.readouterr().out
    text = (bundle / "MANIFEST.txt").read_text()
    for line in ("skipped measures/notes.csv: no stage recorded it in manifest.json",
                 "skipped figures/fig_7_2.svg: SVG is blocked by default",
                 "skipped measures/disclosure_report.csv: summarised in disclosure_summary.csv",
                 "skipped measures/internal/disclosure_reasons.csv: internal disclosure reasons",
                 "skipped moves.parquet: microdata"):
        assert line in console and f"# {line}" in text, line
    export(out, tmp_path / "b2", allow_svg=True, full_report=True)
    assert (tmp_path / "b2" / "figures" / "fig_7_2.svg").is_file()
    assert (tmp_path / "b2" / "measures" / "disclosure_report.csv").is_file()


def test_the_disclosure_report_is_summarised_by_table(out: Path, tmp_path: Path) -> None:
    # fixture: measures.csv has A and C published, B withheld; the report has B's row
    export(out, tmp_path / "bundle")
    summary = pl.read_csv(tmp_path / "bundle" / "disclosure_summary.csv")
    row = summary.filter(pl.col("table") == "measures")
    assert (row["published"].item(), row["withheld"].item()) == (2, 1)
    assert row["report"].item() == "measures/disclosure_report.csv"


def test_tables_selects_and_figures_follow_their_source(out: Path, tmp_path: Path) -> None:
    (out / "figures" / "index.csv").write_text("file,figure,title,source,lang\n"
                                               "fig_7_1.png,fig_7_1,t,did/estimates.csv,en\n")
    record(out, "figures")
    export(out, tmp_path / "m", tables=["measures"])
    got = {p.relative_to(tmp_path / "m").as_posix() for p in (tmp_path / "m").rglob("*") if p.is_file()}
    assert got == {"measures/measures.csv", "measures/disclosure_rules.txt", "disclosure_summary.csv",
                   "MANIFEST.txt", "manifest.json"}
    export(out, tmp_path / "e", tables=["estimates", "report"])
    got = {p.relative_to(tmp_path / "e").as_posix() for p in (tmp_path / "e").rglob("*") if p.is_file()}
    assert {"did/estimates.csv", "figures/fig_7_1.png", "figures/index.csv", "report.html"} <= got
    assert "measures/measures.csv" not in got
    with pytest.raises(Exception, match="--tables: no released table nosuch"):
        export(out, tmp_path / "x", tables=["nosuch"])
    assert main(["export", str(out), str(tmp_path / "cli"), "--tables", "measures"]) == 0
    assert not (tmp_path / "cli" / "report.html").exists()


def test_bundle_has_no_absolute_path(out: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    assert main(["export", str(out), str(bundle)]) == 0
    for name in ("manifest.json", "MANIFEST.txt"):
        text = (bundle / name).read_text()
        assert str(tmp_path) not in text, name
    man = json.loads((bundle / "manifest.json").read_text())
    assert man["stages"]["export"]["inputs"]["OUT"]["path"] == "."


def test_a_stage_made_under_other_rules_is_refused(out: Path, tmp_path: Path) -> None:
    rules = "measures/disclosure_rules.toml"
    run_stage("did", out, lambda: None, inputs={"OUT": (out, [out / rules])}, outputs=["did/**"], config={},
              command=["test"])
    export(out, tmp_path / "ok")
    save_rules(load_rules("dst", min_cell=8), out / "measures")  # measures rerun with other rules
    record(out, "measures")
    with pytest.raises(DisclosureError, match="did stage ran under other disclosure rules"):
        export(out, tmp_path / "stale")


def test_tests_table_needs_enough_clusters_per_row(out: Path, tmp_path: Path) -> None:
    head = "test,measure,population,comparison,statistic,df,p_value,n_clusters_treated,n_clusters_control\n"
    (out / "did" / "tests.csv").write_text(head + "pretrend_f,employment,stock,any_tool,1.2,3,0.3,12,20\n"
                                           "pretrend_f,employment,in,both,,,,2,20\n")  # withheld: no statistic
    record(out, "did")
    export(out, tmp_path / "ok")
    assert (tmp_path / "ok" / "did" / "tests.csv").is_file()
    (out / "did" / "tests.csv").write_text(head + "pretrend_f,employment,in,both,0.8,3,0.5,2,20\n")
    record(out, "did")
    with pytest.raises(DisclosureError, match=r"did/tests.csv: 1 rows publish a result on fewer than 3 clusters"):
        export(out, tmp_path / "thin")
    (out / "did" / "tests.csv").write_text("test,statistic,p_value\npretrend_f,0.8,0.5\n")
    record(out, "did")
    with pytest.raises(DisclosureError, match="tests.csv: has results but none of the cluster columns"):
        export(out, tmp_path / "nocl")


def test_a_small_extreme_share_is_refused(out: Path, tmp_path: Path) -> None:
    write_measures(out, [("A", 12, 0.5, False), ("B", 6, 1.0, False), ("C", 40, 0.25, False)])
    record(out, "measures")
    with pytest.raises(DisclosureError, match="measures.csv.*1 published shares of 0 or 1 below 10 persons"):
        export(out, tmp_path / "bundle")


def test_no_rules_no_export(out: Path, tmp_path: Path) -> None:
    (out / "measures" / "disclosure_rules.toml").unlink()
    with pytest.raises(Exception, match="no disclosure rules for this OUT"):
        export(out, tmp_path / "bundle")
