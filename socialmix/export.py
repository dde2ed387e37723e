"""``socialmix export OUT BUNDLE``: the released material, and nothing else, for output checking.

A secure research environment releases results only after an output checker
has reviewed them. The export copies through an allow-list (``export.toml``:
which paths, which file types, how large) only tables that passed disclosure
control, the figures and the report, under the OUT's one rule set
(``OUT/measures/disclosure_rules.toml``). It refuses, with a
:class:`~panel.errors.DisclosureError` naming the file and the problem (never
a value):

* anything that holds microdata: a denied path (the panel, moves), an
  identifier column, a person-level table, a table that did not go through
  :mod:`queries.disclosure`, a published cell below the person threshold, a
  share of 0 or 1 in a small cell, an estimate or test on too few clusters;
* a file that differs from what the stage that wrote it recorded in
  ``manifest.json`` (a table edited or rewritten outside the pipeline), or a
  stage made under other disclosure rules than the OUT now holds;
* rules below the profile's floor, unless the rules file allowed the export.

What it leaves out it lists, with the reason, in ``MANIFEST.txt`` and on the
console: files no stage recorded, SVG (blocked by default, as ACRO does: a
vector file can carry text and data), tables not chosen with ``--tables``,
the full disclosure reports (summarised in ``disclosure_summary.csv``; the
full files with ``--full-report``), and everything the allow-list does not
name. ``MANIFEST.txt`` lists every released file with its sha256
(``sha256sum -c`` format); ``manifest.json`` carries the provenance of OUT's
stages plus the export, with absolute paths made relative to OUT.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from panel.atomic import staged_dir, staged_file
from panel.config import load_config
from panel.errors import DisclosureError, SocialmixError
from panel.provenance import MANIFEST_NAME, environment, files_matching, hash_file, read_manifest, run_stage
from queries.disclosure import Rules
from queries.disclosure_rules import RULES_DIR, RULES_TOML, load_rules
from queries.run import share_measures
from socialmix.export_checks import check_table, check_type, disclosure_summary, match

MANIFEST_TXT = "MANIFEST.txt"
SUMMARY = "disclosure_summary.csv"
RULES_REL = f"{RULES_DIR}/{RULES_TOML}"


def select(out: Path, policy: dict[str, Any]) -> list[str]:
    """Relative paths under ``out`` that the include patterns name, sorted."""
    found = {p.relative_to(out).as_posix() for pat in policy["include"] for p in out.glob(pat) if p.is_file()}
    return sorted(r for r in found if not any(part.startswith(".") for part in r.split("/")))


def vouched(out: Path) -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    """``{rel: (sha256, stage)}`` of every output a stage recorded (latest stage wins), and the stages."""
    stages = {k: v for k, v in read_manifest(out)["stages"].items() if k != "export" and isinstance(v, dict)}
    known: dict[str, tuple[str, str]] = {}
    for name, entry in sorted(stages.items(), key=lambda kv: str(kv[1].get("finished", ""))):
        for rel, rec in entry.get("outputs", {}).items():
            known[rel] = (rec.get("sha256", ""), name)
    return known, stages


def _rules(out: Path) -> Rules:
    """The OUT's rule set; below the profile's floor only if its rules file allowed the export."""
    rules = load_rules(out)
    if rules.below_floor and not rules.export_below_floor:
        raise DisclosureError(f"the release was made below the {rules.profile} profile's floor "
                              f"({', '.join(rules.below_floor)}; reason given: {rules.reason!r}); export is refused "
                              "unless the rules file says export_below_floor = true", file=RULES_REL)
    return rules


def _check_stages(out: Path, chosen: list[str], known: dict[str, tuple[str, str]], stages: dict[str, Any]) -> None:
    """Every shipped file as its stage recorded it; every stage made under the OUT's current rules."""
    for rel in chosen:
        digest, stage = known[rel]
        if hash_file(out / rel)[0] != digest:
            raise DisclosureError(f"differs from what the {stage} stage recorded in {MANIFEST_NAME}: it was changed "
                                  f"after that stage ran; rerun `socialmix {stage}`", file=rel)
    current = hash_file(out / RULES_REL)[0]
    shipping = {known[rel][1] for rel in chosen}
    for name in sorted(shipping):
        rec = stages[name].get("inputs", {}).get("OUT", {}).get("files", {}).get(RULES_REL)
        if rec is not None and rec.get("sha256") != current:
            raise DisclosureError(f"the {name} stage ran under other disclosure rules than {RULES_REL} now holds; "
                                  f"rerun `socialmix {name}`", file=f"{name} stage")


def _relative(value: Any, out: Path) -> Any:
    """``value`` with every absolute path string made relative to OUT (recursively)."""
    base = out.resolve()

    def rel(text: str) -> str:
        if not (os.path.isabs(text) or re.match(r"^[A-Za-z]:[\\/]", text)):
            return text
        try:
            return Path(os.path.relpath(text, base)).as_posix()
        except ValueError:  # another drive on Windows
            return Path(text).name

    if isinstance(value, dict):
        return {k: _relative(v, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, out) for v in value]
    if isinstance(value, str):
        if "=" in value and value.startswith("-"):
            opt, _, arg = value.partition("=")
            return f"{opt}={rel(arg)}"
        return rel(value)
    return value


def _plan(out: Path, policy: dict[str, Any], *, tables: list[str] | None, full_report: bool, allow_svg: bool
          ) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """(files to check and ship, disclosure reports to summarise, {reason: skipped files})."""
    candidates = select(out, policy)
    skipped: dict[str, list[str]] = defaultdict(list)
    reports = [r for r in candidates if Path(r).name == "disclosure_report.csv"]
    stems = {Path(r).stem for r in candidates if r.endswith(".csv") and r not in reports}
    if tables is not None:
        unknown = sorted(set(tables) - stems - {"report"})
        if unknown:
            raise SocialmixError(f"--tables: no released table {', '.join(unknown)}; "
                                 f"choose from {', '.join(sorted(stems | {'report'}))}")
    figure_source = {}
    index = out / "figures" / "index.csv"
    if index.is_file():
        import csv

        with open(index, newline="", encoding="utf-8") as fh:
            figure_source = {f"figures/{r['file']}": Path(r.get("source", "")).stem for r in csv.DictReader(fh)}
    chosen = []
    for rel in candidates:
        if match(rel, policy["deny"]):
            raise DisclosureError("is on the export deny-list (microdata)", file=rel)
        if rel.lower().endswith(".svg") and not allow_svg:
            skipped["SVG is blocked by default, as ACRO does (a vector file can hide text and data); "
                    "--allow-svg ships it"].append(rel)
        elif rel in reports and not full_report:
            skipped[f"summarised in {SUMMARY} (counts by table); --full-report ships the full file"].append(rel)
        elif tables is not None and not _selected(rel, tables, figure_source):
            skipped["not selected with --tables"].append(rel)
        else:
            chosen.append(rel)
    if tables is not None and "figures/index.csv" in chosen and not any(r.startswith("figures/") and r != "figures/index.csv"
                                                                        for r in chosen):
        chosen.remove("figures/index.csv")
        skipped["not selected with --tables"].append("figures/index.csv")
    taken = set(candidates)
    for f in files_matching(out, ["**"]):
        rel = f.relative_to(out).as_posix()
        if rel in taken or rel == MANIFEST_NAME:
            continue
        if "/internal/" in f"/{rel}":
            skipped["internal disclosure reasons, never exported"].append(rel)
        elif match(rel, policy["deny"]):
            skipped["microdata (on the export deny-list), never exported"].append(rel)
        else:
            skipped["not on the export allow-list (export.toml include)"].append(rel)
    return chosen, reports, skipped


def _selected(rel: str, tables: list[str], figure_source: dict[str, str]) -> bool:
    """Whether ``--tables`` keeps ``rel``: the rules always, figures by their source table, the report by name."""
    if rel == f"{RULES_DIR}/disclosure_rules.txt":
        return True
    if rel == "report.html":
        return "report" in tables
    if rel.startswith("figures/"):
        return rel == "figures/index.csv" or figure_source.get(rel) in tables
    return Path(rel).stem in tables


def _skip_lines(skipped: dict[str, list[str]]) -> list[str]:
    """One line per reason and folder: ``panel/** (12 files)`` rather than twelve lines."""
    lines = []
    for reason, rels in sorted(skipped.items()):
        by_dir: dict[str, list[str]] = defaultdict(list)
        for r in sorted(rels):
            by_dir[r.split("/")[0] if "/" in r and len(rels) > 5 else r].append(r)
        for head, items in by_dir.items():
            what = f"{head}/** ({len(items)} files)" if len(items) > 1 else items[0]
            lines.append(f"skipped {what}: {reason}")
    return lines


def _manifest_text(out: Path, files: dict[str, str], rules: Rules, policy: dict[str, Any],
                   skipped: list[str]) -> str:
    env = environment()
    git = env["git"]["commit"][:12] if env["git"] else "no git"
    lines = [
        "# socialmix export: files released for output checking",
        f"# source OUT: {out.resolve().name}",
        f"# socialmix {env['socialmix']} ({git}), Python {env['python']}",
        f"# disclosure {rules.describe()}",
        f"# rules from OUT/{RULES_REL} ({rules.source})",
        f"# threshold: published cells need n >= {rules.min_persons} persons; estimates >= {rules.min_clusters} "
        f"clusters and >= {rules.min_obs} observations",
        "# export checks: every file as its stage recorded it in manifest.json (sha256); allow-listed paths and "
        f"types with size caps ({', '.join(f'{k} {int(v):,} B' for k, v in policy['max_bytes'].items())}); "
        "no denied path; no identifier or person-level columns; tables carry 'suppressed' and pass "
        "queries.disclosure.check_released; estimate and test rows pass the minimum-cluster rule",
        f"# {MANIFEST_NAME} (not listed: it records this file's hash) holds the provenance of every stage: "
        "versions, configuration (user files by sha256 and text), command lines, names, sizes, row counts and "
        "sha256 of the files read and written, paths relative to OUT; no data values",
    ]
    lines += [f"# {s}" for s in skipped]
    lines.append(f"# {len(files)} files; verify with: grep -v '^#' {MANIFEST_TXT} | sha256sum -c")
    lines += [f"{digest}  {rel}" for rel, digest in sorted(files.items())]
    return "\n".join(lines) + "\n"


def export(out: str | Path, bundle: str | Path, *, tables: list[str] | None = None, full_report: bool = False,
           allow_svg: bool = False) -> None:
    """Copy the released material of ``out`` into ``bundle`` after the disclosure and provenance checks.

    All checks run before anything is written; the bundle is written atomically
    and, if it existed as an earlier bundle, replaced whole.

    Examples
    --------
    >>> export("OUT", "BUNDLE", tables=["measures", "estimates"])  # doctest: +SKIP
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
    rules = _rules(out)
    known, stages = vouched(out)
    chosen, reports, skipped = _plan(out, policy, tables=tables, full_report=full_report, allow_svg=allow_svg)
    if not chosen:
        raise SocialmixError("nothing to export (no tables, figures or report); run the pipeline first", file=out)
    shares = share_measures()
    for rel in chosen:
        path = out / rel
        check_type(path, rel, policy)
        if path.suffix.lower() == ".csv":
            check_table(path, rel, policy, rules, shares)
    for rel in [r for r in chosen if r not in known]:
        chosen.remove(rel)
        skipped[f"no stage recorded it in {MANIFEST_NAME} (not written by the pipeline)"].append(rel)
    if not chosen:
        raise SocialmixError(f"nothing to export: no released file is recorded in {MANIFEST_NAME}; "
                             "run the pipeline with the socialmix commands", file=out)
    _check_stages(out, chosen, known, stages)
    keep = None if tables is None else set(tables)
    summary = disclosure_summary(out, reports, keep) if reports else None
    digests = {rel: hash_file(out / rel)[0] for rel in chosen}
    skip_lines = _skip_lines(skipped)
    old = {p.name for p in bundle.iterdir()} if bundle.exists() else set()

    def work() -> None:
        with staged_dir(bundle) as tmp:
            for rel in chosen:
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / rel, tmp / rel)
            if summary is not None:
                summary.write_csv(tmp / SUMMARY)
                digests[SUMMARY] = hash_file(tmp / SUMMARY)[0]
            (tmp / MANIFEST_TXT).write_text(_manifest_text(out, digests, rules, policy, skip_lines), encoding="utf-8")
            src = read_manifest(out)
            src["stages"] = {k: v for k, v in src["stages"].items() if k != "export"}
            (tmp / MANIFEST_NAME).write_text(json.dumps(_relative(src, out), indent=2, default=str) + "\n",
                                             encoding="utf-8")
            new = {p.name for p in tmp.iterdir()}
        for name in sorted(old - new):  # entries of an earlier bundle that this export does not hold
            stale = bundle / name
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    run_stage("export", bundle, work, inputs={"OUT": (out, [out / r for r in chosen])},
              outputs=[*chosen, MANIFEST_TXT, *([SUMMARY] if summary is not None else [])],
              config={"rules": rules.__dict__, "policy": policy, "tables": tables, "full_report": full_report,
                      "allow_svg": allow_svg},
              command=["socialmix", "export", "OUT", "BUNDLE"])
    man = bundle / MANIFEST_NAME  # the export's own entry names OUT by absolute path too: relative in the bundle
    text = json.dumps(_relative(json.loads(man.read_text(encoding="utf-8")), out), indent=2, default=str) + "\n"
    with staged_file(man) as tmp:
        tmp.write_text(text, encoding="utf-8")
    size = sum((bundle / r).stat().st_size for r in digests)
    for line in skip_lines:
        print(line)
    print(f"export: {len(digests)} files ({size / 1e6:.1f} MB) in {bundle}/, listed with sha256 in "
          f"{bundle / MANIFEST_TXT}; disclosure profile {rules.profile} (n >= {rules.min_persons})")
