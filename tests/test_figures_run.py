"""`socialmix figures` / `socialmix report` on a hand-written OUT: files, index, atomicity, report content."""

from __future__ import annotations

import base64
import csv
import re
from pathlib import Path

import polars as pl
import pytest

from analyses.figures import run as fr
from analyses.figures import run_figures
from analyses.report import build_report, write_report
from panel.errors import InputError

SECRET_AFDELING = "AFD-9931-SECRET"  # an afdeling-level unit: must never reach the report
SECRET_CELL = "unit=AFD-7777-SECRET"  # a disclosure-report cell: counted, never printed


def _write_out(out: Path, *, with_did: bool = True, with_flows: bool = True, with_income: bool = True) -> Path:
    (out / "measures").mkdir(parents=True)
    rows = []
    for g, base in (("any_tool", 0.5), ("anvisning_only", 0.45), ("fleksibel_only", 0.4), ("both", 0.42),
                    ("neither", 0.38)):
        for pop in ("stock", "in", "out"):
            for y in (2004, 2005, 2006):
                sup = g == "fleksibel_only" and pop == "in" and y == 2005
                rows.append(("group", g, y, pop, "education", None if sup else 50, None if sup else base, sup))
                if with_income:
                    rows.append(("group", g, y, pop, "income", None if sup else 50,
                                 None if sup else 161234.5 + 1000 * y - 2004000, sup))
    rows.append(("afdeling", SECRET_AFDELING, 2004, "stock", "education", 12, 0.9, False))
    pl.DataFrame(rows, orient="row", schema={
        "level": pl.String, "unit": pl.String, "year": pl.Int32, "population": pl.String, "measure": pl.String,
        "n": pl.Int64, "value": pl.Float64, "suppressed": pl.Boolean}).write_parquet(out / "measures/measures.parquet")
    pl.DataFrame({"table": ["measures", "measures", "measures"], "cell": [SECRET_CELL, "x", "y"],
                  "rule": ["primary", "primary", "complementary"], "detail": ["n<5", "n<5", ""]}
                 ).write_csv(out / "measures/disclosure_report.csv")
    if with_flows:
        pl.DataFrame({"level": ["group"] * 2, "unit": ["any_tool"] * 2, "year": [2005, 2006],
                      "measure": ["education"] * 2, "change": [0.02, 0.01], "stayers": [0.01, 0.0],
                      "in_movers": [0.02, 0.01], "out_movers": [-0.01, 0.0], "entries": [0.0, 0.0],
                      "exits": [0.0, 0.0], "suppressed": [False, False]}).write_parquet(out / "measures/decomposition.parquet")
    if with_did:
        (out / "did").mkdir()
        est = [dict(estimator="twfe", measure="education", population="in", comparison="any_tool", term="treat_post",
                    event_time=None, estimate=0.025, se=0.01, ci_low=0.004, ci_high=0.046, n_units=10, n_obs=1234)]
        est += [dict(estimator="event_study", measure="education", population="in", comparison="any_tool",
                     term="event", event_time=e, estimate=0.01 * e, se=0.01, ci_low=0.01 * e - 0.02,
                     ci_high=0.01 * e + 0.02, n_units=10, n_obs=1234) for e in (-2, -1, 0, 1)]
        pl.DataFrame(est, schema_overrides={"event_time": pl.Int64}).write_csv(out / "did/estimates.csv")
    return out


def _index(out: Path) -> list[dict[str, str]]:
    with open(out / "figures/index.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_figures_index_and_deterministic_names(tmp_path):
    out = _write_out(tmp_path / "out")
    run_figures(out, lang="en", fmt="png")
    index = _index(out)
    files = sorted(p.name for p in (out / "figures").iterdir())
    assert sorted(r["file"] for r in index) + ["index.csv"] == files
    names = [r["figure"] for r in index]
    # contract measures in the evaluation's numbering (7.1-7.3 education, 7.7-7.9 income)
    assert names[:6] == ["fig7_01_education_stock", "fig7_02_education_in", "fig7_03_education_out",
                         "fig7_07_income_stock", "fig7_08_income_in", "fig7_09_income_out"]
    assert {"fig_decomposition_education", "fig_did_education", "fig_event_education_in"} <= set(names)
    assert {r["source"] for r in index} == {"measures/measures.parquet", "measures/decomposition.parquet",
                                            "did/estimates.csv"}
    assert all((out / "figures" / r["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for r in index)


def test_missing_optional_tables_are_skipped(tmp_path, caplog):
    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    run_figures(out)
    names = {r["figure"] for r in _index(out)}
    assert not any(n.startswith(("fig_did", "fig_event", "fig_decomposition")) for n in names)
    assert "did/estimates.csv not found" in caplog.text


def test_no_tables_is_an_input_error(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="no released tables"):
        run_figures(tmp_path / "out")
    with pytest.raises(InputError, match="not found"):
        run_figures(tmp_path / "nothing")
    with pytest.raises(Exception, match="format must be one of"):
        run_figures(tmp_path / "out", fmt="gif")  # type: ignore[arg-type]


def test_pdf_embeds_truetype_fonts(tmp_path):
    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    run_figures(out, lang="da", fmt="pdf")
    pdf = (out / "figures/fig7_01_education_stock.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # fonttype 42: embedded TrueType, not Type 3
    assert b"CreationDate" not in pdf  # no timestamp: reruns give identical files
    # PDFs cannot be embedded in HTML: the report renders the same figures as PNG itself
    imgs = _imgs(build_report(out, lang="da"))
    assert len(imgs) == len(_index(out)) and all(s.startswith("data:image/png;base64,") for s in imgs)


def test_failed_rerun_keeps_earlier_figures(tmp_path, monkeypatch):
    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    run_figures(out)
    before = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    run_figures(out)  # deterministic: a rerun on the same tables writes identical files
    assert {p.name: p.read_bytes() for p in (out / "figures").iterdir()} == before
    calls = {"n": 0}
    real = fr.render

    def flaky(spec, style, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(spec, style, **kw)

    monkeypatch.setattr(fr, "render", flaky)
    with pytest.raises(RuntimeError):
        run_figures(out, lang="da")
    after = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left behind


def _imgs(text: str) -> list[str]:
    return re.findall(r"<img [^>]*src='([^']*)'", text)


def test_report_self_contained_with_every_figure(tmp_path):
    out = _write_out(tmp_path / "out")
    run_figures(out, lang="da")
    write_report(out, lang="da")
    text = (out / "report.html").read_text(encoding="utf-8")
    index = _index(out)
    imgs = _imgs(text)
    assert len(imgs) == len(index) and all(s.startswith("data:image/png;base64,") for s in imgs)
    first = (out / "figures" / index[0]["file"]).read_bytes()
    assert base64.b64decode(imgs[0].split(",", 1)[1]) == first  # the figure file itself, embedded
    for r in index:
        assert r["title"] in text.replace("&#x27;", "'")
    assert not re.search(r"(?:src|href)=['\"](?:https?:|//)", text)
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text and "<script" not in text
    # identifiers never: afdeling units and disclosure cells are not printed
    assert SECRET_AFDELING not in text and SECRET_CELL not in text and "SECRET" not in text
    # disclosure summary: counts by rule (2 primary, 1 complementary)
    assert re.search(r"<td>measures</td><td>primary</td><td class=\"num\">2</td>", text)
    assert re.search(r"<td>measures</td><td>complementary</td><td class=\"num\">1</td>", text)
    # group table in Danish: 2004 income of any_tool 161.234 (rounded 161234.5 -> banker's? no: 161.234 or 161.235)
    assert re.search(r"16[12]\.23[45]", text)
    assert "–" in text  # the suppressed in-mover cell
    # DiD headline: TWFE 2,50 percentage points, CI [0,40; 4,60], 1.234 person-years
    assert "2,50" in text and "[0,40; 4,60]" in text and "1.234" in text


def test_report_renders_figures_itself_without_figures_dir(tmp_path):
    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    text = build_report(out, lang="en")  # no figures/ yet: rendered in memory
    n = len(fr.figure_specs(out, lang="en"))
    assert len(_imgs(text)) == n == 3


def test_cli_figures_svg_and_report(tmp_path, capsys):
    from socialmix.cli import main

    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    assert main(["figures", str(out), "--lang", "da", "--format", "svg"]) == 0
    index = _index(out)
    assert [r["file"] for r in index] == ["fig7_01_education_stock.svg", "fig7_02_education_in.svg",
                                          "fig7_03_education_out.svg"]
    assert {r["lang"] for r in index} == {"da"}
    assert main(["report", str(out), "--lang", "da"]) == 0
    imgs = _imgs((out / "report.html").read_text(encoding="utf-8"))
    assert len(imgs) == 3 and all(s.startswith("data:image/svg+xml;base64,") for s in imgs)
    assert main(["figures", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_parallel_rendering_writes_the_same_files(tmp_path, caplog):
    # a helper process draws part of the set; the files must be byte-identical to a serial run
    out = _write_out(tmp_path / "out")
    serial = tmp_path / "serial.toml"
    serial.write_text("[figure]\nworkers = 1\n", encoding="utf-8")
    parallel = tmp_path / "parallel.toml"
    parallel.write_text("[figure]\nworkers = 2\nparallel_from = 1\n", encoding="utf-8")
    run_figures(out, lang="da", config=serial)
    one = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    run_figures(out, lang="da", config=parallel)
    two = {p.name: p.read_bytes() for p in (out / "figures").iterdir()}
    assert len(one) == len(_index(out)) + 1 > 8 and one == two
    assert "helper process stopped" not in caplog.text  # the helper really drew its share


def test_png_is_compact_palette_without_timestamp(tmp_path):
    from PIL import Image

    out = _write_out(tmp_path / "out", with_did=False, with_flows=False, with_income=False)
    run_figures(out, lang="da")
    path = out / "figures/fig7_01_education_stock.png"
    with Image.open(path) as img:
        assert img.mode == "P"  # 8-bit palette: a third of the RGBA size, same colours
        assert img.size == (round(7.2 * 150), round(4.4 * 150))  # style.toml width x height at dpi 150
        colours = {c for _n, c in img.convert("RGB").getcolors(1 << 16)}
        # the group colours survive the palette (within 2 of 255 per channel): Okabe-Ito blue, vermillion,
        # bluish green and black (neither), hex values of style.toml written out by hand
        for want in ((0, 114, 178), (213, 94, 0), (0, 158, 115), (0, 0, 0)):
            assert any(max(abs(a - b) for a, b in zip(c, want, strict=True)) <= 2 for c in colours), want
    assert b"tIME" not in path.read_bytes() and b"Software" not in path.read_bytes()
