"""The dashboard in a real headless Chromium against the real service: a pipeline deployed
with a validation answers real HTTP requests, and its owner sees, after logging in and
switching workspace, its charts drawn with non-zero values, the validation's anomaly rows and
the audit entry of the deploy; a user of another workspace sees none of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.dashboard_scene import (
    PASSWORD,
    STROKE_PIXELS,
    BrowserUnavailableError,
    Scene,
    browser_disabled,
    build,
    chromium,
    log_in,
    pipeline_path,
    undeploy,
)
from support.service_process import Service

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if browser_disabled():
        pytest.skip("JOEY_TEST_BROWSER=0: the browser tests are skipped")
    try:
        with chromium() as launched:
            yield launched
    except BrowserUnavailableError as exc:
        pytest.fail(f"a browser is needed by this test: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def scene(service: Service, admin_token: str, browser: Any,  # noqa: ARG001 - no deploy without a browser
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    built = build(service, admin_token, tmp_path_factory.mktemp("dashboard"))
    yield built
    undeploy(built)


def test_the_owner_sees_charts_anomalies_and_the_deploy(scene: Scene, browser: Any) -> None:
    base = scene.service.url
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{base}/dashboard/w/{Scene.WORKSPACE_B}")  # not signed in: the login page, then back
    assert page.url.startswith(f"{base}/dashboard/login?next=")
    log_in(page, Scene.OWNER_EMAIL, PASSWORD)
    page.wait_for_url(f"**/dashboard/w/{Scene.WORKSPACE_B}")
    assert page.inner_text("#workspace-name") == Scene.WORKSPACE_B
    picker = page.locator("#workspace-picker option:not([disabled])")
    assert sorted(picker.all_inner_texts()) == [Scene.WORKSPACE_A, Scene.WORKSPACE_B]

    page.select_option("#workspace-picker", Scene.WORKSPACE_A)  # the picker submits on change
    page.wait_for_url(f"**/dashboard/w/{Scene.WORKSPACE_A}")
    row = page.locator(f"tr[data-pipeline='{scene.pipeline}']")
    assert "Running" in row.inner_text()
    assert Scene.VALIDATION in row.inner_text() and Scene.MODEL in row.inner_text()
    assert "ingress" in row.inner_text()  # where each step runs
    assert page.locator(f"tr[data-model='{Scene.MODEL}']").count() == 1

    row.locator("a").click()
    page.wait_for_selector("#charts[data-drawn=true]", timeout=30_000)
    metric = {name: page.inner_text(f"[data-metric={name}]")
              for name in ("requests", "rows", "rps", "rows_per_s", "p50", "p95", "p99", "anomalies")}
    assert int(metric["requests"]) == scene.requests and int(metric["rows"]) == scene.rows
    assert int(metric["anomalies"]) == scene.anomalous_rows
    assert all(float(metric[name]) > 0 for name in ("rps", "rows_per_s", "p50", "p95", "p99")), metric
    charts = page.locator("[data-chart]")
    assert charts.count() == 3
    for index in range(3):
        figure = charts.nth(index)
        assert float(figure.get_attribute("data-max") or 0) > 0, figure.get_attribute("data-chart")
        assert figure.evaluate(STROKE_PIXELS) > 10, f"{figure.get_attribute('data-chart')}: no line drawn"

    anomalies = page.locator("#anomalies tr.anomaly")
    assert anomalies.count() == min(scene.anomalous_rows, 25)
    assert all(Scene.VALIDATION in text for text in anomalies.locator("td.failed").all_inner_texts())
    page.select_option("#anomalies select[name=anomaly_size]", "10")
    page.click("#anomalies button[type=submit]")
    page.wait_for_url("**anomaly_size=10**")
    assert page.locator("#anomalies tr.anomaly").count() == 10
    page.click("#anomalies a[rel=next]")
    page.wait_for_url("**anomaly_page=2**")
    assert page.locator("#anomalies tr.anomaly").count() == 10

    deploy = page.locator("#audit tr[data-action='pipeline.deploy']")
    assert deploy.count() == 1 and Scene.OWNER_EMAIL in deploy.inner_text()
    page.fill("#audit input[name=audit_to]", "2000-01-01T00:00:00")  # before anything happened
    page.click("#audit button[type=submit]")
    page.wait_for_url("**audit_to=**")
    assert page.locator("#audit tr[data-action='pipeline.deploy']").count() == 0
    assert not problems, problems  # no script error, nothing the CSP refused

    token = next(c["value"] for c in context.cookies() if c["name"] == "joey_dashboard")
    page.click("#logout")
    page.wait_for_url("**/dashboard/login")
    deadline = time.monotonic() + 10  # the service trusts a checked token for 2 s
    while scene.service.post("auth/whoami", token).status_code != 401:
        assert time.monotonic() < deadline, "logging out did not revoke the dashboard's token"
        time.sleep(0.2)
    context.close()


def test_a_user_of_another_workspace_sees_none_of_it(scene: Scene, browser: Any) -> None:
    base = scene.service.url
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/dashboard/login")
    page.fill("#token-login input[name=token]", scene.stranger)  # an API token pasted
    page.click("#token-login button[type=submit]")
    page.wait_for_selector("#who")
    assert page.locator("#workspace-picker option:not([disabled])").all_inner_texts() == [Scene.WORKSPACE_B]
    assert Scene.WORKSPACE_A not in page.content()

    for path in (pipeline_path(scene), f"/dashboard/w/{Scene.WORKSPACE_A}",
                 f"/dashboard/w/{Scene.WORKSPACE_A}/audit", f"/dashboard/go?workspace={Scene.WORKSPACE_A}"):
        answer = page.goto(f"{base}{path}")
        assert answer is not None and answer.status == 404, path
        body = page.content()
        assert Scene.WORKSPACE_A not in body and scene.pipeline not in body and Scene.MODEL not in body, path
    series = page.request.get(f"{base}/dashboard/w/{Scene.WORKSPACE_A}/p/{scene.pipeline}/series.json")
    assert series.status == 404
    context.close()


def test_the_dashboard_stays_out_of_the_api(service: Service) -> None:
    paths = httpx.get(f"{service.url}/v1/api/openapi.json").json()["paths"]
    assert not [p for p in paths if "dashboard" in p]
    assert httpx.get(f"{service.url}/dashboard/", follow_redirects=False).status_code == 303

