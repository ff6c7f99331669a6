"""``make demo`` runs the main job and prints results (here joined to the test session's Ray)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray


def test_demo_prints_sdk_and_http_results(ray_serve, tmp_path: Path) -> None:
    import ray

    env = {
        **os.environ,
        "JOEY_HOME": str(tmp_path / "demo-home"),
        "JOEY_RAY_ADDRESS": ray.get_runtime_context().gcs_address,
        "JOEY_HTTP_PORT": str(ray_serve.http_port),
    }
    done = subprocess.run([sys.executable, "-m", "joey.demo"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "DataFrame in -> DataFrame out" in out
    assert "Arrow table in -> Arrow table out" in out
    assert f"POST http://127.0.0.1:{ray_serve.http_port}/infer/demo/fraud-demo" in out
    assert "fraud_probability" in out
    assert '"anomaly":{"count":0}' in out
    assert "undeployed; status: Unavailable" in out
