"""Command-line options of issue 20: global options anywhere, --config per stage, run/demo pass every
stage option through, and the one-line summary at the end of every stage."""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import pytest

from socialmix import cli

STAGES_OF_RUN = ("build", "measures", "did", "figures", "report")
# run/demo spell these stage options differently (one command line, several stages)
RENAMED = {("did", "--seed"): "--bootstrap-seed", **{(s, "--config"): f"--{s}-config"
                                                   for s in ("measures", "did", "figures", "report")}}


def _options(sp: argparse.ArgumentParser) -> set[str]:
    return {o for a in sp._actions for o in a.option_strings if a.help != argparse.SUPPRESS} - {"-h", "--help"}


def _sub() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in cli.build_parser()._actions if a.dest == "command").choices


@pytest.mark.parametrize("argv", [["--debug", "measures", "OUT"], ["measures", "OUT", "--debug"],
                                  ["measures", "--debug", "OUT"]])
def test_debug_anywhere_on_the_line(argv: list[str]) -> None:
    a = cli.build_parser().parse_args(argv)
    assert a.debug is True and a.verbose is False and a.out == Path("OUT")


def test_global_options_default_off_and_verbose_after_the_command() -> None:
    a = cli.build_parser().parse_args(["run", "REG", "OUT", "-v", "--no-progress"])
    assert (a.debug, a.verbose, a.no_progress) == (False, True, True)


@pytest.mark.parametrize("stage", ["build", "measures", "did", "figures", "report", "tables", "convert", "check"])
def test_every_stage_reading_a_toml_takes_config(stage: str) -> None:
    assert "--config" in _options(_sub()[stage])


@pytest.mark.parametrize("command", ["run", "demo"])
def test_run_and_demo_take_every_option_of_their_stages(command: str) -> None:
    have = _options(_sub()[command])
    for stage in STAGES_OF_RUN:
        for opt in _options(_sub()[stage]):
            assert RENAMED.get((stage, opt), opt) in have, f"{command} lacks {stage}'s {opt}"


def test_run_passes_the_options_to_the_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, dict] = {}

    def fake(name):
        def f(*args, **kw):
            seen[name] = kw
        return f

    import analyses.did.run
    import analyses.figures
    import analyses.report
    import panel.build
    import queries.run

    monkeypatch.setattr(panel.build, "build", fake("build"))
    monkeypatch.setattr(queries.run, "run_measures", fake("measures"))
    monkeypatch.setattr(analyses.did.run, "run_did", fake("did"))
    monkeypatch.setattr(analyses.figures, "run_figures", fake("figures"))
    monkeypatch.setattr(analyses.report, "write_report", fake("report"))
    style = tmp_path / "style.toml"
    style.write_text("[figure]\ndpi = 72\n")
    rc = cli.main(["run", str(tmp_path / "REG"), str(tmp_path / "OUT"), "--allow-unknown-codes", "--min-cell", "12",
                   "--profile", "safe", "--bootstrap", "49", "--bootstrap-seed", "3", "--format", "svg",
                   "--lang", "da", "--figures-config", str(style), "--no-progress"])
    assert rc == 0
    assert seen["build"]["allow_unknown_codes"] is True
    # the measures stage gets the rule set decided from --profile and --min-cell (which may only raise it)
    assert (seen["measures"]["rules"].min_persons, seen["measures"]["rules"].profile) == (12, "safe")
    assert (seen["did"]["bootstrap"], seen["did"]["seed"]) == (49, 3)
    assert (seen["figures"]["fmt"], seen["figures"]["lang"], seen["figures"]["config"]) == ("svg", "da", style)
    assert seen["report"]["lang"] == "da" and seen["report"]["config"] is None


def test_stage_summary_counts_files_and_rows(tmp_path: Path) -> None:
    (tmp_path / "measures").mkdir()
    pl.DataFrame({"x": [1, 2, 3]}).write_parquet(tmp_path / "measures" / "a.parquet")
    pl.DataFrame({"x": [1, 2, 3, 4]}).write_parquet(tmp_path / "measures" / "b.parquet")
    (tmp_path / "measures" / "a.csv").write_text("x\n1\n2\n3\n")
    # rows come from the parquet footers (3 + 4) when the stage writes parquet
    assert cli.stage_summary("measures", tmp_path, ["measures/**"], 1.26) == "measures: 3 files, 7 rows, 1.3 s"
    (tmp_path / "did").mkdir()
    (tmp_path / "did" / "estimates.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "did" / "summary.txt").write_text("text\n")
    assert cli.stage_summary("did", tmp_path, ["did/**"], 0.04) == "did: 2 files, 2 rows, 0.0 s"
    assert cli.stage_summary("report", tmp_path, ["report.html"], 2.0) == "report: 0 files, 2.0 s"
