"""Unknown keys in a user's TOML are errors naming file, table and key, with the nearest known key (issue 16).

Every TOML the package reads goes through panel.config.load_config, whose schema is the shipped file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from secure_fixture import write_delivery

from analyses.did.plan import load_plan as did_config
from analyses.figures.style import load_style
from panel.config import check_keys, load_config, shipped_config
from panel.errors import SocialmixError
from panel.regconfig import load_register_config, resolve_columns
from queries.disclosure_rules import decide_rules
from queries.flows.base import load_flow_config
from queries.registry import measure_config
from socialmix.cli import main
from socialmix.synth.generate import load_calibration

ROOT = Path(__file__).resolve().parents[1]

# loader, a typo'd override, the message it must give (file name is prepended)
CASES: list[tuple[str, Callable[[Path], object], str, str]] = [
    ("registers", load_register_config, '[registers.akmm.column_years]\n"2009-" = { SOCIO = "SOCIO02" }\n',
     "unknown key 'akmm' in [registers] (did you mean 'akm'?)"),
    ("registers column", load_register_config, '[registers.akm.colums]\nSOCIO = "X"\n',
     "unknown key 'colums' in [registers.akm] (did you mean 'columns'?)"),
    ("join loss", load_register_config, "[join_loss.ind]\nmax_orphan = 0.1\n",
     "unknown key 'max_orphan' in [join_loss.ind] (did you mean 'max_orphans'?)"),
    ("check rules", load_register_config, '[check.measures.incme]\nregisters = ["bef"]\n',
     "unknown key 'incme' in [check.measures] (did you mean 'income'?)"),
    ("measures", measure_config, "[household]\nequivalence_child_weigt = 0.3\n",
     "unknown key 'equivalence_child_weigt' in [household] (did you mean 'equivalence_child_weight'?)"),
    ("disclosure", lambda p: decide_rules("dst", None, p), "min_person = 3\n",
     "unknown key 'min_person' (did you mean 'min_persons'?)"),
    ("flows", load_flow_config, "[trajectory]\nhorizons = [1]\n",
     "unknown key 'trajectory' in the top level (did you mean 'trajectories'?)"),
    ("did", did_config, "[run]\nbootstrap_draws = 5\n",
     "unknown key 'bootstrap_draws' in [run] (known keys: measures, populations"),
    ("style", load_style, "[figure]\nwidht = 3\n", "unknown key 'widht' in [figure] (did you mean 'width'?)"),
    ("calibration", load_calibration, "[income]\nmedian_adlt = 1\n", "unknown key 'median_adlt' in [income]"),
    ("table for value", load_register_config, "[registers.akm.pattern]\nx = 1\n",
     "'pattern' in [registers.akm] must be a value, not a table"),
]


@pytest.mark.parametrize(("case", "load", "text", "message"), CASES, ids=[c[0] for c in CASES])
def test_unknown_key_is_an_error_naming_file_table_and_key(tmp_path: Path, case: str, load: Callable[[Path], object],
                                                           text: str, message: str) -> None:
    p = tmp_path / "mine.toml"
    p.write_text(text)
    with pytest.raises(SocialmixError) as exc:
        load(p)
    assert str(exc.value).startswith(f"{p}: {message}")


def test_open_tables_accept_new_keys(tmp_path: Path) -> None:
    p = tmp_path / "ok.toml"
    p.write_text('[registers.akm.column_years]\n"2009-2010" = { SOCIO = "SOCIO02" }\n'
                 "[codes.socio]\nnew_category = [411]\n")
    cfg = load_register_config(p)
    assert resolve_columns(cfg, "akm", 2010)["SOCIO"] == "SOCIO02"
    assert cfg["codes"]["socio"]["new_category"] == [411]
    p.write_text("[cpi]\n1990 = 70.0\n")
    assert load_calibration(p)["cpi"]["1990"] == 70.0
    p.write_text('[measures.under_18]\nkind = "share"\n[labels.da.measures]\nnew_measure = "Ny"\n')
    style = load_style(p)
    assert style["measures"]["under_18"] == {"kind": "share"}
    assert "_open" not in style


def test_check_and_build_refuse_a_typo_in_the_register_config(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Today `[registers.akmm.column_years]` passes check ('can run', exit 0) and is ignored."""
    reg = tmp_path / "reg"
    write_delivery(reg)
    cfg = tmp_path / "typo.toml"
    cfg.write_text('[registers.akmm.column_years]\n"2007-2007" = { SOCIO = "SOCIO13" }\n')
    for argv in (["check", str(reg), "--config", str(cfg)],
                 ["build", str(reg), str(tmp_path / "out"), "--config", str(cfg)]):
        assert main(["--no-progress", *argv]) == 2
        err = capsys.readouterr().err
        assert "typo.toml: unknown key 'akmm' in [registers] (did you mean 'akm'?)" in err


def test_nearest_key_is_suggested_only_when_near() -> None:
    with pytest.raises(SocialmixError, match=r"unknown key 'zzz' in \[a\] \(known keys: x, y\)"):
        check_keys({"a": {"zzz": 1}}, {"a": {"x": 1, "y": 2}}, source="f.toml")
    check_keys({"m": {"anything": {"deep": 1}}}, {"m": {}}, source="f.toml", open_paths=["m"])


def test_every_toml_is_read_through_the_checked_loader() -> None:
    """No module parses a TOML file itself (cli.py hashes the shipped files for --resume; not an override)."""
    allowed = {ROOT / "panel" / "config.py", ROOT / "socialmix" / "cli.py"}
    offenders = []
    for py in ROOT.glob("*/**/*.py"):
        if py.parts[len(ROOT.parts)] in ("tests", "benchmarks", ".venv") or py in allowed:
            continue
        if re.search(r"tomllib\.loads?\(", py.read_text(encoding="utf-8")):
            offenders.append(str(py.relative_to(ROOT)))
    assert offenders == []


def _paths(cfg: dict, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out = {prefix}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out |= _paths(v, (*prefix, k))
    return out


def test_every_shipped_toml_loads_and_declares_only_existing_open_tables(tmp_path: Path) -> None:
    for package, name in (("panel", "registers.toml"), ("panel", "check.toml"), ("queries", "measures.toml"),
                          ("queries", "disclosure.toml"), ("queries.flows", "flows.toml"),
                          ("analyses.did", "did.toml"), ("analyses.figures", "style.toml"),
                          ("socialmix", "export.toml"), ("socialmix.synth", "calibration.toml"),
                          ("socialmix", "stages.toml")):
        cfg = load_config(package, name)
        assert "_open" not in cfg
        base, open_paths = shipped_config(package, name)
        tables = _paths(base)
        for pattern in open_paths:  # a declared open table exists (a typo there would open nothing)
            parts = pattern.split(".")
            assert any(len(t) == len(parts) and all(p in ("*", k) for p, k in zip(parts, t, strict=True))
                       for t in tables), (name, pattern)
        # the shipped file (without its declaration) overriding itself passes: every key it has is known
        text = ROOT.joinpath(*package.split("."), name).read_text(encoding="utf-8")
        src = tmp_path / name
        src.write_text(re.sub(r"(?m)^_open = .*$", "", text), encoding="utf-8")
        assert load_config(package, name, src) == cfg
