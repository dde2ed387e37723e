"""A console that cannot encode "→" (cp1252: a redirected console on Windows) gets ASCII, never a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from secure_fixture import write_delivery

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, encoding: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "socialmix.cli", "--no-progress", *args], capture_output=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_check_and_build_report_a_problem_on_a_narrow_console(tmp_path: Path, encoding: str) -> None:
    reg = tmp_path / "reg→x"  # the build's error names the file, so its path reaches the console too
    write_delivery(reg)
    (reg / "akm" / "akm_2005.parquet").unlink()
    res = _cli("check", str(reg), "--years", "2005-2007", encoding=encoding)
    out, err = res.stdout.decode(encoding), res.stderr.decode(encoding)  # valid in the console's encoding
    assert res.returncode == 1, err
    assert "internal error" not in err
    assert "no AKM 2005 -> no education:stock" in out
    assert "cannot run: 1 file(s) missing or malformed" in out
    res = _cli("build", str(reg), str(tmp_path / "out"), "--years", "2005-2007", encoding=encoding)
    err = res.stderr.decode(encoding)
    assert res.returncode == 2
    path = str(reg / "akm" / "akm_2005.parquet").replace("→", "->")
    assert err.strip() == f"socialmix build: error: {path}: AKM 2005 file is missing"
