"""`socialmix synth` on the command line: exit codes, files, atomic replacement."""

from __future__ import annotations

import json

from socialmix.cli import main


def test_synth_command_writes_the_registers(tmp_path):
    reg = tmp_path / "reg"
    assert main(["--no-progress", "synth", str(reg), "--persons", "5000", "--seed", "3", "--effect", "0.2"]) == 0
    for y in range(2003, 2014):
        for name in ("bef", "udda", "ind", "akm"):
            assert (reg / name / f"{name}_{y}.parquet").is_file()
    for name in ("afdeling.parquet", "afdeling_address.parquet", "cpi.csv", "hfaudd.csv", "country.csv"):
        assert (reg / "lookup" / name).is_file()
    assert json.loads((reg / "truth.json").read_text())["effect"] == 0.2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_options_exit_2_and_keep_earlier_registers(tmp_path, capsys):
    reg = tmp_path / "reg"
    assert main(["--no-progress", "synth", str(reg), "--persons", "5000", "--seed", "3"]) == 0
    before = (reg / "bef" / "bef_2003.parquet").read_bytes()
    assert main(["--no-progress", "synth", str(reg), "--persons", "5000", "--effect", "1.5"]) == 2
    assert "--effect" in capsys.readouterr().err
    assert main(["--no-progress", "synth", str(reg), "--persons", "10"]) == 2
    assert (reg / "bef" / "bef_2003.parquet").read_bytes() == before
