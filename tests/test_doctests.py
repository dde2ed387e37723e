"""Every docstring example of the package runs (the Polars way), as part of `make test`.

Examples that need data refer to ``REG`` (registers) and ``OUT`` (a built
output directory); they run in a working directory holding a small synthetic
pipeline run under those names, so they execute instead of being skipped.
``+SKIP`` remains only where an example needs what no fixture has (a SAS
delivery, a whole-population run).
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("panel", "queries", "analyses", "socialmix")
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts
)
_USES_DATA = re.compile(r"[\"'](OUT|REG)[\"'/]")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with REG/ (synthetic registers) and OUT/ (build, measures, did)."""
    from analyses.did.run import run_did
    from panel.build import build
    from queries.run import run_measures
    from socialmix.synth import generate

    d = tmp_path_factory.mktemp("doctest_data")
    generate(d / "REG", persons=3000, seed=1, effect=0.05)
    build(d / "REG", d / "OUT", years=(2004, 2013))
    run_measures(d / "OUT")
    run_did(d / "OUT", bootstrap=49)
    return d


def _uses_data(module) -> bool:
    finder = doctest.DocTestFinder()
    return any(not e.options.get(doctest.SKIP) and _USES_DATA.search(e.source)
               for t in finder.find(module) for e in t.examples)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if name == "analyses.figures.helper" or name.endswith("__main__"):
        pytest.skip("a process entry point, no examples")
    module = importlib.import_module(name)
    if _uses_data(module):
        monkeypatch.chdir(request.getfixturevalue("data_dir"))
    else:
        monkeypatch.chdir(request.getfixturevalue("tmp_path"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (see stdout)"


def test_the_modules_were_found() -> None:
    assert {"panel.config", "queries.registry", "analyses.etable", "socialmix.tables"} <= set(MODULES)
    assert os.sep not in "".join(MODULES)
