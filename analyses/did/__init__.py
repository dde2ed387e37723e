"""Difference-in-differences estimators (contract §6).

``att_gt`` (Callaway–Sant'Anna) returns cells with influence functions that
``.aggregate()`` re-weights; ``twfe``, ``event_study``, ``sun_abraham`` and
``dose`` share one exact two-way fixed-effects engine (``fe``) that also runs
on compressed person-level cells (``compress``).
"""

from analyses.did.att_gt import AttGtResult, att_gt
from analyses.did.dose import dose
from analyses.did.event_study import EventStudyResult, event_study
from analyses.did.sun_abraham import sun_abraham
from analyses.did.twfe import TwfeResult, twfe

__all__ = ["AttGtResult", "EventStudyResult", "TwfeResult", "att_gt", "dose", "event_study", "sun_abraham", "twfe"]

# inference add-ons (issue 15)
from analyses.did.dose import dose_fits  # noqa: E402

__all__ += ["dose_fits"]
from analyses.did.multitest import adjust_pvalues, romano_wolf  # noqa: E402

__all__ += ["adjust_pvalues", "romano_wolf"]
from analyses.did.ri import ri_pvalue  # noqa: E402

__all__ += ["ri_pvalue"]
from analyses.did.bacon import BaconResult, bacon  # noqa: E402

__all__ += ["BaconResult", "bacon"]
from analyses.did.honest import honest_bounds, honest_did  # noqa: E402

__all__ += ["honest_bounds", "honest_did"]
