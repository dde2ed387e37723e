"""The package as a user gets it: a non-editable wheel in a fresh venv, and the shadowing check.

The wheel test builds socialmix's wheel offline (``pip wheel --no-deps
--no-build-isolation``), installs it without dependencies into a fresh venv
whose only extra path is this environment's site-packages (a ``.pth`` file, so
nothing is downloaded), and runs ``socialmix demo`` from an unrelated working
directory: a TOML file missing from the wheel, or code reading files beside
the source tree, fails there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("panel", "queries", "analyses", "socialmix")
DATA_SUFFIXES = (".toml", ".csv", ".json")


def _env_without_our_paths() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def test_shadowing_queries_py_is_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "queries.py").write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-c", "from analyses.did import att_gt"], cwd=tmp_path, text=True,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: socialmix: the import name 'queries' resolves to ")
    assert str(tmp_path / "queries.py") in last and "rename that file or folder" in last


def test_shadowing_analyses_folder_and_panel_py(tmp_path: Path) -> None:
    (tmp_path / "analyses").mkdir()
    (tmp_path / "analyses" / "__init__.py").write_text("")
    r = subprocess.run([sys.executable, "-c", "import queries"], cwd=tmp_path, text=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert str(tmp_path / "analyses" / "__init__.py") in r.stderr.strip().splitlines()[-1]
    (tmp_path / "panel.py").write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-c", "import socialmix"], cwd=tmp_path, text=True, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert str(tmp_path / "panel.py") in last and "Your own scripts" in last


def test_own_scripts_in_a_differently_named_folder_import_fine(tmp_path: Path) -> None:
    """A namespace folder (no __init__.py) named like ours does not shadow a regular package."""
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "queries_of_mine.py").write_text("x = 1\n")
    r = subprocess.run([sys.executable, "-c", "import analyses.did, socialmix; print('ok')"], cwd=tmp_path,
                       text=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.stdout.strip() == "ok", r.stderr


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_demo(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    # built from a copy: setuptools' build/ directory in the tree could carry files deleted since
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(src)], check=True, timeout=300, env=_env_without_our_paths())
    (wheel,) = wheels.glob("socialmix-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for pkg in PACKAGES for p in (ROOT / pkg).rglob("*")
               if p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts}
    assert shipped and shipped <= names, f"missing from the wheel: {sorted(shipped - names)}"
    assert not any(n.startswith("tests/") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    fresh_py = _bin(venv, "python")
    site = Path(subprocess.run([str(fresh_py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies come from this environment, appended after the fresh site-packages
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "zz_shared_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh_py), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300, env=_env_without_our_paths())
    installed = time.perf_counter() - t0

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(fresh_py), "-c", "import panel, socialmix.tables; print(panel.__file__)"],
                           cwd=work, check=True, capture_output=True, text=True, env=_env_without_our_paths())
    assert Path(where.stdout.strip()).is_relative_to(site), "the wheel's panel must be the one imported"
    r = subprocess.run([str(_bin(venv, "socialmix")), "--no-progress", "demo", "out", "--persons", "4000"],
                       cwd=work, capture_output=True, text=True, timeout=900, env=_env_without_our_paths())
    assert r.returncode == 0, r.stderr[-2000:]
    out = work / "out"
    for f in ("report.html", "measures/measures.csv", "did/estimates.csv", "figures/index.csv", "manifest.json"):
        assert (out / f).is_file(), f
    assert "report: 1 file" in r.stdout  # every stage ends with its one-line summary
    r = subprocess.run([str(_bin(venv, "socialmix")), "tables", "out", "--format", "xlsx", "--lang", "da"],
                       cwd=work, capture_output=True, text=True, timeout=300, env=_env_without_our_paths())
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "tables" / "socialmix_tables.xlsx").is_file()
    print(f"wheel built and installed in {installed:.1f} s; demo + tables {time.perf_counter() - t0:.1f} s in all")
