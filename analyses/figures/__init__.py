"""Report figures drawn from the released tables of OUT (see docs/figures.md)."""

from __future__ import annotations

from analyses.figures.run import run_figures

__all__ = ["run_figures"]
