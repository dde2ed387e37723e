"""Progress reporting shared by every stage.

Stages call :func:`step` around each unit of work; the CLI decides whether a
rich progress display is shown (``enable``). Library users get silence.
Descriptions must never contain identifier values.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("socialmix")
_progress = None  # rich.progress.Progress while the CLI shows progress


def enable(progress: object | None) -> None:
    """Install (or remove, with None) the CLI's rich Progress instance."""
    global _progress
    _progress = progress


@contextlib.contextmanager
def step(description: str) -> Iterator[None]:
    """Show a spinner for one unit of work and log its duration."""
    t0 = time.perf_counter()
    task = _progress.add_task(description, total=None) if _progress is not None else None
    try:
        yield
    finally:
        if task is not None:
            _progress.update(task, total=1, completed=1)
        log.info("%s: %.2f s", description, time.perf_counter() - t0)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` with a progress bar when the CLI enabled one."""
    if _progress is None:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    task = _progress.add_task(description, total=total)
    for item in items:
        yield item
        _progress.advance(task)
