"""The CLI puts each stage's allocator setting (socialmix/stages.toml) in the environment before polars loads."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import os, sys
from socialmix.cli import set_allocator
set_allocator(sys.argv[1])
print(os.environ.get("_RJEM_MALLOC_CONF", "<unset>"))
"""


def _run(command: str, env_value: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if env_value is not None:
        env["_RJEM_MALLOC_CONF"] = env_value
    done = subprocess.run([sys.executable, "-c", PROBE, command], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return done.stdout.strip()


def test_each_stage_gets_its_own_setting_and_the_environment_wins() -> None:
    stages = tomllib.loads((ROOT / "socialmix" / "stages.toml").read_text(encoding="utf-8"))["stages"]
    assert _run("measures") == stages["measures"]["allocator"] != stages["build"]["allocator"]
    assert _run("build") == stages["build"]["allocator"]
    assert _run("figures") == "<unset>"  # no setting: jemalloc's defaults
    assert _run("measures", env_value="dirty_decay_ms:0") == "dirty_decay_ms:0"


def test_nothing_changes_once_polars_is_loaded() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    code = "import os, polars\nbefore = os.environ.get('_RJEM_MALLOC_CONF', '<unset>')\n" + PROBE + "print(before)\n"
    done = subprocess.run([sys.executable, "-c", code, "measures"], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)
    after, before = done.stdout.split()
    assert after == before  # too late to matter, so left as polars found it
    stages = tomllib.loads((ROOT / "socialmix" / "stages.toml").read_text(encoding="utf-8"))["stages"]
    assert after != stages["measures"]["allocator"]
