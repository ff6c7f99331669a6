"""The dashboard without Ray or a browser: the charts' series use the metrics' own formula,
the vendored files are the ones VENDORED.md names, nothing is loaded from another site, and
the embedded dashboard's pages answer (with its token only)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from support.waiting import free_port, wait_until

from joey.config import Settings
from joey.logs.writer import SegmentWriter
from joey.platform import logs
from joey.platform.context import Context
from joey.service.dashboard import embedded_app
from joey.service.dashboard.session import COOKIE

DASHBOARD = Path(__file__).parents[2] / "joey" / "service" / "dashboard"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _answer(at: datetime, rows: int, elapsed_ns: list[int], flagged: int, partition: str = "r1") -> pa.Table:
    """``rows`` logged rows of one answered request at ``at``, ``flagged`` of them anomalous."""
    flags = [i < flagged for i in range(rows)]
    return pa.table({
        "time": pa.array([int(at.timestamp() * 1000)] * rows, pa.timestamp("ms")),
        "in.x": pa.array([float(i) for i in range(rows)]),
        "out.y": pa.array([[float(i) * 2] for i in range(rows)], pa.list_(pa.float32())),
        "anomaly.big": pa.array(flags),
        "anomaly.count": pa.array([int(f) for f in flags], pa.uint32()),
        "metadata.elapsed": pa.array([elapsed_ns] * rows, pa.list_(pa.uint64())),
        "metadata.partition": pa.array([partition] * rows),
    })


def _write_log(log_dir: str) -> None:
    writer = SegmentWriter(log_dir, "replica-1")
    writer.write(_answer(T0 + timedelta(seconds=5), 3, [1_000_000, 2_000_000], flagged=1))    # 3 ms
    writer.write(_answer(T0 + timedelta(seconds=65), 2, [4_000_000, 1_000_000], flagged=0))   # 5 ms
    writer.write(_answer(T0 + timedelta(seconds=70), 4, [10_000_000], flagged=2))             # 10 ms
    writer.write(_answer(T0 + timedelta(seconds=180), 1, [2_000_000], flagged=0))             # at the end
    writer.close()


def test_the_series_sums_to_the_metrics_of_the_whole_range(tmp_path: Path) -> None:
    log_dir = str(tmp_path / "log")
    _write_log(log_dir)
    start, end = T0, T0 + timedelta(seconds=180)
    whole = logs.metrics(log_dir, start, end)
    series = logs.metrics_series(log_dir, start, end, 3)

    assert (whole["requests"], whole["rows"], whole["anomalies"]) == (4, 10, 3)
    assert [b["requests"] for b in series] == [1, 2, 1]  # the row at `end` counts in the last bucket
    assert [b["rows"] for b in series] == [3, 6, 1]
    assert sum(b["anomalies"] for b in series) == whole["anomalies"]
    assert series[0]["rps"] == pytest.approx(1 / 60)
    assert series[1]["rows_per_s"] == pytest.approx(6 / 60)
    assert series[1]["latency_ms"]["p50"] == pytest.approx(7.5)  # 5 ms and 10 ms
    assert series[0]["start"] == start and series[-1]["end"] == end
    one = logs.metrics_series(log_dir, start, end, 1)[0]
    assert {k: v for k, v in one.items()} == whole  # one bucket is the aggregate, number for number


def test_the_vendored_files_are_the_ones_vendored_md_names() -> None:
    vendored = DASHBOARD / "static" / "vendor"
    listed = re.findall(r"^\| (\S+) \| (\S+) \| (\S+) \| ([0-9a-f]{64}) \|$",
                        (vendored / "VENDORED.md").read_text(), flags=re.MULTILINE)
    assert {row[0] for row in listed} >= {"uplot/uPlot.iife.min.js", "uplot/uPlot.min.css", "uplot/LICENSE"}
    lock = (DASHBOARD / "vendor" / "package-lock.json").read_text()
    for path, package, version, sha in listed:
        assert hashlib.sha256((vendored / path).read_bytes()).hexdigest() == sha, path
        assert f'"node_modules/{package}": {{\n      "version": "{version}"' in lock
    on_disk = {p.relative_to(vendored).as_posix() for p in vendored.rglob("*") if p.is_file()}
    assert on_disk == {row[0] for row in listed} | {"VENDORED.md"}


def test_no_page_loads_anything_from_another_site() -> None:
    for path in [*DASHBOARD.joinpath("templates").rglob("*.html"), *DASHBOARD.joinpath("static").glob("*.*")]:
        text = path.read_text()
        if path.suffix == ".svg":
            text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, flags=re.IGNORECASE), path


@pytest.fixture
def embedded(tmp_path: Path) -> tuple[TestClient, str]:
    settings = Settings(home=tmp_path / "home")
    context = Context(settings, interactive=False)
    workspace = context.store.create_workspace("team-a")
    pipeline = context.store.get_or_create_pipeline(workspace.id, "scorer")
    context.store.add_pipeline_version(pipeline.id, [{"ModelInference": {"models": [
        {"name": "m", "version": "v1", "sha": "abc"}]}}])
    context.audit("pipeline.deploy", "pipeline", "scorer", workspace_id=workspace.id, object_id=pipeline.id)
    _write_log(f"{settings.logs_uri}/team-a/scorer")
    app, gate = embedded_app(context, live=False)
    return TestClient(app, base_url="http://127.0.0.1:8090"), gate.token


def test_the_embedded_dashboard_needs_its_token(embedded: tuple[TestClient, str]) -> None:
    client, token = embedded
    refused = client.get("/dashboard/w/team-a", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/dashboard/login?next=")
    wrong = client.post("/dashboard/login", data={"token": "made-up"}, follow_redirects=False)
    assert wrong.status_code == 401 and COOKIE not in wrong.cookies
    signed_in = client.get(f"/dashboard/login?token={token}", follow_redirects=False)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    home = client.get("/dashboard/")
    assert home.status_code == 200 and 'data-workspace="team-a"' in home.text
    assert 'data-limit="deployed pipelines"' in home.text  # the quota section: embedded mode is an admin
    assert "default-src 'none'" in home.headers["content-security-policy"]


def test_the_embedded_pages_show_the_log_metrics_and_audit(embedded: tuple[TestClient, str]) -> None:
    client, token = embedded
    client.get(f"/dashboard/login?token={token}")
    workspace = client.get("/dashboard/w/team-a")
    assert workspace.status_code == 200 and 'data-pipeline="scorer"' in workspace.text
    window = "anomaly_from=2025-03-01T12:00:00&anomaly_to=2025-03-01T12:10:00"
    page = client.get(f"/dashboard/w/team-a/p/scorer?{window}&anomaly_size=10")
    assert page.status_code == 200, page.text
    assert page.text.count('class="anomaly"') == 3  # 1 + 2 rows of two requests
    assert page.text.count('<span class="badge warn">big</span>') == 3
    assert 'data-action="pipeline.deploy"' in page.text
    series = client.get("/dashboard/w/team-a/p/scorer/series.json?period=7d").json()
    assert len(series["t"]) == 84 and set(series) >= {"rps", "rows_per_s", "p50", "p95", "p99"}
    assert client.get("/dashboard/w/nope/p/scorer").status_code == 404
    missing = client.get("/dashboard/w/team-a/p/nope")
    assert missing.status_code == 404 and "nope" not in missing.text
    assert client.get("/dashboard/w/team-a/p/scorer?anomaly_size=7").status_code == 400
    assert client.get("/dashboard/static/vendor/uplot/uPlot.iife.min.js").status_code == 200


def test_logout_forgets_the_session(embedded: tuple[TestClient, str]) -> None:
    client, token = embedded
    client.get(f"/dashboard/login?token={token}")
    out = client.post("/dashboard/logout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/dashboard/", follow_redirects=False).status_code == 303
    cross = client.post("/dashboard/login", data={"token": token}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403


def test_joey_dashboard_serves_the_embedded_store_on_loopback(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "JOEY_RAY_ADDRESS")}
    env["JOEY_HOME"] = str(tmp_path / "home")
    joey = Path(sys.executable).with_name("joey")
    process = subprocess.Popen([str(joey), "dashboard", "--port", str(port), "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        lines = []
        while not lines or lines[-1] != "}":
            lines.append(process.stdout.readline().rstrip("\n"))
            assert lines[-1] or process.poll() is None, "joey dashboard ended"
        started = json.loads("\n".join(lines))
        assert started["url"] == f"http://127.0.0.1:{port}/dashboard/" and started["live_status"] is False
        wait_until(lambda: _answers(started["url"]), timeout=30)
        with httpx.Client() as browser:
            assert browser.get(started["url"]).status_code == 303  # to the login page
            signed_in = browser.get(started["login_url"], follow_redirects=True)
            assert signed_in.status_code == 200 and 'id="who"' in signed_in.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def test_the_service_dashboard_signs_in_its_users_and_hides_other_workspaces(tmp_path: Path) -> None:
    from joey.platform.accounts import Accounts, Principal
    from joey.service.app import create_app

    settings = Settings(home=tmp_path / "home", admin_email="admin@example.com", admin_password="admin-pass-1")
    app = create_app(settings)
    context = Context(settings, interactive=False)
    accounts = Accounts(context.store)
    admin = Principal(1, "admin@example.com", is_admin=True)
    accounts.invite_user(admin, "in@example.com", "in-password")
    accounts.invite_user(admin, "out@example.com", "out-password")
    mine = context.store.create_workspace("mine")
    context.store.create_workspace("theirs")
    accounts.set_role(mine.id, "in@example.com", "OWNER")
    api_token = accounts.login("in@example.com", "in-password").token

    browser = TestClient(app, base_url="http://127.0.0.1:8080")
    assert browser.get(f"/dashboard/login?token={api_token}", follow_redirects=False).status_code == 200  # no URL login
    wrong = browser.post("/dashboard/login", data={"email": "in@example.com", "password": "nope"})
    assert wrong.status_code == 401 and "wrong email or password" in wrong.text
    assert browser.post("/dashboard/login", data={"email": "in@example.com", "password": "in-password"}).status_code == 200
    home = browser.get("/dashboard/")
    assert 'data-workspace="mine"' in home.text and "theirs" not in home.text
    assert 'id="quotas"' not in home.text  # admins only
    hidden = browser.get("/dashboard/w/theirs")
    assert hidden.status_code == 404 and "theirs" not in hidden.text
    assert browser.get("/dashboard/w/mine").status_code == 200
    issued = browser.cookies.get(COOKIE)
    browser.post("/dashboard/logout")
    api = TestClient(app)

    def whoami(token: str | None) -> int:
        return api.post("/v1/api/auth/whoami", headers={"Authorization": f"Bearer {token}"}).status_code

    wait_until(lambda: whoami(issued) == 401, timeout=10)  # the service trusts a checked token for 2 s
    assert whoami(api_token) == 200  # a pasted or API token is never revoked by logging out

    admin_browser = TestClient(app, base_url="http://127.0.0.1:8080")
    assert admin_browser.post("/dashboard/login", data={"email": "admin@example.com",
                                                        "password": "admin-pass-1"}).status_code == 200
    admin_home = admin_browser.get("/dashboard/").text
    assert admin_home.count('id="quotas"') == 1  # admins see the use against the limits, once
    assert "<title>Workspaces · joey dashboard</title>" in admin_home

