"""Configuration as data: TOML shipped in a package, overridable by a user file.

A user file only needs the keys it changes; tables are merged key by key
into the shipped defaults, so a statistician can rename one column for one
year without copying the whole register config.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from panel.errors import SocialmixError


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in (tables recursively, values replaced).

    Examples
    --------
    >>> deep_merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}})
    {'a': {'x': 1, 'y': 3}}
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a user TOML file with an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise SocialmixError("config file not found", file=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SocialmixError(f"not valid TOML ({err})", file=path) from None


def load_config(package: str, name: str, override: str | Path | None = None) -> dict[str, Any]:
    """Load the TOML ``name`` shipped in ``package``, merged with an optional user file."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    base = tomllib.loads(text)
    if override is None:
        return base
    return deep_merge(base, read_toml(override))
