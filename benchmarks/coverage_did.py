"""Coverage of the did intervals against the synthetic truth (not CI; a few minutes per seed pair).

For R seeds and each ``--effect`` (default 0 and 0.1): ``synth`` -> ``build`` ->
``run_did`` (no bootstrap, the planted outcomes employment and education, all
three populations) and every estimate joined by key with ``REG/truth.json``
(the estimator itself applied to Y1 − Y0, so estimate − truth is pure sampling
error). Per estimator (and term) and population: rows, coverage of the 95 %
pointwise interval, mean and SD of z = (estimate − truth) / se, and for the
att_gt simple rows the rejection rate of the randomization p-value at 5 %
(at --effect 0 every truth is 0, so that is its size).

Rows of one data set share its sampling error (the stock rows of one
comparison move together), so the Monte Carlo error of a coverage is larger
than the binomial one; the table gives R, the number of independent data sets.

Run: ``flock /tmp/socialmix-heavy.lock .venv/bin/python -m benchmarks.coverage_did --seeds 20 --persons 60000``
-> ``benchmarks/results/coverage_did.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import tomllib
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "coverage_did.md"
KEYS = ["measure", "population", "comparison", "estimator", "term", "event_time", "cohort", "time"]
CONFIG = """
[run]
measures = ["employment", "education"]
estimators = {estimators}
[att_gt]
cells = false
pretest_permutations = 0
{att_gt}
[randomization]
permutations = {ri}
"""
ALL = '["twfe", "event_study", "att_gt", "sun_abraham", "dose"]'
# the second pass: att_gt only, with the clustered variance ([att_gt] small_sample) the shipped did.toml does
# not use, kept as se_alt
SHIPPED_SS = tomllib.loads((ROOT / "analyses" / "did" / "did.toml").read_text())["att_gt"]["small_sample"]
OTHER_SS = {"cr2": "none", "none": "cr2"}[SHIPPED_SS]


def one(tmp: Path, *, persons: int, seed: int, effect: float, ri: int) -> pl.DataFrame:
    """estimate, se, ci and truth of every planted-outcome row of one synthetic data set."""
    from analyses.did.run import run_did
    from panel.build import build
    from queries.disclosure_rules import load_rules, save_rules
    from socialmix.synth import generate

    reg, out = tmp / "reg", tmp / "out"
    for p in (reg, out):
        shutil.rmtree(p, ignore_errors=True)
    generate(reg, persons=persons, seed=seed, effect=effect)
    build(reg, out, years=(2004, 2013))
    save_rules(load_rules("dst"), out / "measures")  # the OUT's disclosure rules, as `measures` decides them
    cfg = tmp / "did.toml"
    cfg.write_text(CONFIG.format(ri=ri, estimators=ALL, att_gt=""))
    run_did(out, bootstrap=0, config=cfg)
    est = pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
    # the att_gt rows again with the other clustered variance ([att_gt] small_sample), as se_alt
    cfg.write_text(CONFIG.format(ri=0, estimators='["att_gt"]', att_gt=f'small_sample = "{OTHER_SS}"'))
    run_did(out, bootstrap=0, config=cfg)
    alt = (pl.read_csv(out / "did" / "estimates.csv", infer_schema_length=None)
           .select(*KEYS, pl.col("se").alias("se_alt")))
    est = est.join(alt, on=KEYS, how="left", nulls_equal=True)
    truth = pl.DataFrame(json.loads((reg / "truth.json").read_text())["estimands"], infer_schema_length=None)
    return (est.filter(pl.col("measure").is_in(["employment", "education"]) & (pl.col("se") > 0))
            .join(truth, on=KEYS, how="inner", nulls_equal=True)
            .with_columns(seed=pl.lit(seed), effect=pl.lit(effect)))


def summarise(rows: pl.DataFrame) -> pl.DataFrame:
    """Per effect, estimator (att_gt: and term) and population: coverage and z of every interval on offer.

    ``covered``/``mean_z``/``sd_z``: the released pointwise interval and SE. att_gt only: ``covered_alt`` /
    ``sd_z_alt`` with the other clustered variance (``se_alt``, [att_gt] small_sample), ``covered_t`` the
    released SE with a t(G_treated - 1) critical value instead of the normal one. ``*_reject``: share of
    rows with that p-value < 0.05 -- at effect 0 (every truth 0) the size of the test, so 1 - it is the
    coverage of the interval that inverts it (wild: twfe and event study; RI: att_gt simple).
    """
    from scipy import stats

    label = pl.when(pl.col("estimator") == "att_gt").then(pl.concat_str([pl.col("estimator"), pl.lit(" "),
                                                                          pl.col("term")]))
    label = label.otherwise(pl.col("estimator")).alias("estimator")
    err = pl.col("estimate") - pl.col("value")
    covered = (pl.col("ci_low") <= pl.col("value")) & (pl.col("value") <= pl.col("ci_high"))
    keep = ~((pl.col("estimator") == "att_gt") & (pl.col("term") == "dynamic") & pl.col("event_time").is_null())
    rows = rows.filter(keep)
    if "se_alt" not in rows.columns:
        rows = rows.with_columns(se_alt=pl.lit(None, pl.Float64))
    g = rows.get_column("n_clusters_treated").fill_null(2).clip(2).to_numpy()
    rows = rows.with_columns(crit_t=pl.Series(stats.t.ppf(0.975, g - 1)))
    att = pl.col("estimator").str.starts_with("att_gt")  # before and after the label
    return (rows.with_columns(label, (err / pl.col("se")).alias("z"), covered.alias("covered"),
                              pl.when(att).then(err / pl.col("se_alt")).alias("z_alt"))
            .with_columns((pl.col("z_alt").abs() <= 1.959964).alias("covered_alt"),
                          pl.when(att).then(pl.col("z").abs() <= pl.col("crit_t")).alias("covered_t"))
            .group_by("effect", "estimator", "population")
            .agg(pl.len().alias("rows"), pl.col("seed").n_unique().alias("R"), pl.col("covered").mean(),
                 pl.col("z").mean().alias("mean_z"), pl.col("z").std().alias("sd_z"),
                 pl.col("covered_alt").mean(), pl.col("z_alt").std().alias("sd_z_alt"), pl.col("covered_t").mean(),
                 (pl.col("p_value") < 0.05).mean().alias("p_reject"),
                 (pl.col("p_wild") < 0.05).mean().alias("p_wild_reject"),
                 (pl.col("p_ri") < 0.05).mean().alias("p_ri_reject"))
            .sort("effect", "estimator", "population"))


def placebo(rows: pl.DataFrame, comparison: str = "fleksibel_only") -> pl.DataFrame:
    """At effect 0 (every truth 0): rejection at 5 % of each test for one comparison's att_gt simple and
    dynamic rows and twfe -- the placebo study of that design (issue 15: fleksibel_only)."""
    from scipy import stats

    r = rows.filter((pl.col("effect") == 0) & (pl.col("comparison") == comparison)
                    & (((pl.col("estimator") == "att_gt") & pl.col("term").is_in(["simple", "dynamic"])
                        & ~((pl.col("term") == "dynamic") & pl.col("event_time").is_null()))
                       | (pl.col("estimator") == "twfe")))
    g = r.get_column("n_clusters_treated").fill_null(2).clip(2).to_numpy()
    r = r.with_columns(crit_t=pl.Series(stats.t.ppf(0.975, g - 1)))
    if "se_alt" not in r.columns:
        r = r.with_columns(se_alt=pl.lit(None, pl.Float64))
    z, z_alt = pl.col("estimate") / pl.col("se"), pl.col("estimate") / pl.col("se_alt")
    return (r.group_by("estimator", "term", "population")
            .agg(pl.len().alias("rows"), pl.col("n_clusters_treated").median().alias("treated_clusters"),
                 (pl.col("p_value") < 0.05).mean().alias("reject"), (z_alt.abs() > 1.959964).mean()
                 .alias("reject_alt"), (z.abs() > pl.col("crit_t")).mean().alias("reject_t"),
                 (pl.col("p_wild") < 0.05).mean().alias("reject_wild"),
                 (pl.col("p_ri") < 0.05).mean().alias("reject_ri"), z.std().alias("sd_z"))
            .sort("estimator", "term", "population"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--persons", type=int, default=60_000)
    ap.add_argument("--effects", type=float, nargs="+", default=[0.0, 0.1])
    ap.add_argument("--ri", type=int, default=99, help="randomization re-dealings for the att_gt simple rows")
    ap.add_argument("--rows", type=Path, default=None,
                    help="also write every matched row here (parquet), to re-summarise without rerunning")
    ap.add_argument("--from-rows", type=Path, default=None, help="summarise a --rows file instead of running")
    a = ap.parse_args()
    t0 = time.perf_counter()
    if a.from_rows is not None:
        rows = pl.read_parquet(a.from_rows)
    else:
        frames = []
        with tempfile.TemporaryDirectory(prefix="coverage_did_") as d:
            for seed in range(a.first_seed, a.first_seed + a.seeds):
                for effect in a.effects:
                    frames.append(one(Path(d), persons=a.persons, seed=seed, effect=effect, ri=a.ri))
                    print(f"seed {seed} effect {effect}: {frames[-1].height} rows, "
                          f"{time.perf_counter() - t0:.0f} s", flush=True)
                    if a.rows is not None:  # a long run keeps what it has
                        a.rows.parent.mkdir(parents=True, exist_ok=True)
                        pl.concat(frames, how="diagonal_relaxed").write_parquet(a.rows)
        rows = pl.concat(frames, how="diagonal_relaxed")
    tab = summarise(rows)
    plac = placebo(rows)
    with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True,
                   tbl_rows=200, tbl_cols=-1, float_precision=3, tbl_width_chars=1000, fmt_str_lengths=40):
        run = (f"rows of {a.from_rows} ({rows['seed'].n_unique()} seeds)" if a.from_rows is not None else
               f"{time.perf_counter() - t0:.0f} s wall")
        text = (f"# did coverage against the synthetic truth\n\n`python -m benchmarks.coverage_did --seeds "
                f"{a.seeds} --persons {a.persons}`; {run}; released att_gt SEs "
                f"small_sample = {SHIPPED_SS}, the `_alt` columns {OTHER_SS}.\n\n{tab}\n\n"
                f"Placebo of the fleksibel_only design (effect 0): rejection at 5 %\n\n{plac}\n")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
