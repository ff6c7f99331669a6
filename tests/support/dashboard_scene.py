"""The dashboard's scene, for its browser test and for ``make screenshots``: over a running
service (``service_process``), two workspaces and two users, a pipeline with a validation
deployed by its owner and answering real HTTP requests; and the system's Chromium, driven by
Playwright (never a browser Playwright downloads).

``JOEY_TEST_BROWSER=0`` skips the browser tests; otherwise a missing Chromium fails them,
saying to run ``make install`` (which installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from joey.platform import steps as step_json
from joey.testing.onnx_models import mlp
from support.service_process import Service

SWITCH = "JOEY_TEST_BROWSER"
"""Set to ``0`` to skip the browser tests instead of failing them without Chromium."""
CHROMIUM_NAMES = ("chromium", "chromium-browser")
PASSWORD = "dashboard-pass-1"


def browser_disabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in {"0", "false", "no", "off"}


def find_chromium() -> str | None:
    """``JOEY_CHROMIUM``, else Debian's ``chromium`` on PATH."""
    named = os.environ.get("JOEY_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


class BrowserUnavailableError(RuntimeError):
    pass


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (the system's) under Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserUnavailableError("Playwright is not installed: run `make install` (the dev extra)") from exc
    executable = find_chromium()
    if executable is None:
        raise BrowserUnavailableError("no Chromium found (Debian's `chromium` package): run `make install`, "
                                      f"or set {SWITCH}=0 to skip the browser tests")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Scene:
    service: Service
    admin: str
    owner: str
    """Token of owner@: owner of workspace A, collaborator in B."""
    stranger: str
    """Token of stranger@: collaborator in B only."""
    workspace_a: int
    workspace_b: int
    pipeline: str
    url: str
    requests: int
    rows: int
    anomalous_rows: int

    OWNER_EMAIL = "owner@example.com"
    STRANGER_EMAIL = "stranger@example.com"
    WORKSPACE_A = "fraud-team"
    WORKSPACE_B = "shared-lab"
    MODEL = "ccfraud"
    VALIDATION = "negative_amount"


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, f"{answer.request.url}: {answer.status_code} {answer.text}"
    return answer.json()


def build(service: Service, admin: str, folder: Path, requests: int = 12, rows_per_request: int = 4,
          interval_s: float = 0.0) -> Scene:
    """Users, workspaces, a model, a pipeline deployed with a validation (by its owner), and
    ``requests`` HTTP requests of ``rows_per_request`` rows, half of them failing the validation."""
    import polars as pl

    for email in (Scene.OWNER_EMAIL, Scene.STRANGER_EMAIL):
        _ok(service.post("users/invite", admin, json={"email": email, "password": PASSWORD}))
    a = _ok(service.post("workspaces/create", admin, json={"workspace_name": Scene.WORKSPACE_A}))["workspace_id"]
    b = _ok(service.post("workspaces/create", admin, json={"workspace_name": Scene.WORKSPACE_B}))["workspace_id"]
    for workspace, email, role in ((a, Scene.OWNER_EMAIL, "OWNER"), (b, Scene.OWNER_EMAIL, "COLLABORATOR"),
                                   (b, Scene.STRANGER_EMAIL, "COLLABORATOR")):
        _ok(service.post("workspaces/add_user", admin, json={"workspace_id": workspace, "email": email,
                                                             "user_type": role}))
    owner = service.login(Scene.OWNER_EMAIL, PASSWORD)
    stranger = service.login(Scene.STRANGER_EMAIL, PASSWORD)

    model_file = mlp(folder / "ccfraud.onnx", n_in=3, n_out=1, seed=7)
    with model_file.open("rb") as stream:
        uploaded = _ok(service.post("models/upload_and_convert", owner, files={"file": ("ccfraud.onnx", stream)},
                                    data={"metadata": json.dumps({"name": Scene.MODEL, "workspace_id": a})}), 202)
    version = uploaded["model_version"]
    model_ref = {"name": version["name"], "version": version["version"], "sha": version["sha"]}
    check = step_json.validations({Scene.VALIDATION: pl.col("in.dense_input").list.get(0) < 0})
    pipeline = "scorer"
    definition = {"steps": [{step_json.MODEL_INFERENCE: {"models": [model_ref]}}, check]}
    _ok(service.post("pipelines/create", owner, json={"workspace_id": a, "pipeline_id": pipeline,
                                                      "definition": definition}))
    _ok(service.post("pipelines/deploy", owner, json={"workspace_id": a, "pipeline_id": pipeline}))
    url = _ok(service.post("pipelines/url", owner, json={"workspace_id": a, "pipeline_id": pipeline}))["url"]

    rng = np.random.default_rng(3)
    headers = {"Authorization": f"Bearer {owner}"}
    anomalous = 0
    for index in range(requests):
        x = rng.normal(size=(rows_per_request, 3))
        x[:, 0] = np.abs(x[:, 0])
        x[: rows_per_request // 2, 0] *= -1  # half the rows fail the validation
        anomalous += rows_per_request // 2
        answer = httpx.post(url, json=[{"dense_input": row.tolist()} for row in x], headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        if interval_s and index < requests - 1:
            time.sleep(interval_s)
    scene = Scene(service, admin, owner, stranger, a, b, pipeline, url, requests, requests * rows_per_request,
                  anomalous)
    _wait_for_log(scene)
    return scene


def _wait_for_log(scene: Scene, timeout_s: float = 30.0) -> None:
    """Until the inference log holds every row sent."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = _ok(scene.service.post("pipelines/get_logs", scene.owner, json={
            "workspace_id": scene.workspace_a, "pipeline_id": scene.pipeline, "limit": 10_000}))["records"]
        if len(records) >= scene.rows:
            return
        assert time.monotonic() < deadline, f"the log holds {len(records)} of {scene.rows} rows"
        time.sleep(0.3)


def undeploy(scene: Scene) -> None:
    scene.service.post("pipelines/undeploy", scene.owner, json={"workspace_id": scene.workspace_a,
                                                                "pipeline_id": scene.pipeline})


def log_in(page: Any, email: str, password: str) -> None:
    """Through the login form of the page (the dashboard's login page)."""
    page.fill("#password-login input[name=email]", email)
    page.fill("#password-login input[name=password]", password)
    page.click("#password-login button[type=submit]")
    page.wait_for_selector("#who")


def pipeline_path(scene: Scene, period: str = "15m") -> str:
    return f"/dashboard/w/{Scene.WORKSPACE_A}/p/{scene.pipeline}?period={period}"


STROKE_PIXELS = """(figure) => {
  // pixels of the chart's series colours on its canvas: the lines and points uPlot drew
  const canvas = figure.querySelector('canvas');
  const colours = {rps: [[37, 99, 235]], rows_per_s: [[5, 150, 105]],
                   latency: [[37, 99, 235], [217, 119, 6], [220, 38, 38]]}[figure.dataset.chart];
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let found = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && colours.some((c) => Math.abs(data[i] - c[0]) < 40
        && Math.abs(data[i + 1] - c[1]) < 40 && Math.abs(data[i + 2] - c[2]) < 40)) { found++; }
  }
  return found;
}"""
