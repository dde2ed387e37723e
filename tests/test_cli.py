"""The command line: help everywhere, one-line errors, non-zero exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from socialmix.cli import build_parser, main

COMMANDS = ["synth", "build", "measures", "areas", "did", "figures", "run", "demo", "report", "convert", "check",
            "export", "tables"]  # areas: contract §8, tables: §9


def test_every_contract_command_is_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert f"socialmix {command}" in capsys.readouterr().out


def test_console_script_runs() -> None:
    res = subprocess.run([sys.executable, "-m", "socialmix.cli", "--version"], capture_output=True, text=True)
    assert res.returncode == 0
    assert res.stdout.startswith("socialmix ")


def test_bad_years_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["build", str(tmp_path / "reg"), str(tmp_path / "out"), "--years", "2013-2004"])
    assert exc.value.code == 2
    assert "first year 2013 is after last year 2004" in capsys.readouterr().err


def test_missing_register_folder_is_one_line_and_leaves_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = main(["--no-progress", "build", str(tmp_path / "nowhere"), str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1
    assert "nowhere" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "no staging directory may be left behind"


def test_internal_errors_do_not_echo_messages(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A library error message may quote data values (identifiers); only its type is printed."""
    import socialmix.cli as cli

    def boom(_a: object) -> None:
        raise ValueError("value 0101011234 could not be parsed")

    monkeypatch.setattr(cli, "cmd_measures", boom)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for action in parser._actions:
        if action.dest == "command":
            action.choices["measures"].set_defaults(func=boom)
    rc = cli.main(["--no-progress", "measures", "x"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "0101011234" not in err
    assert "ValueError" in err and "--debug" in err
