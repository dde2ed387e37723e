"""The stages import one way only: panel <- queries <- analyses <- socialmix (CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "panel": {"panel"},
    "queries": {"panel", "queries"},
    "analyses": {"panel", "queries", "analyses"},
    "socialmix": {"panel", "queries", "analyses", "socialmix"},
}
OWN = set(ALLOWED)


def _imports_all(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _imports(path: Path) -> set[str]:
    return _imports_all(path) & OWN


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_import_direction(package: str) -> None:
    bad = {
        str(f.relative_to(ROOT)): sorted(_imports(f) - ALLOWED[package])
        for f in (ROOT / package).rglob("*.py")
        if _imports(f) - ALLOWED[package]
    }
    assert bad == {}, f"{package} imports a later stage: {bad}"


def test_cli_lives_outside_the_stages() -> None:
    for package in ("panel", "queries", "analyses"):
        for f in (ROOT / package).rglob("*.py"):
            assert "argparse" not in _imports_all(f), f"{f} parses a command line; that belongs in socialmix.cli"



def test_import_panel_is_ours() -> None:
    """HoloViz Panel shares the import name; socialmix must live in its own venv."""
    import panel

    assert Path(panel.__file__).resolve().parent == ROOT / "panel"
    from panel.schema import PANEL_SCHEMA  # HoloViz Panel has no such module

    assert "person_id" in PANEL_SCHEMA


def test_no_module_over_600_lines() -> None:
    long = {
        str(f.relative_to(ROOT)): n
        for pkg in OWN
        for f in (ROOT / pkg).rglob("*.py")
        if (n := len(f.read_text(encoding="utf-8").splitlines())) > 600
    }
    assert long == {}
