"""Helper process of :func:`analyses.figures.run.run_figures` (``python -m analyses.figures.helper JOB``).

A separate interpreter started with ``-m`` rather than a multiprocessing
worker: spawn and forkserver re-import the caller's ``__main__``, which
would rerun an unguarded user script (a whole pipeline) in the child, and
fork copies Polars' thread state. The helper rebuilds the figure set from the
same released tables and style and draws the chunks of the job file it can
claim, front to back; the parent claims from the back. A claim is a file
created with ``O_EXCL``; a finished chunk gets a ``.done`` marker, so the
parent redraws anything a failed helper left unfinished.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def claim(claims: Path, i: int) -> bool:
    """Take chunk ``i`` unless the other process already has (atomic create)."""
    try:
        os.close(os.open(claims / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    from analyses.figures import run as fr
    from analyses.figures import style as st

    style = st.load_style(job["config"])
    specs = {s.name: s for s in fr.figure_specs(job["out"], lang=job["lang"], style=style)}
    folder, claims = Path(job["folder"]), Path(job["claims"])
    for i, names in enumerate(job["chunks"]):
        if not claim(claims, i):
            continue
        for name in names:
            (folder / f"{name}.{job['fmt']}").write_bytes(fr.render(specs[name], style, fmt=job["fmt"]))
        (claims / f"{i}.done").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
