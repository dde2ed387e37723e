"""Synthetic DST-style registers with a planted effect of flexible letting.

``generate(reg, persons=..., seed=..., effect=...)`` writes BEF, UDDA, IND
and AKM for 2003-2013 in the contract §1 layout plus ``REG/truth.json``.
The model and its calibration are described in docs/synthetic.md.
"""

from socialmix.synth.generate import generate, load_calibration

__all__ = ["generate", "load_calibration"]
