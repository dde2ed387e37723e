"""Every option name of ``analyses.did`` in one leaf module (no imports of analyses.did).

att_gt, aggregate, bootstrap and the two-way FE family all check their string
options against these ``Literal`` types, so the modules need not import each
other for them (that was an att_gt <-> aggregate <-> bootstrap circle).
"""

from __future__ import annotations

from typing import Literal, get_args

from panel.errors import InputError

Control = Literal["never", "notyet"]
BasePeriod = Literal["varying", "universal"]
EstMethod = Literal["dr", "ipw", "reg"]
Aggregation = Literal["simple", "dynamic", "group", "calendar"]
Multiplier = Literal["mammen", "rademacher", "webb"]
Engine = Literal["fe", "linearmodels"]
SingleCluster = Literal["split", "ignore"]
CovariateFallback = Literal["none", "drop"]
SmallSample = Literal["none", "cr2"]


def check_option(value: str, kind: object, name: str) -> None:
    """Raise InputError unless ``value`` is one of the ``Literal`` ``kind``."""
    allowed = get_args(kind)
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
