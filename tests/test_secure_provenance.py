"""Provenance (manifest.json) and --resume: hashes recomputed independently with hashlib."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from secure_fixture import write_delivery

from panel import provenance
from panel.provenance import hash_file, read_manifest, run_stage
from socialmix.cli import main


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hash_file_streams_across_chunks_and_counts_csv_rows(tmp_path: Path) -> None:
    body = "".join(f"{i},{'x' * 50}\n" for i in range(40_000))  # ~2.2 MB: three 1 MiB chunks
    p = tmp_path / "big.csv"
    p.write_text("id,pad\n" + body.rstrip("\n"))  # no trailing newline
    digest, rows = hash_file(p)
    assert digest == sha(p)
    assert rows == 40_000
    q = tmp_path / "t.parquet"
    pl.DataFrame({"a": range(1234)}).write_parquet(q)
    assert hash_file(q) == (sha(q), 1234)


class Stage:
    """A toy stage: OUT/res/sum.txt = sum of the numbers in an input CSV (times a config factor)."""

    def __init__(self, src: Path, out: Path) -> None:
        self.src, self.out, self.calls = src, out, 0

    def __call__(self, factor: int = 1, resume: bool = True) -> bool:
        def work() -> None:
            self.calls += 1
            total = pl.read_csv(self.src)["v"].sum() * factor
            (self.out / "res").mkdir(parents=True, exist_ok=True)
            (self.out / "res" / "sum.txt").write_text(str(total))

        return run_stage("toy", self.out, work, inputs={"IN": (self.src.parent, [self.src])}, outputs=["res/**"],
                         config={"factor": factor}, command=["toy"], resume=resume)


@pytest.fixture
def toy(tmp_path: Path) -> Stage:
    src = tmp_path / "in" / "data.csv"
    src.parent.mkdir()
    src.write_text("v\n1\n2\n3\n")
    return Stage(src, tmp_path / "out")


def test_manifest_records_input_and_output_hashes(toy: Stage) -> None:
    assert toy(resume=False)
    entry = read_manifest(toy.out)["stages"]["toy"]
    assert entry["inputs"]["IN"]["files"] == {"data.csv": {"sha256": sha(toy.src), "bytes": 8, "rows": 3}}
    assert entry["outputs"]["res/sum.txt"]["sha256"] == hashlib.sha256(b"6").hexdigest()
    assert entry["config"] == {"factor": 1}
    assert entry["config_sha256"] == hashlib.sha256(b'{"factor":1}').hexdigest()
    assert entry["environment"]["python"].count(".") == 2
    assert entry["command"] == ["toy"]


def test_resume_skips_unchanged_and_reruns_on_any_change(toy: Stage) -> None:
    assert toy() and toy.calls == 1
    assert not toy() and toy.calls == 1  # unchanged: skipped
    toy.src.write_text("v\n1\n2\n4\n")  # input changed
    assert toy() and toy.calls == 2
    assert (toy.out / "res" / "sum.txt").read_text() == "7"
    assert toy(factor=2) and toy.calls == 3  # config changed
    assert not toy(factor=2)
    (toy.out / "res" / "sum.txt").write_text("tampered")  # output no longer what was recorded
    assert toy(factor=2) and toy.calls == 4
    (toy.out / "res" / "sum.txt").unlink()  # output missing
    assert toy(factor=2) and toy.calls == 5
    (toy.out / "res" / "extra.txt").write_text("x")  # an output the stage did not record
    assert toy(factor=2) and toy.calls == 6
    assert toy(factor=2, resume=False) and toy.calls == 7  # without --resume it always runs


def test_stage_entries_are_kept_and_a_broken_manifest_is_replaced(toy: Stage) -> None:
    provenance.write_stage(toy.out, "other", {"finished": "x", "outputs": {}})
    toy()
    assert set(read_manifest(toy.out)["stages"]) == {"other", "toy"}
    (toy.out / "manifest.json").write_text("{not json")
    assert toy() and toy.calls == 2  # no usable record: the stage runs and a new manifest is written
    assert set(json.loads((toy.out / "manifest.json").read_text())["stages"]) == {"toy"}
    assert not [p for p in toy.out.iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_no_git_is_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert provenance.git_commit() is None
    assert provenance.environment()["git"] is None


@pytest.fixture
def reg(tmp_path: Path) -> Path:
    r = tmp_path / "reg"
    write_delivery(r)
    return r


def test_build_manifest_and_resume_through_the_cli(reg: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["--no-progress", "build", str(reg), str(out), "--years", "2005-2007"]
    assert main(args) == 0
    entry = read_manifest(out)["stages"]["build"]
    files = entry["inputs"]["REG"]["files"]
    expected = sorted(p.relative_to(reg).as_posix() for p in reg.rglob("*") if p.is_file())
    assert sorted(files) == expected  # 4 registers x 2004-2007 and 5 lookups, all read by the build
    for rel, rec in files.items():
        assert rec["sha256"] == sha(reg / rel)
        if rel.endswith(".parquet"):
            assert rec["rows"] == pq.read_metadata(reg / rel).num_rows
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert sorted(entry["outputs"]) == written
    assert all(entry["outputs"][rel]["sha256"] == sha(out / rel) for rel in written)
    assert entry["command"][1:] == args
    assert entry["config"]["registers"]["registers"]["akm"]["column_years"]["-2008"] == {"SOCIO": "SOCIO02"}
    capsys.readouterr()

    panel_file = out / "panel" / "year=2006" / "part-0.parquet"
    before = panel_file.stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0
    assert "stage build unchanged, skipped" in capsys.readouterr().out
    assert panel_file.stat().st_mtime_ns == before

    p = reg / "ind" / "ind_2006.parquet"  # a changed input: the stage reruns
    pl.read_parquet(p).with_columns(pl.col("DISPON_NY") * 2).write_parquet(p)
    assert main([*args, "--resume"]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert read_manifest(out)["stages"]["build"]["inputs"]["REG"]["files"]["ind/ind_2006.parquet"]["sha256"] == sha(p)

    cfg = tmp_path / "c.toml"  # a changed register config: the stage reruns
    cfg.write_text("[lookups.cpi]\nbase_year = 2010\n")
    assert main([*args, "--config", str(cfg), "--resume"]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert main([*args, "--config", str(cfg), "--resume"]) == 0
    assert "stage build unchanged, skipped" in capsys.readouterr().out


def test_a_failed_stage_records_nothing(reg: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (reg / "bef" / "bef_2006.parquet").unlink()
    assert main(["--no-progress", "build", str(reg), str(out), "--years", "2005-2007"]) == 2
    assert not out.exists()


def test_a_changed_register_reruns_build_and_then_measures(reg: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    build = ["--no-progress", "build", str(reg), str(out), "--years", "2005-2007", "--resume"]
    measures = ["--no-progress", "measures", str(out), "--resume"]
    assert main(build) == 0 and main(measures) == 0
    entry = read_manifest(out)["stages"]["measures"]
    read = entry["inputs"]["OUT"]["files"]
    assert "panel/year=2006/part-0.parquet" in read and "moves.parquet" in read
    assert all(rec["sha256"] == sha(out / rel) for rel, rec in read.items())
    assert all(rel.startswith("measures/") for rel in entry["outputs"])
    assert entry["config"]["options"] == {"min_cell": None, "profile": "dst", "rules": None}
    capsys.readouterr()
    assert main(build) == 0 and main(measures) == 0
    assert capsys.readouterr().out.count("unchanged, skipped") == 2
    p = reg / "ind" / "ind_2006.parquet"  # income changes the panel, so measures must follow
    pl.read_parquet(p).with_columns(pl.col("DISPON_NY") + 1000).write_parquet(p)
    assert main(build) == 0 and main(measures) == 0
    assert "skipped" not in capsys.readouterr().out
    assert main(["--no-progress", "measures", str(out), "--resume", "--profile", "safe"]) == 0
    assert "skipped" not in capsys.readouterr().out  # another option is another result


def test_synth_records_in_reg_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "reg"
    cmd = ["--no-progress", "synth", str(reg), "--persons", "1000", "--seed", "2", "--resume"]
    assert main(cmd) == 0
    entry = read_manifest(reg)["stages"]["synth"]
    on_disk = {p.relative_to(reg).as_posix(): sha(p) for p in reg.rglob("*") if p.is_file()}
    assert on_disk.pop("manifest.json")
    assert {rel: rec["sha256"] for rel, rec in entry["outputs"].items()} == on_disk
    assert entry["config"]["options"] == {"persons": 1000, "seed": 2, "effect": 0.0}
    capsys.readouterr()
    assert main(cmd) == 0
    assert "stage synth unchanged, skipped" in capsys.readouterr().out
    assert main([*cmd[:-2], "3", "--resume"]) == 0  # another seed
    assert "skipped" not in capsys.readouterr().out


def test_a_stage_called_from_python_records_what_it_wrote_and_its_plan(tmp_path: Path) -> None:
    """Issue 16: run_did(out, config=plan) left the manifest vouching for the estimates of an earlier run."""
    from did_fixture import write_out

    from analyses.did.run import run_did
    from socialmix.export import export

    out = write_out(tmp_path / "out", effect=0.1, seed=5, residents=12, movers=2)
    plan = tmp_path / "my_plan.toml"
    plan.write_text('[run]\nmeasures = ["employment"]\npopulations = ["stock"]\nestimators = ["twfe"]\n')
    run_did(out, bootstrap=0, config=plan)
    entry = read_manifest(out)["stages"]["did"]
    assert entry["outputs"]["did/estimates.csv"]["sha256"] == sha(out / "did" / "estimates.csv")
    rec = entry["config"]["options"]["config"]
    assert rec["name"] == "my_plan.toml" and rec["sha256"] == sha(plan) and rec["text"] == plan.read_text()
    assert entry["inputs"]["OUT"]["files"]["measures/disclosure_rules.toml"]["sha256"] == \
        sha(out / "measures" / "disclosure_rules.toml")
    first = sha(out / "did" / "estimates.csv")
    plan.write_text('[run]\nmeasures = ["employment", "income"]\npopulations = ["stock"]\nestimators = ["twfe"]\n')
    run_did(out, bootstrap=0, config=plan)  # a new plan: new estimates, and a manifest entry that says so
    entry = read_manifest(out)["stages"]["did"]
    assert sha(out / "did" / "estimates.csv") != first
    assert entry["outputs"]["did/estimates.csv"]["sha256"] == sha(out / "did" / "estimates.csv")
    assert "income" in entry["config"]["options"]["config"]["text"]
    export(out, tmp_path / "bundle", tables=["estimates"])
    assert sha(tmp_path / "bundle" / "did" / "estimates.csv") == sha(out / "did" / "estimates.csv")


def test_recorded_stage_files_match_stages_toml() -> None:
    """The globs a stage function records are the CLI's (socialmix/stages.toml): one definition kept in step."""
    from analyses.did.run import run_did
    from analyses.figures.run import run_figures
    from analyses.report import write_report
    from panel.config import load_config
    from queries.run import run_measures

    spec = load_config("socialmix", "stages.toml")["stages"]
    for name, func in (("measures", run_measures), ("did", run_did), ("figures", run_figures),
                       ("report", write_report)):
        assert func.stage_files == {"inputs": spec[name]["inputs"], "outputs": spec[name]["outputs"]}, name
