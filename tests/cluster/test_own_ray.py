"""Embedded mode starts a Ray of its own; joining happens only through JOEY_RAY_ADDRESS.

A stale ``ray_current_cluster`` file (what a long-gone ``ray start`` leaves) once made an
embedded deploy hang ten minutes inside ``ray.init``. Every test runs in a fresh process
with its own Ray temp dir, so the machine's ``/tmp/ray`` is never read or written.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fresh_process import SCRIPT, Fresh

# Joining: how long a dead address may take to fail (the setting, plus Python and Ray imports).
CONNECT_TIMEOUT_S = 2.0
JOIN_FAILS_WITHIN_S = 30.0

_JOIN = """
import json, time
from joey.cluster import ensure_ray
from joey.config import Settings
from joey.errors import RayConnectionError
started = time.monotonic()
try:
    ensure_ray(Settings())
    report = {"joined": True}
except RayConnectionError as exc:
    report = {"address": exc.address, "error": str(exc)}
report["seconds"] = time.monotonic() - started
print("REPORT " + json.dumps(report), flush=True)
"""


@pytest.mark.ray
def test_embedded_mode_starts_its_own_ray_despite_a_stale_address_file(
        fresh: Fresh, dead_address: Callable[[], str]) -> None:
    stale = dead_address()
    fresh.write_ray_current_cluster(stale)

    # before, ray.init joined the stale address and retried it for ten minutes
    report = fresh.report([str(SCRIPT)], timeout_s=150)

    assert len(report["output"]) == 1
    assert report["gcs_address"] != stale
    assert report["nodes"] == ["127.0.0.1"]


@pytest.mark.ray
def test_embedded_mode_ignores_ray_address(fresh: Fresh, dead_address: Callable[[], str]) -> None:
    fresh.env["RAY_ADDRESS"] = dead_address()

    report = fresh.report([str(SCRIPT), "--start-only"], timeout_s=90)

    assert report["gcs_address"] != fresh.env["RAY_ADDRESS"]
    assert report["nodes"] == ["127.0.0.1"]


@pytest.mark.parametrize("case", ["auto-stale-file", "auto-ray-address", "host-port", "ray-client"])
def test_joining_an_address_that_does_not_answer_fails_fast(
        fresh: Fresh, dead_address: Callable[[], str], case: str) -> None:
    dead = dead_address()
    if case == "auto-stale-file":
        fresh.write_ray_current_cluster(dead)
        address = "auto"
    elif case == "auto-ray-address":
        fresh.env["RAY_ADDRESS"] = dead
        address = "auto"
    else:
        address = f"ray://{dead}" if case == "ray-client" else dead
    fresh.env["JOEY_RAY_ADDRESS"] = address
    fresh.env["JOEY_RAY_CONNECT_TIMEOUT_S"] = str(CONNECT_TIMEOUT_S)

    started = time.monotonic()
    report = fresh.report(["-c", _JOIN], timeout_s=JOIN_FAILS_WITHIN_S + 30)

    assert time.monotonic() - started < JOIN_FAILS_WITHIN_S
    assert report.get("address") == address, report
    assert dead in report["error"]
    assert report["seconds"] < CONNECT_TIMEOUT_S + 3


def test_auto_without_any_cluster_to_name_fails_at_once(fresh: Fresh) -> None:
    fresh.env["JOEY_RAY_ADDRESS"] = "auto"

    report = fresh.report(["-c", _JOIN], timeout_s=60)

    assert report.get("address") == "auto", report
    assert "ray_current_cluster" in report["error"]
    assert report["seconds"] < 3


@pytest.mark.ray
@pytest.mark.usefixtures("ray_serve")
def test_joining_a_loopback_cluster_works_without_the_loopback_variable(fresh: Fresh) -> None:
    """Ray rewrites 127.0.0.1 to the external address unless the switch is off: joey turns it off."""
    import ray

    gcs = ray.get_runtime_context().gcs_address
    fresh.env["JOEY_RAY_ADDRESS"] = gcs

    report = fresh.report(["-c", _JOIN + "import ray; print('REPORT ' + json.dumps("
                                        "{'gcs': ray.get_runtime_context().gcs_address}))"],
                          timeout_s=60)

    assert report == {"gcs": gcs}
