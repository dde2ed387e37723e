"""Two-way fixed-effects DiD: y on treatment with unit and time effects, CRV1 errors.

``twfe`` is a thin entry point over :func:`analyses.did.fe.fe_ols` that
returns a result object with ``coef``, ``se`` and ``tidy()``. With
``compressed=True`` the rows are persons (tens of millions) and are first
reduced to sufficient statistics per (unit, time, regressors, cluster) cell,
which gives the exact person-level coefficients and CRV1 SEs. Estimates and
SEs equal pyfixest ``feols`` (default small-sample conventions, see ``fe``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from scipy import stats

from analyses.did.compress import compress
from analyses.did.fe import FeFit, fe_ols
from analyses.did.options import Engine, check_option
from panel.errors import InputError


@dataclass
class TwfeResult:
    """Coefficients of the regressors (not the fixed effects) with CRV1 covariance."""

    terms: list[str]
    fit: FeFit
    n_units: int

    @property
    def coef(self) -> float | dict[str, float]:
        b = {t: float(v) for t, v in zip(self.terms, self.fit.coef, strict=True)}
        return b[self.terms[0]] if len(b) == 1 else b

    @property
    def se(self) -> float | dict[str, float]:
        s = {t: float(v) for t, v in zip(self.terms, self.fit.se, strict=True)}
        return s[self.terms[0]] if len(s) == 1 else s

    @property
    def vcov(self) -> np.ndarray:
        return self.fit.vcov

    @property
    def n_obs(self) -> int:
        return self.fit.n_obs

    def tidy(self, alpha: float = 0.05) -> pl.DataFrame:
        """term, estimate, se, t, p_value, ci_low, ci_high (t with G−1 df for CRV1)."""
        b, s = self.fit.coef, self.fit.se
        tval = b / s
        crit = stats.t.ppf(1 - alpha / 2, self.fit.df_t)
        return pl.DataFrame({
            "term": self.terms, "estimate": b, "se": s, "t": tval,
            "p_value": 2 * stats.t.sf(np.abs(tval), self.fit.df_t),
            "ci_low": b - crit * s, "ci_high": b + crit * s,
        })

    def wild_bootstrap(self, term: str, B: int = 9999, weights: str = "rademacher", seed: int | None = None,
                       *, null: float = 0.0, alpha: float = 0.05) -> dict[str, float]:
        """Wild cluster restricted bootstrap-t of ``term`` = ``null`` by the fit's clusters (contract §6a).

        p_value, ci_low, ci_high (test inversion), B; exact under enumeration
        (2^G ≤ B) and exact for compressed cells (see :mod:`analyses.did.wild`).
        """
        from analyses.did.wild import wild_bootstrap

        if term not in self.terms:
            raise InputError(f"wild_bootstrap: {term!r} is not a term of this fit ({', '.join(self.terms)})")
        slopes = np.zeros(len(self.terms))
        slopes[self.terms.index(term)] = 1.0
        return wild_bootstrap(self.fit, slopes, B=B, weights=weights, seed=seed, null=null, alpha=alpha)

    def wald(self, terms: Sequence[str]) -> dict[str, float]:
        """Joint test that ``terms`` are all zero: chi2, F = chi2/q and its p-value with (q, G−1) df."""
        idx = [self.terms.index(t) for t in terms]
        if not idx:
            return {"chi2": np.nan, "df": 0, "F": np.nan, "p_value": np.nan}
        b = self.fit.coef[idx]
        v = self.fit.vcov[np.ix_(idx, idx)]
        chi2 = float(b @ np.linalg.solve(v, b))
        q = len(idx)
        f = chi2 / q
        return {"chi2": chi2, "df": q, "F": f, "p_value": float(stats.f.sf(f, q, self.fit.df_t)),
                "p_value_chi2": float(stats.chi2.sf(chi2, q))}


def twfe(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treat: str | Sequence[str],
    cluster: str | None = None,
    weights: str | None = None,
    counts: str | None = None,
    compressed: bool = False,
    engine: Engine = "fe",
) -> TwfeResult:
    """TWFE regression of ``outcome`` on ``treat`` with unit and time fixed effects.

    ``cluster`` gives CRV1 standard errors (iid without). ``weights`` are
    analytic weights (e.g. residents of an afdeling-year). ``counts`` marks
    rows that are already cells of that many persons holding their mean
    (frequency weights: N = sum of counts, as in the person-level regression).
    ``compressed=True`` compresses person-level rows to cells first (exact).
    ``engine="linearmodels"`` re-fits with linearmodels ``PanelOLS`` (absorbed
    entity and time effects) and rescales its clustered covariance to the
    same small-sample convention — a cross-check; the default ``"fe"`` engine
    is exact and also handles compressed cells.

    Examples
    --------
    >>> res = twfe(df, outcome="y", unit="id", time="year", treat="d", cluster="id")  # doctest: +SKIP
    >>> res.coef, res.se  # doctest: +SKIP
    """
    check_option(engine, Engine, "engine")
    terms = [treat] if isinstance(treat, str) else list(treat)
    if not terms:
        raise InputError("twfe: at least one treatment column is needed")
    keys = list(dict.fromkeys([unit, time, *terms] + ([cluster] if cluster else [])))
    if weights is not None and counts is not None:
        raise InputError("twfe: give weights or counts, not both", column=weights)
    if compressed:
        if weights is not None or counts is not None:
            raise InputError("twfe: weights or counts cannot be combined with compressed=True")
        cells = compress(df, outcome=outcome, keys=keys)
        y, w, syy = cells.get_column("y").to_numpy(), cells.get_column("n").to_numpy().astype(float), \
            cells.get_column("syy").to_numpy()
        n_obs = int(w.sum())
        data = cells
    else:
        wcol = weights or counts
        data = df.lazy().select(keys + [outcome] + ([wcol] if wcol else [])).collect()
        yv = pl.col(outcome).cast(pl.Float64)
        data = data.filter(yv.is_not_null() & yv.is_not_nan() & pl.all_horizontal(pl.col(keys).is_not_null()))
        y = data.get_column(outcome).cast(pl.Float64).to_numpy()
        w = data.get_column(wcol).cast(pl.Float64).to_numpy() if wcol else None
        syy, n_obs = None, (int(w.sum()) if counts else data.height)
    if data.height == 0:
        raise InputError("twfe: no rows with a non-missing outcome", column=outcome)
    x = data.select(pl.col(terms).cast(pl.Float64)).to_numpy()
    fit = fe_ols(y, x, data.get_column(unit).to_numpy(), data.get_column(time).to_numpy(), w=w,
                 cluster=data.get_column(cluster).to_numpy() if cluster else None, n_obs=n_obs, syy=syy)
    res = TwfeResult(terms=terms, fit=fit, n_units=data.get_column(unit).n_unique())
    if engine == "linearmodels":
        if compressed or counts is not None:
            raise InputError("twfe: engine='linearmodels' works on uncompressed rows only")
        res = _linearmodels(data, res, outcome=outcome, unit=unit, time=time, cluster=cluster, weights=weights)
    return res


def _linearmodels(data: pl.DataFrame, res: TwfeResult, *, outcome: str, unit: str, time: str,
                  cluster: str | None, weights: str | None) -> TwfeResult:
    """PanelOLS fit; its clustered covariance carries n/(n − k_all) (every effect counted), replaced by ours."""
    from linearmodels.panel import PanelOLS

    pdf = data.to_pandas().set_index([unit, time])
    mod = PanelOLS(pdf[outcome], pdf[res.terms], entity_effects=True, time_effects=True,
                   weights=pdf[weights] if weights else None)
    n, k = len(pdf), len(res.terms)
    k_all = k + data.get_column(unit).n_unique() - 1 + data.get_column(time).n_unique() - 1
    if cluster is None:
        fit = mod.fit(cov_type="unadjusted", debiased=True)
        vcov = fit.cov.to_numpy()
    else:
        fit = mod.fit(cov_type="clustered", clusters=pdf[cluster], debiased=False, group_debias=False)
        g = data.get_column(cluster).n_unique()
        vcov = fit.cov.to_numpy() * (n - k_all) / n * (n - 1) / (n - res.fit.df_k) * g / (g - 1)
    coef = fit.params[res.terms].to_numpy()
    return TwfeResult(terms=res.terms, fit=replace(res.fit, coef=coef, vcov=vcov), n_units=res.n_units)
