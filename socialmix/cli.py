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
from collections.abc import Callable, Sequence
from pathlib import Path

from socialmix import __version__

ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"  # polars' jemalloc reads it once, when polars is first loaded


def set_allocator(command: str) -> None:
    """Put the stage's allocator setting (``allocator`` in stages.toml) in the environment before polars loads.

    Polars' jemalloc returns freed memory to the kernel within moments, but the
    stages free and re-allocate year-sized buffers every second, so each year
    paid again in page faults. A value already in the environment wins, and
    nothing is changed once polars is loaded (it would have no effect).
    """
    if "polars" in sys.modules:
        return
    from panel.config import load_config

    conf = load_config("socialmix", "stages.toml")["stages"].get(command, {}).get("allocator")
    if conf:
        os.environ.setdefault(ALLOCATOR_ENV, conf)

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
    ran = run_stage(name, out, work, inputs=inputs, outputs=outputs or spec["outputs"], config=config,
                    command=["socialmix", *getattr(a, "argv", [])], resume=getattr(a, "resume", False))
    if not ran:
        print(f"stage {name} unchanged, skipped")


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


def cmd_measures(a: argparse.Namespace) -> None:
    from queries.run import run_measures

    _stage(a, "measures", a.out, lambda: run_measures(a.out, min_cell=a.min_cell, profile=a.profile),
           {"min_cell": a.min_cell, "profile": a.profile})


def cmd_did(a: argparse.Namespace) -> None:
    from analyses.did.run import run_did

    _stage(a, "did", a.out, lambda: run_did(a.out, bootstrap=a.bootstrap, seed=a.seed),
           {"bootstrap": a.bootstrap, "seed": a.seed})


def cmd_figures(a: argparse.Namespace) -> None:
    from analyses.figures import run_figures

    _stage(a, "figures", a.out, lambda: run_figures(a.out, lang=a.lang, fmt=a.format),
           {"lang": a.lang, "format": a.format})


def cmd_report(a: argparse.Namespace) -> None:
    from analyses.report import write_report

    _stage(a, "report", a.out, lambda: write_report(a.out, lang=a.lang), {"lang": a.lang})


def _pipeline(reg: Path, out: Path, a: argparse.Namespace) -> None:
    from analyses.did.run import run_did
    from analyses.figures import run_figures
    from analyses.report import write_report
    from panel.build import build
    from queries.run import run_measures

    _stage(a, "build", out, lambda: build(reg, out, years=a.years, config=a.config, allow_unknown_codes=False),
           {"years": list(a.years), "allow_unknown_codes": False}, reg=reg)
    _stage(a, "measures", out, lambda: run_measures(out, min_cell=None, profile="dst"),
           {"min_cell": None, "profile": "dst"})
    _stage(a, "did", out, lambda: run_did(out), {})
    _stage(a, "figures", out, lambda: run_figures(out, lang=a.lang, fmt="png"), {"lang": a.lang, "format": "png"})
    _stage(a, "report", out, lambda: write_report(out, lang=a.lang), {"lang": a.lang})


def cmd_run(a: argparse.Namespace) -> None:
    _pipeline(a.reg, a.out, a)


def cmd_demo(a: argparse.Namespace) -> None:
    from socialmix.synth import generate

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

    export(a.out, a.bundle)


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
    sp.add_argument("--min-cell", type=_positive_int, default=None,
                    help="smallest publishable cell (default 5; overrides the profile's threshold)")
    sp.add_argument("--profile", choices=("dst", "safe"), default="dst", help="disclosure rules (default %(default)s)")

    sp = add("did", cmd_did, "Difference-in-differences estimates into OUT/did/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--bootstrap", type=int, default=999, help="multiplier-bootstrap draws (default %(default)s)")
    sp.add_argument("--seed", type=int, default=1, help="bootstrap seed (default %(default)s)")

    sp = add("figures", cmd_figures, "Report figures into OUT/figures/.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--lang", choices=("da", "en"), default="en")
    sp.add_argument("--format", choices=("png", "pdf", "svg"), default="png")

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
        sp.add_argument("--lang", choices=("da", "en"), default="en")

    sp = add("report", cmd_report, "Write the self-contained OUT/report.html.")
    sp.add_argument("out", type=Path, metavar="OUT")
    sp.add_argument("--lang", choices=("da", "en"), default="en")

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
    for name in ("synth", "convert", "build", "measures", "did", "figures", "report", "run", "demo"):
        sub.choices[name].add_argument(
            "--resume", action="store_true",
            help="skip a stage whose inputs, config and outputs are unchanged (by the hashes in OUT/manifest.json)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
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
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                          TimeElapsedColumn(), transient=False) as bar:
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
