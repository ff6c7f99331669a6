"""Fixtures: a fresh process's environment (see fresh_process), a loopback port nothing answers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fresh_process import RAY_VARIABLES, Fresh
from support.waiting import free_port


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Fresh]:
    # Short: Ray's unix sockets live under it and their paths must stay under 108 bytes.
    ray_tmpdir = Path(tempfile.mkdtemp(prefix="jr-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in RAY_VARIABLES}
    env.update({
        "JOEY_HOME": str(tmp_path / "joey-home"),
        "JOEY_HTTP_PORT": str(free_port()),
        "RAY_TMPDIR": str(ray_tmpdir),
    })
    yield Fresh(env, tmp_path, ray_tmpdir)
    shutil.rmtree(ray_tmpdir, ignore_errors=True)


@pytest.fixture
def dead_address() -> Callable[[], str]:
    """A loopback ``host:port`` where nothing listens."""
    return lambda: f"127.0.0.1:{free_port()}"
