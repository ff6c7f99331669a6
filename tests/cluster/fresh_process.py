"""Run joey in a fresh Python process whose environment says nothing about Ray.

Each process gets its own JOEY_HOME, Serve port and Ray temp dir (``RAY_TMPDIR``), so
nothing here reads or writes the machine's ``/tmp/ray`` and no stale file or variable
of the test session leaks in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("embedded_session.py")

# What the test session (tests/conftest.py, the Makefile) or a user's shell may set.
RAY_VARIABLES = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS", "JOEY_RAY_ADDRESS")


@dataclass
class Fresh:
    """A fresh process's environment, working directory and Ray temp dir."""

    env: dict[str, str]
    cwd: Path
    ray_tmpdir: Path

    def write_ray_current_cluster(self, address: str) -> Path:
        """What a `ray start` (long gone) left behind: the file plain ``ray.init()`` joins."""
        path = self.ray_tmpdir / "ray" / "ray_current_cluster"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(address)
        return path

    def run(self, args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout_s)

    def report(self, args: list[str], timeout_s: float) -> dict[str, Any]:
        """Run ``args`` and return the JSON of its ``REPORT`` line."""
        done = self.run(args, timeout_s)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        lines = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
        assert lines, done.stdout[-2000:] + done.stderr[-4000:]
        return dict(json.loads(lines[-1].removeprefix("REPORT ")))
