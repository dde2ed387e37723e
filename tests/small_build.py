"""A small synthetic build (2004-2005, base year 2003) for tests that need a real panel OUT."""

from __future__ import annotations

from pathlib import Path

from panel.build import build
from socialmix.synth import generate


def small_build(root: Path, *, seed: int, persons: int = 6000) -> Path:
    """Generate registers under ``root`` and build them; returns OUT."""
    generate(root / "reg", persons=persons, seed=seed, effect=0)
    build(root / "reg", root / "out", years=(2004, 2005))
    return root / "out"
