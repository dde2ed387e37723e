"""One disclosure rule set per OUT (contract §7): decided by ``measures``, read by every later stage.

Values checked against queries/disclosure.toml as shipped (dst: 5 persons, safe: 10) and against what the
command line must refuse (issue 16: ``measures OUT --min-cell 2`` exited 0 and export shipped n >= 2).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from secure_fixture import write_delivery

from panel.errors import DisclosureError, InputError
from queries.disclosure_rules import RULES_TOML, decide_rules, load_rules, read_rules_file, save_rules
from socialmix.cli import main
from socialmix.export import export


def rules_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.toml"
    p.write_text(text)
    return p


def test_min_cell_may_only_raise_the_floor() -> None:
    assert decide_rules("dst", 8).min_persons == 8
    assert decide_rules("dst", 8).min_obs == 8  # estimates follow a stricter person threshold
    assert decide_rules("dst", 5).below_floor == ()
    with pytest.raises(InputError, match="may only raise it"):
        decide_rules("dst", 2)
    with pytest.raises(InputError, match="may only raise it"):
        decide_rules("safe", 6)  # 6 >= dst's 5, but below safe's 10


def test_a_rules_file_overrides_and_needs_a_reason_to_go_below(tmp_path: Path) -> None:
    r = decide_rules("dst", None, rules_file(tmp_path, "min_persons = 7\nclass_min_n = 15\n"))
    assert (r.min_persons, r.class_min_n, r.min_units, r.below_floor) == (7, 15, 3, ())
    with pytest.raises(InputError, match=r"rules.toml.*loosens min_persons.*allow_below_floor"):
        decide_rules("dst", None, rules_file(tmp_path, "min_persons = 2\n"))
    with pytest.raises(InputError, match="needs a non-empty reason"):
        decide_rules("dst", None, rules_file(tmp_path, "min_persons = 2\nallow_below_floor = true\n"))
    low = decide_rules("dst", None, rules_file(
        tmp_path, 'min_persons = 2\ndominance_k = 0.95\nallow_below_floor = true\nreason = "pilot, approved"\n'))
    assert low.below_floor == ("min_persons", "dominance_k") and not low.export_below_floor
    # --min-cell on top of a lowered file may raise it again, not lower it further
    assert decide_rules("dst", 3, rules_file(
        tmp_path, 'min_persons = 2\nallow_below_floor = true\nreason = "x"\n')).min_persons == 3


def test_a_rules_file_names_an_unknown_key_and_a_wrong_profile(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"rules.toml: unknown key 'min_person' \(did you mean 'min_persons'\?\)"):
        decide_rules("dst", None, rules_file(tmp_path, "min_person = 8\n"))
    with pytest.raises(InputError, match="for profile 'safe' but --profile is 'dst'"):
        decide_rules("dst", None, rules_file(tmp_path, 'profile = "safe"\n'))
    with pytest.raises(InputError, match="min_units.*integer"):
        decide_rules("dst", None, rules_file(tmp_path, "min_units = 2.5\n"))


def test_saved_rules_round_trip_and_a_hand_lowered_file_is_refused(tmp_path: Path) -> None:
    r = decide_rules("safe", 12)
    save_rules(r, tmp_path / "measures")
    back = load_rules(tmp_path)
    assert back.thresholds() == r.thresholds() and back.profile == "safe" and back.source == r.source
    assert "persons >= 12" in (tmp_path / "measures" / "disclosure_rules.txt").read_text()
    path = tmp_path / "measures" / RULES_TOML
    path.write_text(path.read_text().replace("min_persons = 12", "min_persons = 3"))
    with pytest.raises(InputError, match="loosens min_persons below the safe profile without a reason"):
        read_rules_file(path)
    with pytest.raises(InputError, match="run `socialmix measures` first"):
        load_rules(tmp_path / "elsewhere")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rules")
    write_delivery(root / "reg")
    assert main(["--no-progress", "build", str(root / "reg"), str(root / "out"), "--years", "2005-2007"]) == 0
    return root / "out"


def test_cli_refuses_a_lower_min_cell_and_writes_nothing(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-progress", "measures", str(built), "--min-cell", "2"]) == 2
    assert "may only raise it" in capsys.readouterr().err
    assert not (built / "measures").exists()


def test_below_the_floor_is_stamped_and_export_refused_unless_allowed(built: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    low = rules_file(tmp_path, 'min_persons = 2\nallow_below_floor = true\nreason = "method test"\n')
    assert main(["--no-progress", "measures", str(built), "--rules", str(low)]) == 0
    m = pl.read_csv(built / "measures" / "measures.csv")
    assert m["below_disclosure_floor"].all()
    text = (built / "measures" / "disclosure_rules.txt").read_text()
    assert "below the environment's floor" in text and "min_persons 2 (floor 5)" in text and "method test" in text
    with pytest.raises(DisclosureError, match="below the dst profile's floor.*export_below_floor"):
        export(built, tmp_path / "bundle")
    assert main(["export", str(built), str(tmp_path / "bundle")]) == 2
    assert not (tmp_path / "bundle").exists()
    ok = rules_file(tmp_path, 'min_persons = 2\nallow_below_floor = true\nreason = "method test"\n'
                              "export_below_floor = true\n")
    assert main(["--no-progress", "measures", str(built), "--rules", str(ok)]) == 0
    export(built, tmp_path / "bundle")
    assert "BELOW THE dst FLOOR" in (tmp_path / "bundle" / "MANIFEST.txt").read_text()
    capsys.readouterr()
    # the manifest records the rules file by content, not by path alone
    import json

    opts = json.loads((built / "manifest.json").read_text())["stages"]["measures"]["config"]["options"]
    assert opts["rules"]["name"] == "rules.toml" and "export_below_floor = true" in opts["rules"]["text"]


def test_did_applies_the_out_rules_and_has_no_fallback(tmp_path: Path) -> None:
    from analyses.did.run import run_did

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=r"disclosure_rules.toml: no disclosure rules for this OUT"):
        run_did(out, bootstrap=0)


def test_library_min_cell_below_the_floor_is_marked() -> None:
    r = load_rules("dst", min_cell=1)
    assert r.below_floor == ("min_persons",)
    assert replace(r, min_persons=5).thresholds()["min_persons"] == 5


@pytest.mark.parametrize("command", [["run", "REG", "OUT"], ["demo", "OUT"], ["measures", "OUT"]])
def test_run_demo_and_measures_take_the_three_disclosure_options(command: list[str]) -> None:
    from socialmix.cli import build_parser

    a = build_parser().parse_args([*command, "--profile", "safe", "--min-cell", "12", "--rules", "r.toml"])
    assert (a.profile, a.min_cell, a.rules) == ("safe", 12, Path("r.toml"))


def test_run_refuses_a_lower_min_cell_before_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_delivery(tmp_path / "reg")
    assert main(["--no-progress", "run", str(tmp_path / "reg"), str(tmp_path / "out"), "--min-cell", "2"]) == 2
    assert "may only raise it" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
