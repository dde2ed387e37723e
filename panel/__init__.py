"""panel: DST register files -> the person-year panel, move events and the reconciliation.

Importing ``queries``, ``analyses`` or ``socialmix`` checks (:func:`check_install`)
that the four top-level packages come from the same installation: a ``queries.py`` or an ``analyses/``
folder in the user's working directory (a common layout of an evaluation
project) would otherwise shadow socialmix's package and fail later with an
obscure "'queries' is not a package".
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGES = ("panel", "queries", "analyses", "socialmix")


def check_install() -> None:
    """Raise a one-line ImportError naming the file that shadows one of socialmix's packages, and the fix."""
    home = Path(__file__).resolve().parent.parent
    for name in PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        where = spec.origin if spec is not None and spec.origin else None
        if where is None and spec is not None and spec.submodule_search_locations:
            where = list(spec.submodule_search_locations)[0]
        if where is not None:
            path = Path(where).resolve()
            if (path.parent if path.is_file() else path).parent == home:
                continue
        found = where or "nothing (a partial install)"
        raise ImportError(
            f"socialmix: the import name '{name}' resolves to {found}, not to socialmix's package in {home}: "
            f"rename that file or folder, or keep your own scripts in a folder with another name "
            f"(e.g. 'evaluation/'), see the README section 'Your own scripts'")
