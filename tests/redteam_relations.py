"""The red-team attack's view of a release: unknowns and checked relations (issue 16; tests/redteam_attack.py solves).

An output checker (or an intruder) gets ``OUT/measures/*.parquet`` and the
public ``disclosure_report.csv``; she knows which afdelinger use which tool
(the evaluation publishes it; here read from ``OUT/afdeling.parquet``, which
holds no persons) and the measure descriptions of the documentation. This
module is a second implementation: it never imports the release code's
relation builders. Every relation it uses is *checked* on the published rows
first (kept only if it holds wherever all its cells are published), so a
relation that the release does not honour is never assumed.

Unknowns are the withheld count cells: ``n`` of every withheld row and the
numerator ``s = n * value`` of every withheld share row (measures, comparison
series ``study``, trajectories). Relations (all linear, integer unknowns):

* hierarchy: group = sum of its afdelinger; any_tool = anvisning_only +
  fleksibel_only + both; study = any_tool + neither (a missing row is 0);
* (a) shared denominators: measures whose published n agree everywhere have
  one n per (unit, year, population); n(income) = n(all) - s(under_18) -
  s(over_64) and the other documented sums, if they hold on the published rows;
* (b) trajectories at horizon 1: leavers = the measures' out-movers of b+1
  (n and numerator), gained - lost = n * (value_follow - value_base);
* (c) decomposition: every published component (stayers, in/out-movers,
  entries, exits, membership) times N_t is a sum of (y - V_{t-1}) over latent
  flows whose counts add up to the published stocks; the out-mover flow is the
  measures' out-mover cell, in-movers plus immigrants its in-mover cell, and
  the horizon-1 stayers of the trajectories the stayers C (see
  :func:`decomposition`).

Relations whose cells are all latent (never published) cannot be checked on
the published rows; they follow the documented decomposition, and the tests
check that the true values lie inside every interval.
"""

from __future__ import annotations

import math
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

TOOL_PARTS = ("anvisning_only", "fleksibel_only", "both")
POPULATIONS = ("stock", "in", "out")
INF = math.inf
# candidate sums among the documented measure populations (registry descriptions); each is kept only if
# it holds on every published unit-year-population where all its cells are published.
CANDIDATE_SUMS = [
    # name, target (measure, field), [(coef, measure, field), ...]
    ("adults = all - under_18 - over_64", ("income", "n"),
     [(1, "non_western", "n"), (-1, "under_18", "s"), (-1, "over_64", "s")]),
    ("18+ = all - under_18", ("single_adults", "n"), [(1, "non_western", "n"), (-1, "under_18", "s")]),
    ("18+ = all - under_18 (personal income)", ("personal_income_18plus", "n"),
     [(1, "non_western", "n"), (-1, "under_18", "s")]),
    ("outside_labour_force = its three parts", ("outside_labour_force", "s"),
     [(1, "disability_pension_18_64", "s"), (1, "early_retirement_18_64", "s"), (1, "education_18_64", "s")]),
]


@dataclass
class Relation:
    """sum(coef * var) == rhs (within tol); vars are cell keys, known or not."""

    coefs: dict[tuple, float]
    rhs: float
    family: str
    tol: float = 1e-6

    def __post_init__(self) -> None:
        self.coefs = {k: float(c) for k, c in self.coefs.items() if c != 0}


@dataclass
class Problem:
    known: dict[tuple, float] = field(default_factory=dict)
    unknown: dict[tuple, tuple[float, float]] = field(default_factory=dict)  # key -> (lo, hi)
    relations: list[Relation] = field(default_factory=list)
    le: list[tuple[tuple, tuple]] = field(default_factory=list)  # (a, b): a <= b
    families: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rejected: list[str] = field(default_factory=list)
    unsolved: int = 0  # components left at their propagated intervals (too large, or out of solver budget)

    def value(self, key: tuple) -> float | None:
        """Known value of a cell; a cell without a row has no persons (0)."""
        if key in self.unknown:
            return None
        return self.known.get(key, 0.0)


# ------------------------------------------------------------------ reading the release
def read_release(out: str | Path) -> dict[str, pl.DataFrame]:
    """The published tables the attack reads (missing ones as empty frames)."""
    m = Path(out) / "measures"
    tables = {}
    for name in ("measures", "comparison", "trajectories", "decomposition", "municipal_gap"):
        p = m / f"{name}.parquet"
        tables[name] = pl.read_parquet(p) if p.exists() else pl.DataFrame()
    tables["report"] = pl.read_csv(m / "disclosure_report.csv", infer_schema_length=0)
    tables["afdeling"] = pl.read_parquet(Path(out) / "afdeling.parquet")
    return tables


def read_rules(out: str | Path) -> dict:
    """The published rule set (``disclosure_rules.toml``)."""
    return tomllib.loads((Path(out) / "measures" / "disclosure_rules.toml").read_text(encoding="utf-8"))


def membership(afd: pl.DataFrame) -> dict[str, list[str]]:
    """Study afdelinger of each group, from the public tool flags."""
    st = afd.filter(pl.col("helhedsplan_id").is_not_null())
    a = st["anvisning"].fill_null(False).to_list()
    f = st["fleksibel"].fill_null(False).to_list()
    ids = st["afdeling_id"].to_list()
    flags = {"any_tool": lambda x, y: x or y, "anvisning_only": lambda x, y: x and not y,
             "fleksibel_only": lambda x, y: y and not x, "both": lambda x, y: x and y,
             "neither": lambda x, y: not x and not y}
    return {g: [i for i, x, y in zip(ids, a, f, strict=True) if fn(x, y)] for g, fn in flags.items()}


def share_measures(cells: pl.DataFrame) -> set[str]:
    """Measures whose published values are shares: in [0, 1] and n * value an integer on every row."""
    pub = cells.filter(~pl.col("suppressed"))
    s = pub.with_columns(sv=pl.col("n") * pl.col("value"))
    chk = s.group_by("measure").agg(
        ok=((pl.col("value").is_between(0, 1)) & ((pl.col("sv") - pl.col("sv").round()).abs() < 1e-6)).all())
    return set(chk.filter(pl.col("ok"))["measure"].to_list())


def measure_cells(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """measures + comparison series study in one frame: level, unit, year, population, measure, n, value, suppressed."""
    cols = ["level", "unit", "year", "population", "measure", "n", "value", "suppressed"]
    parts = [t["measures"].select(cols)]
    if t["comparison"].height:
        parts.append(t["comparison"].filter(pl.col("series") == "study").select(
            pl.lit("comparison").alias("level"), pl.col("series").alias("unit"), *cols[2:]))
    return pl.concat(parts, how="vertical_relaxed")


# ------------------------------------------------------------------ building the problem
def _add_cells(p: Problem, rows: pl.DataFrame, key_cols: list[str], prefix: str, shares: set[str],
               numerators: dict[str, str]) -> None:
    """Cell keys (prefix, *key, field) for n and the numerators of share rows; withheld rows are unknowns."""
    for r in rows.iter_rows(named=True):
        k = (prefix, *[r[c] for c in key_cols])
        share = r["measure"] in shares
        if r["suppressed"]:
            p.unknown[(*k, "n")] = (1.0, INF)
            if share:
                for f in numerators:
                    p.unknown[(*k, f)] = (0.0, INF)
                    p.le.append(((*k, f), (*k, "n")))
        else:
            p.known[(*k, "n")] = float(r["n"])
            if share:
                for f, col in numerators.items():
                    v = r[col]
                    if v is not None:
                        p.known[(*k, f)] = float(round(r["n"] * v))


def _check_and_add(p: Problem, rels: list[Relation], name: str, min_support: int = 5) -> bool:
    """Keep a relation family only if it holds wherever all its cells are known."""
    support, bad = 0, 0
    for r in rels:
        if all(k not in p.unknown for k in r.coefs):
            support += 1
            lhs = sum(c * p.value(k) for k, c in r.coefs.items())
            if abs(lhs - r.rhs) > max(r.tol, 1e-6) * (1 + abs(r.rhs)) * 10:
                bad += 1
    if bad or support < min_support:
        p.rejected.append(f"{name}: support {support}, violated {bad}")
        return False
    for r in rels:
        if any(k in p.unknown for k in r.coefs):
            p.relations.append(r)
            p.families[r.family] += 1
    return True


def hierarchy(p: Problem, keys: list[tuple], groups: dict[str, list[str]], fields: list[str], prefix: str,
              tail_of: callable) -> None:
    """group = sum of afdelinger; any_tool = parts; study = any_tool + neither, for each block and field."""
    blocks = {tail_of(k) for k in keys}
    rels = []
    for tail in blocks:
        for f in fields:
            def key(level: str, unit: str, tail: tuple = tail, f: str = f) -> tuple:
                return (prefix, level, unit, *tail, f)
            for g, afds in groups.items():
                rels.append(Relation({key("group", g): -1.0, **{key("afdeling", a): 1.0 for a in afds}}, 0.0,
                                     f"hierarchy ({prefix})"))
            rels.append(Relation({key("group", "any_tool"): -1.0, **{key("group", g): 1.0 for g in TOOL_PARTS}}, 0.0,
                                 f"hierarchy ({prefix})"))
            if prefix == "m":
                rels.append(Relation({key("comparison", "study"): -1.0, key("group", "any_tool"): 1.0,
                                      key("group", "neither"): 1.0}, 0.0, f"hierarchy ({prefix})"))
    # a relation whose cells are all absent (0 = 0) carries nothing
    rels = [r for r in rels if any(k in p.unknown or k in p.known for k in r.coefs)]
    _check_and_add(p, rels, f"hierarchy ({prefix})")


def denominators(p: Problem, cells: pl.DataFrame, shares: set[str]) -> None:
    """(a): measures with one denominator (equal published n everywhere) and the documented sums."""
    pub = cells.filter(~pl.col("suppressed"))
    wide = pub.pivot(on="measure", index=["level", "unit", "year", "population"], values="n")
    measures = [c for c in wide.columns if c not in ("level", "unit", "year", "population")]
    parent = {m: m for m in measures}

    def find(m: str) -> str:
        while parent[m] != m:
            m = parent[m]
        return m
    for i, a in enumerate(measures):
        for b in measures[i + 1:]:
            both = wide.filter(pl.col(a).is_not_null() & pl.col(b).is_not_null())
            if both.height >= 10 and (both[a] == both[b]).all():
                parent[find(b)] = find(a)
    classes = defaultdict(list)
    for m in measures:
        classes[find(m)].append(m)
    blocks = cells.select("level", "unit", "year", "population").unique().rows()
    rels = []
    for cls in classes.values():
        for blk in blocks:
            for m in cls[1:]:
                rels.append(Relation({("m", *blk, cls[0], "n"): 1.0, ("m", *blk, m, "n"): -1.0}, 0.0,
                                     "(a) shared denominator"))
    _check_and_add(p, rels, "(a) shared denominator")
    for name, (tm, tf), terms in CANDIDATE_SUMS:
        if any(f == "s" and m not in shares for _, m, f in [(1, tm, tf), *terms]):
            continue
        rels = [Relation({("m", *blk, tm, tf): 1.0, **{("m", *blk, m, f): -float(c) for c, m, f in terms}}, 0.0,
                         "(a) shared denominator") for blk in blocks]
        _check_and_add(p, rels, f"(a) {name}")


def trajectories(p: Problem, traj: pl.DataFrame, shares: set[str], groups: dict[str, list[str]]) -> None:
    """(b): horizon-1 leavers = out-movers of b+1; gained - lost = S_follow - S_base; hierarchy of the table."""
    if not traj.height:
        return
    key_cols = ["level", "unit", "baseline_year", "horizon", "status", "measure", "transition"]
    all_rows = traj.filter(pl.col("transition") == "all")
    _add_cells(p, all_rows, key_cols, "t", shares, {"sb": "value_base", "sf": "value_follow"})
    _add_cells(p, traj.filter(pl.col("transition") != "all"), key_cols, "t", set(), {})
    tkeys = [k for k in (*p.known, *p.unknown) if k[0] == "t"]
    hierarchy(p, [k for k in tkeys if k[-1] == "n"], groups, ["n", "sb", "sf"], "t", lambda k: k[3:-1])
    h1 = all_rows.filter((pl.col("horizon") == 1) & (pl.col("status") == "leaver"))
    for meas in h1["measure"].unique().to_list():
        rows = h1.filter(pl.col("measure") == meas).select("level", "unit", "baseline_year").rows()
        for f_t, f_m in (("n", "n"), ("sb", "s")):
            if f_m == "s" and meas not in shares:
                continue
            rels = [Relation({("t", lv, u, b, 1, "leaver", meas, "all", f_t): 1.0,
                              ("m", lv, u, b + 1, "out", meas, f_m): -1.0}, 0.0, "(b) leavers = out-movers")
                    for lv, u, b in rows]
            _check_and_add(p, rels, f"(b) leavers = out-movers {meas} {f_t}")
    rels = []
    for r in all_rows.filter(pl.col("measure").is_in(list(shares))).select(key_cols).rows():
        base = ("t", *r[:-1])
        rels.append(Relation({(*base, "gained", "n"): 1.0, (*base, "lost", "n"): -1.0,
                              (*base, "all", "sf"): -1.0, (*base, "all", "sb"): 1.0}, 0.0,
                             "(b) gained - lost"))
    _check_and_add(p, rels, "(b) gained - lost")


def decomposition(p: Problem, dec: pl.DataFrame, cells: pl.DataFrame, shares: set[str]) -> None:
    """(c): the decomposition's published components as sums over latent flows (docs/flows.md).

    For a unit, year t and share measure with the stock cells of t and t-1
    published (N, V), the latent counts and trait sums of the stayers C (in
    the population both years), joiners J / leavers L (stayers in it one year
    only), in-movers I (not immigrants), out-movers O, entries E (births and
    immigrants M) and exits X satisfy

        N_{t-1} = n_C + n_L + n_O + n_X,     S_{t-1} = sC_prev + s_L + s_O + s_X,
        N_t     = n_C + n_J + n_I + n_E,     S_t     = sC_cur  + s_J + s_I + s_E,

    and each published component c gives c * N_t = a sum of (y - V_{t-1}):
    stayers (sC_cur - sC_prev) + (s_J - V n_J) - (s_L - V n_L), membership the
    last two, in_movers s_I - V n_I, out_movers -(s_O - V n_O), entries
    s_E - V n_E, exits -(s_X - V n_X). The measures' out-mover cell is O, its
    in-mover cell I + M (M within E), and the horizon-1 stayers of baseline
    t-1 in the trajectories are C (n, sb = sC_prev, sf = sC_cur).
    """
    if not dec.height:
        return
    stock = cells.filter((pl.col("population") == "stock") & ~pl.col("suppressed")).select(
        "level", "unit", "year", "measure", "n", "value")
    d = (dec.filter(pl.col("measure").is_in(list(shares)) & ~pl.col("suppressed"))
         .join(stock.rename({"n": "N_t", "value": "V_t"}), on=["level", "unit", "year", "measure"], how="inner")
         .join(stock.select("level", "unit", "measure", year=pl.col("year") + 1, N_prev="n", V_prev="value"),
               on=["level", "unit", "year", "measure"], how="inner"))
    rels = []
    for r in d.iter_rows(named=True):
        lv, u, t, meas = r["level"], r["unit"], r["year"], r["measure"]
        v, nt = r["V_prev"], float(r["N_t"])

        def z(f: str, lv: str = lv, u: str = u, t: int = t, meas: str = meas) -> tuple:
            return ("d", lv, u, t, meas, f)
        for f in ("nC", "sCp", "sCc", "nJ", "sJ", "nL", "sL", "nI", "sI", "nE", "sE", "nX", "sX", "nM", "sM"):
            p.unknown.setdefault(z(f), (0.0, INF))
        for a, b in (("sCp", "nC"), ("sCc", "nC"), ("sJ", "nJ"), ("sL", "nL"), ("sI", "nI"), ("sE", "nE"),
                     ("sX", "nX"), ("sM", "nM"), ("nM", "nE"), ("sM", "sE")):
            p.le.append((z(a), z(b)))
        mo = ("m", lv, u, t, "out", meas)
        mi = ("m", lv, u, t, "in", meas)
        fam = "(c) decomposition flows"
        rels += [
            Relation({z("nC"): 1, z("nL"): 1, (*mo, "n"): 1, z("nX"): 1}, float(r["N_prev"]), fam),
            Relation({z("sCp"): 1, z("sL"): 1, (*mo, "s"): 1, z("sX"): 1}, float(round(r["N_prev"] * v)), fam),
            Relation({z("nC"): 1, z("nJ"): 1, z("nI"): 1, z("nE"): 1}, nt, fam),
            Relation({z("sCc"): 1, z("sJ"): 1, z("sI"): 1, z("sE"): 1}, float(round(nt * r["V_t"])), fam),
            Relation({(*mi, "n"): 1, z("nI"): -1, z("nM"): -1}, 0.0, fam),
            Relation({(*mi, "s"): 1, z("sI"): -1, z("sM"): -1}, 0.0, fam),
        ]
        comp = {
            "stayers": {z("sCc"): 1, z("sCp"): -1, z("sJ"): 1, z("nJ"): -v, z("sL"): -1, z("nL"): v},
            "stayers_membership": {z("sJ"): 1, z("nJ"): -v, z("sL"): -1, z("nL"): v},
            "in_movers": {z("sI"): 1, z("nI"): -v},
            "out_movers": {(*mo, "s"): -1, (*mo, "n"): v},
            "entries": {z("sE"): 1, z("nE"): -v},
            "exits": {z("sX"): -1, z("nX"): v},
        }
        for c, coefs in comp.items():
            if r[c] is not None:
                rels.append(Relation(coefs, r[c] * nt, fam, tol=1e-7))
        if lv in ("afdeling", "group"):
            base = ("t", lv, u, t - 1, 1, "stayer", meas, "all")
            if (*base, "n") in p.known or (*base, "n") in p.unknown:
                rels += [Relation({(*base, "n"): 1, z("nC"): -1}, 0.0, "(b) stayers = decomposition stayers"),
                         Relation({(*base, "sb"): 1, z("sCp"): -1}, 0.0, "(b) stayers = decomposition stayers"),
                         Relation({(*base, "sf"): 1, z("sCc"): -1}, 0.0, "(b) stayers = decomposition stayers")]
    # latent flows are never published, so these relations cannot be checked on published rows: they are
    # taken from the documented decomposition (the soundness test checks the truth lies in every interval)
    for r in rels:
        p.relations.append(r)
        p.families[r.family] += 1


def build_problem(out: str | Path) -> tuple[Problem, pl.DataFrame]:
    """Unknowns and checked relations of a release; also returns the measure cells read."""
    t = read_release(out)
    cells = measure_cells(t)
    shares = share_measures(cells)
    groups = membership(t["afdeling"])
    p = Problem()
    _add_cells(p, cells, ["level", "unit", "year", "population", "measure"], "m", shares, {"s": "value"})
    mkeys = [k for k in (*p.known, *p.unknown) if k[0] == "m" and k[-1] == "n"]
    hierarchy(p, mkeys, groups, ["n", "s"], "m", lambda k: k[3:-1])
    denominators(p, cells, shares)
    trajectories(p, t["trajectories"], shares, groups)
    decomposition(p, t["decomposition"], cells, shares)
    return p, cells
