"""summary.txt of ``socialmix did``: the head (methods, inference, disclosure) and one block per sample.

Rows resting on fewer treated clusters than ``[run] few_clusters`` are starred: CRV1 and the clustered
influence-function SE over-reject there (MacKinnon & Webb 2017).
"""

from __future__ import annotations

from typing import Any

from analyses.did.plan import DidPlan

Rows = list[dict[str, Any]]


def summary_head(plan: DidPlan, bootstrap: int, seed: int, disclosure: str, extra: list[str] | None = None
                 ) -> list[str]:
    run, a = plan.run, plan.att_gt
    mt = plan.multiple_testing
    return [
        f"socialmix did: difference-in-differences of {', '.join(run.comparisons)} vs {run.control_group}",
        f"clusters: {run.cluster}; CRV1 with (N-1)/(N-K)*G/(G-1) (pyfixest default), t(G-1) p-values and "
        f"pointwise 95 % intervals; att_gt: {a.control} controls, {a.base_period} base period, "
        + (f"covariates {', '.join(a.covariates)} ({a.est_method}; a cohort whose design separates or is singular "
           f"refitted with fewer: {a.covariate_fallback}), " if a.covariates else "no covariates, ")
        + f"clustered SEs {'with CR2 leverage' if a.small_sample == 'cr2' else 'as R did'}, normal pointwise "
        f"intervals, {bootstrap} {a.multiplier} multiplier-bootstrap draws (seed {seed}) for the uniform bands "
        f"cb_low/cb_high; disclosure: {disclosure}",
        f"p_ri (att_gt simple): {plan.randomization.permutations} re-dealings of the cohorts among the clusters "
        f"(seed {plan.randomization.seed}); p_wild: "
        + (f"wild cluster restricted bootstrap, B = {plan.wild.B}, {plan.wild.weights} weights"
           if plan.wild.enabled else "not computed ([wild] enabled = false)")
        + "; p_adjusted: "
        + (f"family {mt.family!r} (att_gt simple of every measure x population x comparison), method {mt.method}"
           if mt.enabled else "not computed ([multiple_testing] enabled = false)"),
        f"* = the row rests on fewer than {run.few_clusters} treated clusters: CRV1 and the clustered "
        "influence-function SE over-reject there (MacKinnon & Webb 2017); read p_ri / p_wild.",
        "pre-trend tests (also in tests.csv): the att_gt pre-period chi2 p-value over-rejects when cohorts hold "
        "few afdelinger; use its randomization p and the event-study F test with binned leads (docs/did.md).",
        "sensitivity.csv: HonestDiD robust 95 % intervals of the event-study effect at e = "
        f"{plan.sensitivity.event_time} ({', '.join(plan.sensitivity.methods)}; populations "
        f"{', '.join(plan.sensitivity.populations)})" if plan.sensitivity.enabled else "sensitivity: not computed",
        "goodman-bacon: the 2x2 comparisons behind the unweighted TWFE effect of each balanced stock panel",
        *(extra or []), ""]


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def summary_block(head: str, rows: Rows, tests: Rows, errors: list[str], no_start: int,
                   plan: DidPlan) -> list[str]:
    lines = [head]
    if no_start:
        lines.append(f"  {no_start} treated afdelinger without TOOL_START left out")
    for r in rows:
        if (r["estimator"], r["term"]) in {("twfe", "treat_post"), ("att_gt", "simple"), ("dose", "dose")}:
            few = "*" if r["n_clusters_treated"] < plan.run.few_clusters else " "
            p_extra = "".join(f", {k} {_fmt(r[k], '.3f')}" for k in ("p_ri", "p_wild", "p_adjusted")
                              if r[k] is not None)
            lines.append(f" {few}{r['estimator']:<12} {r['term']:<12} {_fmt(r['estimate'], ' .4f')} "
                         f"(se {_fmt(r['se'], '.4f')}) [{_fmt(r['ci_low'], ' .4f')}, {_fmt(r['ci_high'], ' .4f')}]"
                         f" p {_fmt(r['p_value'], '.3f')}{p_extra}; afdelinger {r['n_units']}, person-years "
                         f"{r['n_obs']}, clusters {r['n_clusters_treated']} treated / {r['n_clusters_control']} "
                         "control")
    for t in tests:
        stat = f"F({t['df']}, {t['df2']})" if t["test"].endswith("_pretrend") else f"chi2({t['df']})"
        extra = f" over {t['df2']} re-dealings of the cohorts" if t["test"].endswith("randomization") else ""
        lines.append(f"  {t['test']}: {stat} = {_fmt(t['statistic'], '.3f')}, p = {_fmt(t['p_value'], '.4f')}{extra}")
    return lines + [e if e.startswith("  ") else f"  {e}" for e in errors] + [""]
