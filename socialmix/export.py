"""``socialmix export OUT BUNDLE``: the released material, and nothing else, for output checking.

A secure research environment releases results only after an output checker
has reviewed them. The export copies through an allow-list (``export.toml``:
which paths, which file types, how large) only tables that passed disclosure
control, the figures and the report; it refuses, with a
:class:`~panel.errors.DisclosureError` naming the file and the problem (never
a value), anything that holds microdata: a denied path (the panel, moves), an
identifier column, a person-level table, a table that did not go through
:mod:`queries.disclosure`, a published cell below the person threshold or an
estimate on too few clusters. ``MANIFEST.txt`` lists every released file with
its sha256 (``sha256sum -c`` format) and the disclosure rules applied;
``manifest.json`` carries the provenance of OUT's stages plus the export.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from panel.atomic import staged_dir
from panel.config import load_config
from panel.errors import DisclosureError, SocialmixError
from panel.provenance import MANIFEST_NAME, environment, hash_file, read_manifest, run_stage
from queries.disclosure import FORBIDDEN_COLUMNS, Rules, check_estimate, check_released, load_rules

MANIFEST_TXT = "MANIFEST.txt"
_MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-"}


def _match(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) or (p.endswith("/**") and rel.startswith(p[:-2])) for p in patterns)


def select(out: Path, policy: dict[str, Any]) -> list[str]:
    """Relative paths under ``out`` that the include patterns name, sorted."""
    found = {p.relative_to(out).as_posix() for pat in policy["include"] for p in out.glob(pat) if p.is_file()}
    return sorted(r for r in found if not any(part.startswith(".") for part in r.split("/")))


def rules_for(out: Path, policy: dict[str, Any]) -> tuple[Rules, str]:
    """The disclosure rules the measures were protected with (from OUT/manifest.json), else the policy's."""
    opts = read_manifest(out)["stages"].get("measures", {}).get("config", {}).get("options", {})
    if opts.get("profile"):
        return load_rules(opts["profile"], opts.get("min_cell")), "OUT/manifest.json (measures stage)"
    return load_rules(policy["disclosure"]["profile"]), "socialmix/export.toml (no measures stage recorded)"


def _check_type(path: Path, rel: str, policy: dict[str, Any]) -> None:
    suffix = path.suffix.lower()
    caps = policy["max_bytes"]
    if suffix not in caps:
        raise DisclosureError(f"file type {suffix or '(none)'} is not on the export allow-list", file=rel)
    size = path.stat().st_size
    if size > int(caps[suffix]):
        raise DisclosureError(f"{size:,} bytes exceeds the {int(caps[suffix]):,}-byte cap for {suffix} files", file=rel)
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PAR1"):
        raise DisclosureError("is a parquet file (a data file, not a released table)", file=rel)
    if suffix in _MAGIC and not head.startswith(_MAGIC[suffix]):
        raise DisclosureError(f"content is not a {suffix[1:].upper()} file", file=rel)
    if suffix in (".csv", ".html", ".svg", ".txt"):
        if b"\x00" in head:
            raise DisclosureError("content is binary, not text", file=rel)
        if suffix == ".svg" and b"<svg" not in head:
            raise DisclosureError("content is not an SVG file", file=rel)


def _check_table(path: Path, rel: str, policy: dict[str, Any], rules: Rules) -> None:
    """Content checks of a released CSV table; messages name columns and counts, never values."""
    t = policy["tables"]
    try:
        df = pl.read_csv(path, infer_schema_length=None, null_values=["", "NA", "null"])
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as err:
        raise DisclosureError(f"cannot be read as a CSV table ({type(err).__name__})", file=rel) from None
    lower = {c.lower(): c for c in df.columns}
    ids = sorted(lower[c] for c in lower if c in FORBIDDEN_COLUMNS | {x.lower() for x in t["identifier_columns"]})
    if ids:
        raise DisclosureError(f"identifier column(s) {', '.join(ids)} in a released table", file=rel)
    person = sorted(lower[c] for c in lower if c in {x.lower() for x in t["person_level_columns"]})
    if len(person) >= int(t["person_level_min"]) and "n" not in lower:
        raise DisclosureError(f"looks like a person-level table (columns {', '.join(person)}, no n)", file=rel)
    if _match(rel, t["require_suppressed"]) and not _match(rel, t["exempt"]) and "suppressed" not in df.columns:
        raise DisclosureError("has no 'suppressed' column: it did not pass disclosure control", file=rel)
    if "suppressed" in df.columns:
        if df["suppressed"].dtype != pl.Boolean:
            raise DisclosureError("'suppressed' is not a true/false column", file=rel, column="suppressed")
        try:
            check_released(df, rules, name=rel)
        except DisclosureError as err:
            raise DisclosureError(err.problem.replace(f"release {rel!r}", "released table").lstrip(": "),
                                  file=rel) from None
    ec = t["estimate_columns"]
    if {ec["units"], ec["obs"]} <= set(df.columns):
        est = df.filter(pl.col(ec["units"]).is_not_null() & pl.col(ec["obs"]).is_not_null())
        if ec["value"] in df.columns:
            est = est.filter(pl.col(ec["value"]).is_not_null())
        keys = [ec["units"], ec["obs"]]
        est = est.select(pl.col(k).cast(pl.Int64, strict=False) for k in keys).drop_nulls()
        reasons = {(u, o): check_estimate(u, o, rules) for u, o in est.unique().iter_rows()}
        bad = [k for k, why in reasons.items() if why]
        if bad:
            n_bad = est.join(pl.DataFrame(bad, schema={k: pl.Int64 for k in keys}, orient="row"), on=keys).height
            kinds = sorted({r.split(" ")[0] for k in bad for r in reasons[k]})
            raise DisclosureError(f"{n_bad} estimate rows fail the release rules for {', '.join(kinds)} "
                                  f"(profile {rules.profile})", file=rel)


def _manifest_text(out: Path, files: dict[str, str], rules: Rules, source: str, policy: dict[str, Any]) -> str:
    env = environment()
    git = env["git"]["commit"][:12] if env["git"] else "no git"
    lines = [
        "# socialmix export: files released for output checking",
        f"# source OUT: {out.resolve()}",
        f"# socialmix {env['socialmix']} ({git}), Python {env['python']}",
        f"# disclosure {rules.describe()}",
        f"# rules from {source}",
        f"# threshold: published cells need n >= {rules.min_persons} persons; estimates >= {rules.min_clusters} "
        f"clusters and >= {rules.min_obs} observations",
        "# export checks: allow-listed paths and types with size caps "
        f"({', '.join(f'{k} {int(v):,} B' for k, v in policy['max_bytes'].items())}); no denied path; "
        "no identifier or person-level columns; measures tables carry 'suppressed' and pass "
        "queries.disclosure.check_released; estimate rows pass check_estimate",
        f"# {MANIFEST_NAME} (not listed: it records this file's hash) holds the provenance of every stage: "
        "versions, configuration, command lines, names, sizes, row counts and sha256 of the files read "
        "and written; no data values",
        f"# {len(files)} files; verify with: grep -v '^#' {MANIFEST_TXT} | sha256sum -c",
    ]
    lines += [f"{digest}  {rel}" for rel, digest in sorted(files.items())]
    return "\n".join(lines) + "\n"


def export(out: str | Path, bundle: str | Path) -> None:
    """Copy the released material of ``out`` into ``bundle`` after the disclosure checks.

    All checks run before anything is written; the bundle is written atomically
    and, if it existed as an earlier bundle, replaced whole.

    Examples
    --------
    >>> export("OUT", "BUNDLE")  # doctest: +SKIP
    >>> print(open("BUNDLE/MANIFEST.txt").read())  # doctest: +SKIP
    """
    out, bundle = Path(out), Path(bundle)
    if not out.is_dir():
        raise SocialmixError("output folder not found", file=out)
    if bundle.resolve() == out.resolve() or out.resolve().is_relative_to(bundle.resolve()):
        raise SocialmixError("BUNDLE must not be OUT or contain it", file=bundle)
    if bundle.exists() and any(bundle.iterdir()) and not (bundle / MANIFEST_TXT).is_file():
        raise SocialmixError("exists and is not an earlier export bundle (no MANIFEST.txt); "
                             "choose a new folder", file=bundle)
    policy = load_config("socialmix", "export.toml")
    rules, source = rules_for(out, policy)
    chosen = select(out, policy)
    if not chosen:
        raise SocialmixError("nothing to export (no tables, figures or report); run the pipeline first", file=out)
    for rel in chosen:
        path = out / rel
        if _match(rel, policy["deny"]):
            raise DisclosureError("is on the export deny-list (microdata)", file=rel)
        _check_type(path, rel, policy)
        if path.suffix.lower() == ".csv":
            _check_table(path, rel, policy, rules)
    digests = {rel: hash_file(out / rel)[0] for rel in chosen}
    old = {p.name for p in bundle.iterdir()} if bundle.exists() else set()

    def work() -> None:
        with staged_dir(bundle) as tmp:
            for rel in chosen:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / rel, tmp / rel)
            (tmp / MANIFEST_TXT).write_text(_manifest_text(out, digests, rules, source, policy), encoding="utf-8")
            src = read_manifest(out)
            src["stages"] = {k: v for k, v in src["stages"].items() if k != "export"}
            (tmp / MANIFEST_NAME).write_text(json.dumps(src, indent=2, default=str) + "\n", encoding="utf-8")
            new = {p.name for p in tmp.iterdir()}
        for name in sorted(old - new):  # entries of an earlier bundle that this export does not hold
            stale = bundle / name
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    run_stage("export", bundle, work, inputs={"OUT": (out, [out / r for r in chosen])},
              outputs=[*chosen, MANIFEST_TXT],
              config={"rules": rules.__dict__, "rules_from": source, "policy": policy},
              command=["socialmix", "export", str(out), str(bundle)])
    size = sum((out / r).stat().st_size for r in chosen)
    print(f"export: {len(chosen)} files ({size / 1e6:.1f} MB) in {bundle}/, listed with sha256 in "
          f"{bundle / MANIFEST_TXT}; disclosure profile {rules.profile} (n >= {rules.min_persons})")
