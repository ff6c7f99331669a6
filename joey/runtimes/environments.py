"""Isolated Python environments for models that bring a ``requirements.txt``.

Ray's ``pip``/``uv`` runtime_env clones the driver's whole virtualenv (gigabytes with the
platform's frameworks) and rebuilds it every Ray session. joey instead builds a slim venv:
``ray[serve]`` at the platform's version, what a step replica imports, and the model's
requirements; joey itself (with its ``mac`` package) is linked in, not copied. Environments
are keyed by a hash of all that and kept under ``JOEY_HOME/envs``, so the next upload or
deploy of the same requirements starts in seconds. The replica runs in it through
``runtime_env.py_executable``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import joey
import mac
from joey.errors import ModelUploadError
from joey.runtimes.archive import parse_requirements
from joey.runtimes.base import REPLICA_PACKAGES

__all__ = ["check_in_environment", "ensure_environment", "environment_key", "parse_requirements"]

READY = "joey-env-ready"


def environment_key(requirements: list[str]) -> str:
    basis = "\n".join([sys.version, f"ray=={metadata.version('ray')}", *REPLICA_PACKAGES, "--", *requirements])
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def ensure_environment(requirements: list[str], envs_dir: Path,
                       log: Callable[[str], None] = lambda _: None) -> Path:
    """The python of the environment for ``requirements``, built once (under a file lock)."""
    key = environment_key(requirements)
    folder = envs_dir / key
    python = folder / "bin" / "python"
    envs_dir.mkdir(parents=True, exist_ok=True)
    with (envs_dir / f"{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / READY).exists():
            _link_joey(folder)  # environments built before ``mac`` was linked get it now
            return python
        log(f"Building isolated environment {key} for: {', '.join(requirements)}")
        _run([sys.executable, "-m", "venv", "--clear", str(folder)])
        (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
        _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              f"ray[serve]=={metadata.version('ray')}", *REPLICA_PACKAGES, "-r", str(folder / "requirements.txt")])
        _link_joey(folder)
        (folder / READY).write_text(key)
        log(f"Isolated environment {key} ready")
    return python


def _link_joey(folder: Path) -> None:
    """Make this joey, and the ``mac`` package installed with it, importable in the environment
    without installing their dependencies."""
    source = folder / "joey-src"
    source.mkdir(exist_ok=True)
    for name, init in (("joey", joey.__file__), ("mac", mac.__file__)):
        link = source / name
        if not link.exists():
            link.symlink_to(Path(init).parent, target_is_directory=True)
    site = next((folder / "lib").glob("python*/site-packages"))
    (site / "joey-src.pth").write_text(str(source) + "\n")


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout)[-2000:]
        raise ModelUploadError(f"building the model's environment failed: {' '.join(command[:4])} ...: {tail}")


def check_in_environment(python: Path, runtime_key: str, artifact: Path, config_json: str,
                         env_vars: dict[str, str] | None = None) -> None:
    """Load the model with its runtime inside the environment (and run one generated row
    where the runtime asks for it); its error text on failure."""
    done = subprocess.run(
        [str(python), "-m", "joey.runtimes.check", runtime_key, str(artifact), config_json],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, **(env_vars or {})},  # noqa: TID251 - the child inherits ours, plus the model's
    )
    if done.returncode != 0:
        raise ModelUploadError((done.stdout.strip().splitlines() or [done.stderr[-1500:]])[-1])
