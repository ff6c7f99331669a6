"""An embedded joey's Ray listens on loopback only, however joey is entered.

Each test is a plain ``python script.py`` in a fresh process with no
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` in its environment (the Makefile and
tests/conftest.py set it, which once hid a Ray listening on every interface).
"""

from __future__ import annotations

import sys

import pytest
from fresh_process import SCRIPT, Fresh

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost"}

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_importing_joey_imports_no_ray(fresh: Fresh) -> None:
    """Ray reads its loopback switch when imported: joey must not import it before ensure_ray."""
    code = ("import sys, joey, joey.cluster, joey.platform, joey.platform.client, "
            "joey.platform.pipeline, joey.platform.context\n"
            "from joey import Client\n"
            "from joey.cluster import ensure_ray, ensure_serve\n"
            "print('REPORT', '{\"ray\": %s}' % str('ray' in sys.modules).lower())\n")
    assert fresh.report(["-c", code], timeout_s=60) == {"ray": False}


@pytest.mark.ray
@linux_only
@pytest.mark.parametrize("import_ray_first", [False, True], ids=["joey-first", "ray-first"])
def test_embedded_ray_listens_on_loopback_only(fresh: Fresh, import_ray_first: bool) -> None:
    args = [str(SCRIPT), *(["--import-ray-first"] if import_ray_first else [])]
    report = fresh.report(args, timeout_s=150)

    assert report["nodes"] == ["127.0.0.1"]
    assert len(report["output"]) == 1
    listening = report["listening"]
    # the listing saw Ray's own processes, not just the script
    assert {"gcs_server", "raylet"} <= {s["process"] for s in listening}, listening
    # Serve replicas included: joey.deployments.loopback keeps their gRPC server on loopback;
    # HAProxy is Serve's HTTP entry, its stats and metrics kept on loopback by joey's wrapper
    assert {"ray::ServeRepli", "haproxy"} <= {s["process"] for s in listening}, listening
    assert report["http_status"] == 200
    assert report["serve_env"] == []
    exposed = [s for s in listening if s["ip"] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"
