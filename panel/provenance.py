"""Provenance: what went into and came out of every stage, in ``manifest.json``.

A secure research environment's output checker (and the researcher a year
later) must be able to tell which delivery, configuration and code produced a
table. Each stage owns one entry of the folder's ``manifest.json``; the entry
holds the environment (package, git commit, Python and library versions), the
resolved configuration with its sha256, the command line, the sha256 and row
count of every input file and the sha256 of every output file. The same
hashes let ``--resume`` skip a stage whose inputs, configuration and outputs
are all unchanged.

Stage code stays pure: :func:`run_stage` wraps a zero-argument callable, so
the command line decides what a stage reads and writes. A stage function
called from Python (``run_did(out, config=plan)``) records itself through the
:func:`recorded` decorator, so the manifest never vouches for outputs an
earlier run wrote; a user's configuration file (a DiD plan, a figure style,
a rules file) is recorded by :func:`user_file` with its sha256 and text. Hashing is streamed
in 1 MiB chunks and memoised per (path, size, mtime) within a process, so a
panel written by ``build`` is hashed once when ``measures`` reads it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from panel.atomic import staged_file

log = logging.getLogger("socialmix")

MANIFEST_NAME = "manifest.json"
FORMAT = 1
CHUNK = 1 << 20
HASH_THREADS = 4  # at most; never more than the cores
LIBRARIES = ("polars", "pyarrow", "numpy", "statsmodels", "linearmodels", "matplotlib", "rich", "pyreadstat", "xlsxwriter")

USER_FILE_TEXT_MAX = 200_000  # bytes of a user's config file copied into the manifest (larger: hash only)

_hash_memo: dict[tuple[str, int, int, int], tuple[str, int | None]] = {}
# True while run_stage runs a stage's work: a @recorded function called inside it does not record twice.
_in_stage: contextvars.ContextVar[bool] = contextvars.ContextVar("socialmix_in_stage", default=False)


# ---------------------------------------------------------------- hashing
def _rows_csv(chunks_newlines: int, last_byte: bytes) -> int:
    """Data rows of a CSV from its newline count (header excluded, last line may lack a newline)."""
    lines = chunks_newlines + (1 if last_byte not in (b"", b"\n") else 0)
    return max(lines - 1, 0)


def _parquet_rows(path: Path) -> int | None:
    import pyarrow.parquet as pq

    try:
        return int(pq.read_metadata(path).num_rows)
    except Exception:  # noqa: BLE001 - a malformed file still gets a hash; its row count is unknown
        return None


def hash_file(path: str | Path) -> tuple[str, int | None]:
    """Return (sha256 hex, rows) of a file, reading it in 1 MiB chunks.

    Rows come from parquet metadata (never the data) or, for CSV, from the
    newline count gathered in the same pass; other files have ``None``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,b\\n1,2\\n3,4\\n")
    >>> hash_file(p)[1]
    2
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _hash_memo:
        return _hash_memo[key]
    csv = path.suffix.lower() == ".csv"
    h = hashlib.sha256()
    newlines, last = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            if csv:
                newlines += chunk.count(b"\n")
                last = chunk[-1:]
    rows: int | None
    if csv:
        rows = _rows_csv(newlines, last)
    elif path.suffix.lower() == ".parquet":
        rows = _parquet_rows(path)
    else:
        rows = None
    _hash_memo[key] = (h.hexdigest(), rows)
    return _hash_memo[key]


def files_matching(root: str | Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``root`` matching any glob (``**`` recurses); hidden staging entries excluded."""
    root = Path(root)
    found: set[Path] = set()
    for pattern in patterns:
        if pattern.endswith("**"):  # before Python 3.13 a trailing ** matches directories only
            pattern += "/*"
        for p in root.glob(pattern):
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts):
                found.add(p)
    return sorted(found)


def hash_files(root: str | Path, files: Iterable[str | Path]) -> dict[str, dict[str, Any]]:
    """``{path relative to root: {"sha256", "bytes", "rows"}}`` for the given files, by key.

    Files are hashed in parallel threads (hashlib releases the GIL on large
    chunks): gigabytes of registers hash in half the time on two cores, and the
    stage waits for its input hashes before it starts.
    """
    root = Path(root)
    paths = [Path(f) for f in files]
    workers = max(1, min(HASH_THREADS, os.cpu_count() or 1, len(paths)))
    big_first = sorted(paths, key=lambda f: -f.stat().st_size)  # the threads finish together
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(big_first, pool.map(hash_file, big_first), strict=True))
    out: dict[str, dict[str, Any]] = {}
    for f in paths:
        digest, rows = done[f]
        rel = f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f)
        out[rel] = {"sha256": digest, "bytes": f.stat().st_size, "rows": rows}
    return out


def user_file(path: str | Path | None) -> dict[str, Any] | None:
    """A user's configuration file as the manifest records it: name, sha256, bytes and its text.

    The text is kept (up to :data:`USER_FILE_TEXT_MAX` bytes of UTF-8) so the
    checker can see what the plan said, not only that it was some file.
    """
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        return {"name": p.name, "missing": True}
    data = p.read_bytes()
    rec: dict[str, Any] = {"name": p.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if len(data) <= USER_FILE_TEXT_MAX:
        try:
            rec["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return rec


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of a configuration in canonical JSON (sorted keys), so key order does not matter."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- environment
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> dict[str, Any] | None:
    """Commit (and dirtiness) of the socialmix source tree, or None without git or outside a checkout.

    Only a repository whose top level holds this very file counts, so a
    venv that happens to live inside some other repository reports None.
    """
    here = Path(__file__).resolve()

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(here.parent), *args], capture_output=True,  # noqa: S603,S607
                                 text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or (Path(top) / "panel" / "provenance.py").resolve() != here:
        return None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def environment() -> dict[str, Any]:
    """Package, git, Python and library versions of this process."""
    return {
        "socialmix": _version("socialmix"),
        "git": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": {name: _version(name) for name in LIBRARIES},
    }


# ---------------------------------------------------------------- manifest
def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of ``folder``; an empty one if absent or unreadable (logged)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return {"format": FORMAT, "stages": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        log.warning("%s is not valid JSON; starting a new manifest", path)
        return {"format": FORMAT, "stages": {}}
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        return {"format": FORMAT, "stages": {}}
    return data


def write_stage(folder: str | Path, stage: str, entry: Mapping[str, Any]) -> Path:
    """Replace the entry of ``stage`` in ``folder``/manifest.json, atomically; other stages are kept."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    manifest["format"] = FORMAT
    manifest["socialmix"] = entry.get("environment", {}).get("socialmix")
    manifest["updated"] = entry.get("finished")
    manifest["stages"][stage] = dict(entry)
    path = folder / MANIFEST_NAME
    with staged_file(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def stage_unchanged(
    folder: str | Path,
    stage: str,
    *,
    config_hash: str,
    inputs: Mapping[str, Mapping[str, Any]],
    outputs: Iterable[str],
) -> bool:
    """True when the recorded run of ``stage`` had this config and these inputs, and its outputs are intact.

    ``inputs`` maps a root label (``REG``, ``OUT``) to ``{"files": {rel: record}}``;
    files are compared by relative path and sha256, so a delivery moved to a
    new folder unchanged still counts as unchanged.
    """
    folder = Path(folder)
    old = read_manifest(folder)["stages"].get(stage)
    if not old or old.get("config_sha256") != config_hash:
        return False

    def digests(tree: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
        return {label: {rel: rec["sha256"] for rel, rec in root.get("files", {}).items()}
                for label, root in tree.items()}

    if digests(old.get("inputs", {})) != digests(inputs):
        return False
    recorded = {rel: rec["sha256"] for rel, rec in old.get("outputs", {}).items()}
    if not recorded:
        return False
    present = hash_files(folder, [f for f in files_matching(folder, outputs) if f != folder / MANIFEST_NAME])
    return {rel: rec["sha256"] for rel, rec in present.items()} == recorded


def run_stage(
    stage: str,
    out: str | Path,
    work: Callable[[], object],
    *,
    inputs: Mapping[str, tuple[str | Path, Iterable[str | Path]]],
    outputs: Iterable[str],
    config: Mapping[str, Any],
    command: list[str],
    resume: bool = False,
) -> bool:
    """Run ``work`` (one stage writing into ``out``) and record it; return False if skipped by ``resume``.

    ``inputs`` maps a label to ``(root, files)``: the files the stage reads,
    hashed before it runs. ``outputs`` are globs relative to ``out`` hashed
    after it. ``config`` is everything besides the inputs that decides the
    result (resolved config, options, package version); its sha256 is the
    resume key.

    Examples
    --------
    >>> run_stage("measures", "OUT", lambda: None, inputs={}, outputs=["measures/**"],
    ...           config={"min_cell": 5}, command=["socialmix", "measures", "OUT"])  # doctest: +SKIP
    True
    """
    outputs = list(outputs)
    t0 = time.perf_counter()
    in_tree = {label: {"path": str(Path(root).resolve()), "files": hash_files(root, files)}
               for label, (root, files) in inputs.items()}
    key = config_sha256(config)
    hash_seconds = time.perf_counter() - t0
    if resume and stage_unchanged(out, stage, config_hash=key, inputs=in_tree, outputs=outputs):
        return False
    started = _now()
    t1 = time.perf_counter()
    token = _in_stage.set(True)
    try:
        work()
    finally:
        _in_stage.reset(token)
    seconds = time.perf_counter() - t1
    t2 = time.perf_counter()
    written = hash_files(out, [f for f in files_matching(out, outputs) if f != Path(out) / MANIFEST_NAME])
    hash_seconds += time.perf_counter() - t2
    write_stage(out, stage, {
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "hash_seconds": round(hash_seconds, 3),
        "command": list(command),
        "environment": environment(),
        "config": dict(config),
        "config_sha256": key,
        "inputs": in_tree,
        "outputs": written,
    })
    return True


def _plain(value: Any) -> Any:
    """An option value as JSON-friendly data (dataclasses as dicts, paths as strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    return value


def recorded(stage: str, *, inputs: Iterable[str], outputs: Iterable[str],
             files: Iterable[str] = ("config",)) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a stage function ``f(out, ...)`` so a direct call records its manifest entry.

    Called under :func:`run_stage` (the command line) it just runs; called
    from Python it runs under :func:`run_stage` itself, with ``inputs`` and
    ``outputs`` (globs relative to OUT, as in ``socialmix/stages.toml``) and
    its keyword options as the configuration; the keyword arguments named in
    ``files`` are user files, recorded by :func:`user_file`.
    """
    inputs, outputs, files = list(inputs), list(outputs), set(files)

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        def inner(out: str | Path, *args: Any, **kwargs: Any) -> Any:
            if _in_stage.get():
                return func(out, *args, **kwargs)
            options = {k: (user_file(v) if k in files else _plain(v)) for k, v in kwargs.items()}
            result: list[Any] = []
            run_stage(stage, out, lambda: result.append(func(out, *args, **kwargs)),
                      inputs={"OUT": (out, files_matching(out, inputs))}, outputs=outputs,
                      config={"function": name, "args": [_plain(a) for a in args], "options": options},
                      command=[name])
            return result[0] if result else None

        inner.stage_files = {"inputs": inputs, "outputs": outputs}  # type: ignore[attr-defined]
        return inner

    return wrap
