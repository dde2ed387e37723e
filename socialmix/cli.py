"""The ``socialmix`` command line (contract §5): the one place composing all stages.

Each command is a thin wrapper around a stage function; imports are deferred
so ``--help`` is instant. A :class:`panel.errors.SocialmixError` becomes one
line on stderr and exit code 2; anything else exits 1, with the traceback only
under ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from socialmix import __version__

ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"  # polars' jemalloc reads it once, when polars is first loaded


def set_allocator(command: str) -> None:
    """Put the stage's allocator setting (``allocator`` in stages.toml) in the environment before polars loads.

    Polars' jemalloc returns freed memory to the kernel within moments, but the
    stages free and re-allocate year-sized buffers every second, so each year
    paid again in page faults. A value already in the environment wins, and
    nothing is changed once polars is loaded (it would have no effect). Polars
    uses jemalloc on Linux and macOS only (mimalloc on Windows), so elsewhere
    nothing is set.
    """
    if "polars" in sys.modules or not sys.platform.startswith(("linux", "darwin")):
        return
    from panel.config import load_config

    conf = load_config("socialmix", "stages.toml")["stages"].get(command, {}).get("allocator")
    if conf:
        os.environ.setdefault(ALLOCATOR_ENV, conf)

#: ASCII for the symbols our messages use, where the console's encoding lacks them (cp1252 has no "→")
ASCII_FALLBACK = {"→": "->", "←": "<-", "≥": ">=", "≤": "<=", "≠": "!=", "—": "-", "–": "-", "−": "-",
                  "×": "x", "…": "...", "·": ".", "±": "+/-", "²": "^2", "₀": "0", "₁": "1", "₂": "2", "₃": "3",
                  "‘": "'", "’": "'", "“": '"', "”": '"', "✓": "ok", "✗": "x"}
CONSOLE_ERRORS = "socialmix-ascii"


def _ascii_fallback(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = err.object[err.start:err.end]
    return "".join(ASCII_FALLBACK.get(ch, "?") for ch in text), err.end


def safe_console() -> None:
    """Make stdout and stderr degrade to ASCII instead of raising on a character the console cannot show.

    A redirected console on Windows encodes in cp1252 (or cp850), which has no
    "→" or "≥": a report of a problem must not die with UnicodeEncodeError
    exactly when there is a problem to report.
    """
    import codecs

    try:
        codecs.lookup_error(CONSOLE_ERRORS)
    except LookupError:
        codecs.register_error(CONSOLE_ERRORS, _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if enc != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=CONSOLE_ERRORS)


DEFAULT_YEARS = "2004-2013"
DEMO_PERSONS = 150_000


def _years(text: str) -> tuple[int, int]:
    try:
        y1, y2 = (int(x) for x in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--years must look like 2004-2013, got {text!r}") from None
    if y1 > y2:
        raise argparse.ArgumentTypeError(f"--years: first year {y1} is after last year {y2}")
    return y1, y2


def _disclosure_options(sp: argparse.ArgumentParser) -> None:
    """``--profile``, ``--min-cell``, ``--rules`` (contract §7), for measures, run and demo."""
    sp.add_argument("--profile", choices=("dst", "safe"), default="dst",
                    help="disclosure profile, the environment's floor (default %(default)s)")
    sp.add_argument("--min-cell", type=_positive_int, default=None,
                    help="smallest publishable cell; may only raise the profile's threshold")
    sp.add_argument("--rules", type=Path, default=None,
                    help="TOML overriding keys of the profile (queries/disclosure.toml); going below the "
                         "profile needs allow_below_floor = true and a reason in it")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ---------------------------------------------------------------- provenance and --resume
def _shipped_config(packages: Sequence[str]) -> dict:
    """Every TOML file shipped in ``packages`` (recursively), parsed: part of a stage's resume key."""
    import tomllib
    from importlib import resources

    found: dict = {}

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                walk(child, f"{prefix}/{child.name}")
            elif child.name.endswith(".toml"):
                found[f"{prefix}/{child.name}"] = tomllib.loads(child.read_text(encoding="utf-8"))

    for pkg in packages:
        try:
            walk(resources.files(pkg), pkg.replace(".", "/"))
        except ModuleNotFoundError:
            continue
    return found


def _stage(a: argparse.Namespace, name: str, out: Path, work: Callable[[], object], options: dict,
           *, reg: Path | None = None, src: Path | None = None, outputs: list[str] | None = None) -> None:
    """Run one stage under provenance (OUT/manifest.json) and, with --resume, skip it if unchanged.

    ``reg``: the build's register files are its inputs; ``src``: convert's SAS delivery is.
    """
    from panel.config import load_config
    from panel.provenance import files_matching, run_stage

    spec = load_config("socialmix", "stages.toml")["stages"][name]
    config = {"socialmix": __version__, "options": options, "shipped": _shipped_config(spec["configs"])}
    inputs = {}
    if reg is not None or src is not None:
        from panel.regconfig import load_register_config, lookup_files, register_files

        cfg = load_register_config(a.config)
        config["registers"] = cfg
    if reg is not None:
        paths = [f.path for f in register_files(reg, a.years, config=cfg)] + [lk.path for lk in lookup_files(reg, config=cfg)]
        inputs["REG"] = (reg, [p for p in paths if p.is_file()])
    if src is not None:
        inputs["SRC"] = (src, files_matching(src, ["**/*.sas7bdat", "**/*.SAS7BDAT", "lookup/**"]))
    if spec["inputs"]:
        inputs["OUT"] = (out, files_matching(out, spec["inputs"]))
    from panel.atomic import stage_name

    t0 = time.perf_counter()
    with stage_name(name):  # staging beside OUT is named after the stage (stale ones are recognised)
        ran = run_stage(name, out, work, inputs=inputs, outputs=outputs or spec["outputs"], config=config,
                        command=["socialmix", *getattr(a, "argv", [])], resume=getattr(a, "resume", False))
    if not ran:
        print(f"stage {name} unchanged, skipped")
    else:
        print(stage_summary(name, out, outputs or spec["outputs"], time.perf_counter() - t0), flush=True)


def stage_summary(name: str, out: Path, outputs: Sequence[str], seconds: float) -> str:
    """'build: 14 files, 1,234,567 rows, 12.3 s' — one line for a batch log, printed also without -v.

    Rows are those of the stage's parquet outputs (from their footers, so nothing is read) or, when it
    writes none, of its CSV tables.
    """
    from panel.provenance import MANIFEST_NAME, files_matching

    files = [f for f in files_matching(out, outputs) if f.name != MANIFEST_NAME]
    parquet = [f for f in files if f.suffix == ".parquet"]
    rows: int | None = None
    if parquet:
        import pyarrow.parquet as pq

        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in parquet)
    elif any(f.suffix == ".csv" for f in files):
        rows = 0
        for f in files:
            if f.suffix == ".csv":
                with open(f, "rb") as fh:
                    rows += max(sum(1 for _ in fh) - 1, 0)
    counted = f", {rows:,} rows" if rows is not None else ""
    audit = out / "measures" / "internal" / "audit.csv"
    if name == "measures" and audit.is_file():  # the interval audit's figures (queries/audit.py)
        import csv

        with open(audit, newline="", encoding="utf-8") as fh:
            fig = {r["figure"]: r["value"] for r in csv.DictReader(fh) if r["figure"] != "extension_block"}
        counted += (f"; audit: {int(fig['withheld_cells']):,} withheld, {int(fig['audited_cells']):,} audited, "
                    f"{int(fig['lps_solved']):,} LPs, {fig['extensions']} extensions, {float(fig['seconds']):.1f} s")
    return f"{name}: {len(files)} file{'' if len(files) == 1 else 's'}{counted}, {seconds:.1f} s"


# ---------------------------------------------------------------- commands
def cmd_synth(a: argparse.Namespace) -> None:
    from socialmix.synth import generate

    _stage(a, "synth", a.reg, lambda: generate(a.reg, persons=a.persons, seed=a.seed, effect=a.effect,
                                               years=a.years, register_config=a.config),
           {"persons": a.persons, "seed": a.seed, "effect": a.effect,
            **({"years": list(a.years)} if a.years else {})}, outputs=["**"])


def cmd_build(a: argparse.Namespace) -> None:
    from panel.build import build

    _stage(a, "build", a.out,
           lambda: build(a.reg, a.out, years=a.years, config=a.config, allow_unknown_codes=a.allow_unknown_codes),
           {"years": list(a.years), "allow_unknown_codes": a.allow_unknown_codes}, reg=a.reg)


def _measures_stage(a: argparse.Namespace, out: Path, config: Path | None = None) -> None:
    """The measures stage: it decides the OUT's disclosure rules (contract §7) before any work."""
    from panel.provenance import user_file
    from queries.disclosure_rules import decide_rules
    from queries.run import run_measures

    rules = decide_rules(a.profile, a.min_cell, a.rules)  # a bad option fails before anything runs
    _stage(a, "measures", out, lambda: run_measures(out, rules=rules, config=config),
           {"min_cell": a.min_cell, "profile": a.profile, "rules": user_file(a.rules), **_config_option(config)})


def cmd_measures(a: argparse.Namespace) -> None:
    _measures_stage(a, a.out, a.config)


def cmd_areas(a: argparse.Namespace) -> None:
    from queries.areas.run import run_areas
    from queries.disclosure import load_rules

    versions = a.versions or None
    _stage(a, "areas", a.out, lambda: run_areas(a.out, versions=versions, rules=load_rules(Path(a.out))),
           {"versions": versions})


def _areas_if_delivered(a: argparse.Namespace, out: Path) -> None:
    """The areas stage of ``run``/``demo``: only when the delivery held the area inputs (contract §8)."""
    from queries.areas.run import area_inputs_present, run_areas
    from queries.disclosure import load_rules

    missing = area_inputs_present(out)
    if missing:
        print(f"areas: skipped, the delivery lacks {missing}")
        return
    _stage(a, "areas", out, lambda: run_areas(out, rules=load_rules(out)), {"versions": None})


def cmd_did(a: argparse.Namespace) -> None:
    from analyses.did.run import run_did

    _stage(a, "did", a.out, lambda: run_did(a.out, bootstrap=a.bootstrap, seed=a.seed, config=a.config),
           {"bootstrap": a.bootstrap, "seed": a.seed, **_config_option(a.config)})


def cmd_figures(a: argparse.Namespace) -> None:
    from analyses.figures import run_figures

    _stage(a, "figures", a.out, lambda: run_figures(a.out, lang=a.lang, fmt=a.format, config=a.config),
           {"lang": a.lang, "format": a.format, **_config_option(a.config)})


def cmd_report(a: argparse.Namespace) -> None:
    from analyses.report import write_report

    _stage(a, "report", a.out, lambda: write_report(a.out, lang=a.lang, config=a.config),
           {"lang": a.lang, **_config_option(a.config)})


def cmd_tables(a: argparse.Namespace) -> None:
    from socialmix.tables import write_tables

    _stage(a, "tables", a.out, lambda: write_tables(a.out, fmt=a.format, lang=a.lang, config=a.config),
           {"format": a.format, "lang": a.lang, **_config_option(a.config)})


def _config_option(path: Path | None) -> dict[str, str]:
    """``{"config": its text}`` for a user config (a changed file must rerun the stage under --resume); {} without."""
    if path is None:
        return {}
    return {"config": Path(path).read_text(encoding="utf-8") if Path(path).is_file() else str(path)}


def _pipeline(reg: Path, out: Path, a: argparse.Namespace) -> None:
    from analyses.did.run import run_did
    from analyses.figures import run_figures
    from analyses.report import write_report
    from panel.build import build
    from queries.disclosure_rules import decide_rules

    decide_rules(a.profile, a.min_cell, a.rules)  # refuse bad disclosure options before the build

    # the options of each stage, as the stage's own command records them (so --resume keys agree)
    _stage(a, "build", out, lambda: build(reg, out, years=a.years, config=a.config,
                                          allow_unknown_codes=a.allow_unknown_codes),
           {"years": list(a.years), "allow_unknown_codes": a.allow_unknown_codes}, reg=reg)
    _measures_stage(a, out, a.measures_config)
    _areas_if_delivered(a, out)
    _stage(a, "did", out, lambda: run_did(out, bootstrap=a.bootstrap, seed=a.bootstrap_seed, config=a.did_config),
           {"bootstrap": a.bootstrap, "seed": a.bootstrap_seed, **_config_option(a.did_config)})
    _stage(a, "figures", out, lambda: run_figures(out, lang=a.lang, fmt=a.format, config=a.figures_config),
           {"lang": a.lang, "format": a.format, **_config_option(a.figures_config)})
    _stage(a, "report", out, lambda: write_report(out, lang=a.lang, config=a.report_config),
           {"lang": a.lang, **_config_option(a.report_config)})


def cmd_run(a: argparse.Namespace) -> None:
    _pipeline(a.reg, a.out, a)


def cmd_demo(a: argparse.Namespace) -> None:
    from queries.disclosure_rules import decide_rules
    from socialmix.synth import generate

    decide_rules(a.profile, a.min_cell, a.rules)  # refuse bad disclosure options before the synth
    out = Path(a.out)
    reg = out / "registers"
    _stage(a, "synth", out, lambda: generate(reg, persons=a.persons, seed=a.seed, effect=a.effect),
           {"persons": a.persons, "seed": a.seed, "effect": a.effect})
    _pipeline(reg, out, a)
    print(f"demo: registers in {reg}/, tables in {out}/measures/ and {out}/did/, "
          f"figures in {out}/figures/, report {out}/report.html")


def cmd_convert(a: argparse.Namespace) -> None:
    from panel.convert import convert

    _stage(a, "convert", a.reg, lambda: convert(a.src, a.reg, config=a.config), {}, src=a.src)


def cmd_check(a: argparse.Namespace) -> int:
    from panel.check import check

    return check(a.reg, config=a.config, years=a.years)


def cmd_export(a: argparse.Namespace) -> None:
    from socialmix.export import export

    tables = [t.strip() for t in a.tables.split(",") if t.strip()] if a.tables else None
    export(a.out, a.bundle, tables=tables, full_report=a.full_report, allow_svg=a.allow_svg)


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="socialmix",
        description="Register-data panel analysis of Danish social-housing estates.",
    )
    p.add_argument("--version", action="version", version=f"socialmix {__version__}")
    p.add_argument("--debug", action="store_true", help="show the full traceback on failure")
    p.add_argument("-v", "--verbose", action="store_true", help="log stage timings to stderr")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    sp = add("synth", cmd_synth, "Write DST-style synthetic registers (2003-2013 unless --years) to REG.")
    sp.add_argument("reg", type=Path, metavar="REG")
    sp.add_argument("--persons", type=_positive_int, default=DEMO_PERSONS, help="persons in 2003 (default %(default)s)")
    sp.add_argument("--seed", type=int, default=1, help="random seed (default %(default)s)")
    sp.add_argument("--effect", type=float, default=0.0, help="planted effect F on in-movers (default 0)")
    sp.add_argument("--years", type=_years, default=None, help="register years within 1985-2023 (default 2003-2013)")
    sp.add_argument("--config", type=Path, help="register config TOML naming each year's columns (as for build)")

    sp = add("build", cmd_build, "Build the person-year panel, moves and reconciliation from REG into OUT.")
    sp.add_argument("reg", type=Path, metavar="REG")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--years", type=_years, default=DEFAULT_YEARS, help="panel years (default %(default)s)")
    sp.add_argument("--config", type=Path, help="register config TOML overriding the shipped one")
    sp.add_argument("--allow-unknown-codes", action="store_true",
                    help="map codes outside the code lists to unknown (counted) instead of failing")

    sp = add("measures", cmd_measures, "Compute the social-mix measures with disclosure control into OUT/measures/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    _disclosure_options(sp)
    sp.add_argument("--config", type=Path, help="measures TOML overriding the shipped queries/measures.toml")

    sp = add("areas", cmd_areas, "Criteria and statuses of the official area lists into OUT/areas/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--versions", nargs="+", metavar="NAME",
                    help="rule versions: shipped names (2015, 2018, kombineret_pre2009, kombineret_2009) or "
                         "TOML files (default: all shipped)")

    sp = add("did", cmd_did, "Difference-in-differences estimates into OUT/did/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--bootstrap", type=int, default=999, help="multiplier-bootstrap draws (default %(default)s)")
    sp.add_argument("--seed", type=int, default=1, help="bootstrap seed (default %(default)s)")
    sp.add_argument("--config", type=Path, help="DiD TOML overriding the shipped analyses/did/did.toml")

    sp = add("figures", cmd_figures, "Report figures into OUT/figures/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--lang", choices=("da", "en"), default="en")
    sp.add_argument("--format", choices=("png", "pdf", "svg"), default="png")
    sp.add_argument("--config", type=Path, help="style TOML overriding the shipped analyses/figures/style.toml")

    for name, func, text in (
        ("run", cmd_run, "build + measures + did + figures + report, from REG into OUT."),
        ("demo", cmd_demo, "Synthetic registers at a default size, then the whole pipeline."),
    ):
        sp = add(name, func, text)
        if name == "run":
            sp.add_argument("reg", type=Path, metavar="REG")
            sp.add_argument("out", type=Path, metavar="OUT")
        else:
            sp.add_argument("out", type=Path, metavar="OUT", nargs="?", default=Path("demo"))
            sp.add_argument("--persons", type=_positive_int, default=DEMO_PERSONS)
            sp.add_argument("--seed", type=int, default=1)
            sp.add_argument("--effect", type=float, default=0.05)
        sp.add_argument("--years", type=_years, default=DEFAULT_YEARS)
        sp.add_argument("--config", type=Path, help="register config TOML")
        # the demo is for Danish evaluators: Danish unless asked otherwise (run keeps English, as report/figures)
        sp.add_argument("--lang", choices=("da", "en"), default="da" if name == "demo" else "en",
                        help="figures and report (default %(default)s)")
        # every option of the stages run (build, measures, did, figures, report)
        sp.add_argument("--allow-unknown-codes", action="store_true", help="as for build")
        sp.add_argument("--bootstrap", type=int, default=999, help="as for did (default %(default)s)")
        sp.add_argument("--bootstrap-seed", type=int, default=1, help="did's --seed (default %(default)s)")
        sp.add_argument("--format", choices=("png", "pdf", "svg"), default="png", help="as for figures")
        for stage in ("measures", "did", "figures", "report"):
            sp.add_argument(f"--{stage}-config", type=Path, help=f"{stage}'s --config")
        _disclosure_options(sp)

    sp = add("report", cmd_report, "Write the self-contained OUT/report.html.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--lang", choices=("da", "en"), default="en")
    sp.add_argument("--config", type=Path, help="report TOML overriding the shipped one")

    sp = add("tables", cmd_tables, "The released tables as OUT/tables/socialmix_tables.xlsx or OUT/tables/*.dta.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--format", choices=("xlsx", "dta"), default="xlsx", help="(default %(default)s)")
    sp.add_argument("--lang", choices=("da", "en"), default="en", help="header language (default %(default)s)")
    sp.add_argument("--config", type=Path, help="tables TOML overriding the shipped socialmix/tables.toml")

    sp = add("convert", cmd_convert, "Convert DST SAS7BDAT deliveries in SRC to the REG layout.")
    sp.add_argument("src", type=Path, metavar="SRC")
    sp.add_argument("reg", type=Path, metavar="REG")
    sp.add_argument("--config", type=Path, help="register config TOML")

    sp = add("check", cmd_check, "Preflight a register delivery: schemas and row counts only.")
    sp.add_argument("reg", type=Path, metavar="REG")
    sp.add_argument("--config", type=Path, help="register config TOML")
    sp.add_argument("--years", type=_years, default=DEFAULT_YEARS)

    sp = add("export", cmd_export, "Copy cleared outputs of OUT into BUNDLE for output checking.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("bundle", type=Path, metavar="BUNDLE")
    sp.add_argument("--tables", default=None, help="comma-separated tables to export (e.g. measures,estimates; "
                    "'report' for report.html); figures follow the tables they are drawn from")
    sp.add_argument("--full-report", action="store_true",
                    help="ship the full disclosure reports, not only their summary (counts by table)")
    sp.add_argument("--allow-svg", action="store_true", help="ship SVG figures (blocked by default, as ACRO does)")
    for name in ("synth", "convert", "build", "measures", "areas", "did", "figures", "report", "tables", "run",
                 "demo"):
        sub.choices[name].add_argument(
            "--resume", action="store_true",
            help="skip a stage whose inputs, config and outputs are unchanged (by the hashes in OUT/manifest.json)")
    for sp in sub.choices.values():  # the global options also after the command name
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    safe_console()
    parser = build_parser()
    a = parser.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in manifest.json
    set_allocator(a.command)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from panel import progress
    from panel.errors import SocialmixError

    show = not a.no_progress and sys.stderr.isatty()
    try:
        if show:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            # counted work (panel.progress.track: figures, years) shows done/total and the time left
            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn(), transient=False) as bar:
                progress.enable(bar)
                rc = a.func(a)
        else:
            rc = a.func(a)
    except SocialmixError as err:
        if a.debug:
            raise
        print(f"socialmix {a.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"socialmix {a.command}: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one clear line, traceback with --debug
        if a.debug:
            raise
        # The message of a library error may quote data values, so it is not printed.
        print(f"socialmix {a.command}: internal error ({type(err).__name__}); rerun with --debug for details",
              file=sys.stderr)
        return 1
    finally:
        progress.enable(None)
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
