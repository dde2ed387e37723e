"""Configuration as data: TOML shipped in a package, overridable by a user file.

A user file only needs the keys it changes; tables are merged key by key
into the shipped defaults, so a statistician can rename one column for one
year without copying the whole register config.

The shipped file is also the schema of its overrides: a key of the user file
that the shipped file does not have is an error naming the file, the table
and the key, with the nearest known key suggested — a typo
(``[registers.akmm.column_years]``) would otherwise be merged in and ignored.
Tables whose keys are data rather than names (year ranges, code-list
categories, CPI years) are declared open once, at the top of the shipped
file, with dotted paths where ``*`` stands for any one key::

    _open = ["codes", "registers.*.column_years"]

Inside an open table any key is accepted and nothing below it is checked.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from panel.errors import SocialmixError

OPEN_KEY = "_open"


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
    except UnicodeDecodeError:
        raise SocialmixError("not valid TOML (the file is not UTF-8 text)", file=path) from None


def shipped_config(package: str, name: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The TOML ``name`` shipped in ``package`` and its declared open tables (``_open``, removed)."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    base = tomllib.loads(text)
    open_paths = base.pop(OPEN_KEY, [])
    return base, tuple(open_paths)


def _is_open(path: Sequence[str], open_paths: Sequence[str]) -> bool:
    for pattern in open_paths:
        parts = pattern.split(".")
        if len(parts) == len(path) and all(p in ("*", k) for p, k in zip(parts, path, strict=True)):
            return True
    return False


def _table(path: Sequence[str]) -> str:
    return f"[{'.'.join(path)}]" if path else "the top level"


def check_keys(override: dict[str, Any], schema: dict[str, Any], *, source: str | Path,
               open_paths: Sequence[str] = (), path: Sequence[str] = ()) -> None:
    """Fail on the first key of ``override`` that ``schema`` (the shipped file) does not know.

    Examples
    --------
    >>> check_keys({"registers": {"akmm": {}}}, {"registers": {"akm": {}, "ind": {}}}, source="my.toml")
    Traceback (most recent call last):
    ...
    panel.errors.SocialmixError: my.toml: unknown key 'akmm' in [registers] (did you mean 'akm'?)
    """
    if _is_open(path, open_paths):
        return
    for key, value in override.items():
        here = (*path, key)
        if key not in schema:
            if key == OPEN_KEY and not path:
                raise SocialmixError(f"'{OPEN_KEY}' is declared by the shipped file only", file=source)
            near = difflib.get_close_matches(key, [str(k) for k in schema], n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(map(str, schema)) or 'none'}"
            raise SocialmixError(f"unknown key '{key}' in {_table(path)} ({hint})", file=source)
        want = schema[key]
        if isinstance(want, dict) != isinstance(value, dict):
            kind = "a table" if isinstance(want, dict) else "a value, not a table"
            raise SocialmixError(f"'{key}' in {_table(path)} must be {kind}", file=source)
        if isinstance(value, dict):
            check_keys(value, want, source=source, open_paths=open_paths, path=here)


def load_config(package: str, name: str, override: str | Path | None = None) -> dict[str, Any]:
    """Load the TOML ``name`` shipped in ``package``, merged with an optional user file (keys checked).

    Examples
    --------
    >>> load_config("panel", "check.toml")["measures"]["income"]["lookups"]
    ['cpi']
    """
    base, open_paths = shipped_config(package, name)
    if override is None:
        return base
    user = read_toml(override)
    check_keys(user, base, source=override, open_paths=open_paths)
    return deep_merge(base, user)
