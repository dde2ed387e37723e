"""Dry run of `make wheelhouse` for another platform: does every runtime dependency resolve, pinned?

    python .ci/wheelhouse_check.py [--platform win_amd64] [--python-version 3.11] [--extras sas,stata]

Downloads, into a temporary directory that is removed afterwards, the binary
wheels `pip download --only-binary=:all:` picks for the target under
constraints.txt, then checks that every wheel's version is the one pinned in
constraints.txt (an unpinned package would make two wheelhouses differ).
Needs the package index; says so plainly (exit 3) when it is unreachable.
Exit 0: everything resolves and is pinned; 1: something does not.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[canonical(name)] = version.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--platform", default="win_amd64")
    p.add_argument("--python-version", default="3.11")
    p.add_argument("--extras", default="sas,stata")
    a = p.parse_args(argv)
    constraints = ROOT / "constraints.txt"
    pinned = pins(constraints)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", tmp, "--only-binary=:all:",
               "--platform", a.platform, "--python-version", a.python_version, "-c", str(constraints),
               f"{ROOT}[{a.extras}]" if a.extras else str(ROOT)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            err = r.stderr.strip().splitlines()
            if any(s in r.stderr for s in ("NewConnectionError", "Max retries exceeded", "Temporary failure",
                                           "Network is unreachable")):
                print(f"wheelhouse-check: the package index is not reachable from here; {a.platform} not checked")
                return 3
            print(f"wheelhouse-check: {a.platform} / Python {a.python_version} does NOT resolve:")
            print("\n".join(err[-15:]))
            return 1
        wheels = sorted(Path(tmp).glob("*.whl"))
        size = sum(w.stat().st_size for w in wheels)
        unpinned, wrong = [], []
        for w in wheels:
            name, version = w.name.split("-")[:2]
            key = canonical(name)
            if key == "socialmix":
                continue
            if key not in pinned:
                unpinned.append(f"{name}=={version}")
            elif pinned[key] != version:
                wrong.append(f"{name} {version} (pinned {pinned[key]})")
        print(f"wheelhouse-check: {a.platform} / Python {a.python_version}: {len(wheels)} wheels, "
              f"{size / 1e6:.0f} MB, all binary")
        if unpinned:
            print("  not pinned in constraints.txt: " + ", ".join(unpinned))
        if wrong:
            print("  other version than pinned: " + ", ".join(wrong))
        return 1 if unpinned or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
