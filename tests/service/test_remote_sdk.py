"""The SDK against the service (``Client(api_endpoint=...)``) answers as the embedded SDK does,
and the pipelines the service deploys answer HTTP only with a token of a workspace member."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from service_process import ADMIN_EMAIL, ADMIN_PASSWORD, Service
from support.waiting import wait_until

import joey
from joey.config import Settings
from joey.errors import AuthenticationError, EntityNotFoundError
from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray


def _fixed(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


@pytest.fixture(params=["embedded", "remote"])
def sdk(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The same SDK calls, embedded (the test session's Ray) or remote (the service's)."""
    if request.param == "embedded":
        yield request.getfixturevalue("client")
        return
    service: Service = request.getfixturevalue("service")
    yield joey.Client(api_endpoint=service.url, auth_type="user_password",
                      settings=Settings(user=ADMIN_EMAIL, password=ADMIN_PASSWORD))


def test_upload_deploy_infer_status_undeploy_answer_alike(sdk: Any, tmp_path: Path) -> None:
    workspace = sdk.get_workspace("parity", create_if_not_exist=True)
    sdk.set_current_workspace(workspace)
    model_file = mlp(tmp_path / "parity.onnx", n_in=5, n_out=1, seed=41)
    model = sdk.upload_model("parity-model", model_file, framework=joey.Framework.ONNX)
    assert sdk.get_model("parity-model").version() == model.version()
    config = joey.DeploymentConfigBuilder().replica_count(2).cpus(0.25).build()
    pipeline = sdk.build_pipeline("parity").add_model_step(model).deploy(deployment_config=config)
    try:
        x = np.random.default_rng(42).normal(size=(7, 5)).astype(np.float32)
        result = pipeline.infer(pa.table({"dense_input": _fixed(x)}))
        assert isinstance(result, pa.Table)
        assert result.column_names[:3] == ["time", "in.dense_input", "out.dense_1"]
        got = np.array(result.column("out.dense_1").to_pylist(), dtype=np.float32)
        np.testing.assert_allclose(got, run_onnx(model_file, {"dense_input": x})["dense_1"], rtol=1e-6)
        status = pipeline.status()
        assert status["status"] == "Running"
        assert len(status["engine_lbs"]) == 2  # the config reached Serve: two replicas
        assert pipeline.url().endswith("/infer/parity/parity")
        # the inference log and its metrics, read the same way in both modes
        wait_until(lambda: pipeline.logs(arrow=True).num_rows >= 7, timeout=30)
        logged = pipeline.logs()
        assert isinstance(logged, pd.DataFrame)
        assert list(logged.columns[:3]) == ["time", "in.dense_input", "out.dense_1"]
        np.testing.assert_allclose(np.sort(np.array(logged["out.dense_1"].tolist(), dtype=np.float32).ravel()),
                                   np.sort(run_onnx(model_file, {"dense_input": x})["dense_1"].ravel()), rtol=1e-6)
        assert pipeline.logs(valid=False).empty  # no validations, no anomalies
        metrics = pipeline.metrics()
        assert metrics["requests"] >= 1 and metrics["rows"] >= 7 and metrics["latency_ms"]["p50"] > 0
        assert isinstance(metrics["start"], datetime)
        assert "parity" in [w.name() for w in sdk.list_workspaces()]
    finally:
        pipeline.undeploy()
    assert pipeline.status()["status"] != "Running"
    with pytest.raises(EntityNotFoundError):
        sdk.get_pipeline("no-such-pipeline")


def test_wallaroo_credentials_from_the_environment_sign_in(service: Service,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLAROO_URL", service.url)
    monkeypatch.setenv("WALLAROO_USER", ADMIN_EMAIL)
    monkeypatch.setenv("WALLAROO_PASSWORD", ADMIN_PASSWORD)
    wl = joey.Client(auth_type="user_password")
    header = wl.auth.auth_header()
    assert header["Authorization"].startswith("Bearer joey_")
    assert httpx.post(f"{service.url}/v1/api/auth/whoami", headers=header).json()["email"] == ADMIN_EMAIL
    monkeypatch.setenv("WALLAROO_PASSWORD", "wrong-password")
    with pytest.raises(AuthenticationError):
        joey.Client(auth_type="user_password")


def test_inference_needs_a_token_of_a_member(service: Service, admin_token: str, tmp_path: Path) -> None:
    admin = joey.Client(api_endpoint=service.url, settings=Settings(token=admin_token))
    admin.invite_user("member@example.com", "member-password")
    admin.invite_user("stranger@example.com", "stranger-password")
    workspace = admin.get_workspace("guarded", create_if_not_exist=True)
    workspace.add_user("member@example.com")
    admin.set_current_workspace(workspace)
    model_file = mlp(tmp_path / "guarded.onnx", n_in=3, n_out=1, seed=43)
    pipeline = admin.build_pipeline("guarded").add_model_step(admin.upload_model("guarded", model_file)).deploy()
    url = pipeline.url()
    body = [{"dense_input": [0.1, 0.2, 0.3]}]
    try:
        missing = httpx.post(url, json=body, timeout=30)
        assert missing.status_code == 401
        assert missing.json() == {"code": 401, "status": "error", "error": "Jwt is missing", "source": "platform",
                                  "kind": "AuthenticationError"}
        member = service.login("member@example.com", "member-password")
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {member}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        stranger = service.login("stranger@example.com", "stranger-password")
        refused = httpx.post(url, json=body, headers={"Authorization": f"Bearer {stranger}"}, timeout=30)
        assert refused.status_code == 403, refused.text
        assert "guarded" not in refused.json()["error"]
        made_up = httpx.post(url, json=body, headers={"Authorization": "Bearer joey_made-up"}, timeout=30)
        assert made_up.status_code == 401

        created = service.post("tokens/create", member, json={"name": "ci"}).json()
        token = {"Authorization": f"Bearer {created['token']}"}
        assert httpx.post(url, json=body, headers=token, timeout=30).status_code == 200
        assert service.post("tokens/revoke", member, json={"token_id": created["token_id"]}).status_code == 200
        deadline = time.monotonic() + 10  # the ingress trusts a checked token for 2 s
        while httpx.post(url, json=body, headers=token, timeout=30).status_code == 200:
            assert time.monotonic() < deadline, "a revoked token kept working"
            time.sleep(0.2)
        assert httpx.post(url, json=body, headers=token, timeout=30).status_code == 401
    finally:
        pipeline.undeploy()


def test_an_archived_workspace_is_read_only(service: Service, admin_token: str, tmp_path: Path) -> None:
    created = service.post("workspaces/create", admin_token, json={"workspace_name": "archived-ws"}).json()
    workspace_id = created["workspace_id"]
    assert service.post("workspaces/archive", admin_token, json={"workspace_id": workspace_id}).status_code == 200
    listed = service.post("workspaces/list", admin_token, json={}).json()["workspaces"]
    assert next(w for w in listed if w["id"] == workspace_id)["archived"] is True
    model = mlp(tmp_path / "late.onnx", n_in=2)
    with model.open("rb") as stream:
        refused = service.post("models/upload_and_convert", admin_token,
                               data={"metadata": json.dumps({"name": "late", "workspace_id": workspace_id})},
                               files={"file": ("late.onnx", stream)})
    assert refused.status_code == 403, refused.text
    assert "archived" in refused.json()["error"]
    refused = service.post("pipelines/create", admin_token, json={
        "workspace_id": workspace_id, "pipeline_id": "late", "definition": {"steps": [{"ModelInference": {}}]}})
    assert refused.status_code == 403
    # reading still works
    assert service.post("models/list", admin_token, json={"workspace_id": workspace_id}).json() == {"models": []}


def test_the_service_runs_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The same service over a real PostgreSQL store (migrations, accounts, uploads)."""
    from service_process import start_service, stop_service
    from support.postgres import fresh_database

    with fresh_database(postgres_url) as url:
        running = start_service(tmp_path / "pg-home", {"JOEY_DATABASE_URL": url})
        try:
            token = running.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            workspace_id = running.post("workspaces/create", token, json={"workspace_name": "on-pg"}).json()[
                "workspace_id"]
            model = mlp(tmp_path / "pg.onnx", n_in=2)
            with model.open("rb") as stream:
                uploaded = running.post("models/upload_and_convert", token, files={"file": ("pg.onnx", stream)},
                                        data={"metadata": json.dumps({"name": "on-pg", "workspace_id": workspace_id})})
            assert uploaded.status_code == 202, uploaded.text
            models = running.post("models/list", token, json={"workspace_id": workspace_id}).json()["models"]
            assert [m["name"] for m in models] == ["on-pg"]
            assert running.post("workspaces/list", token, json={}).json()["workspaces"][0]["name"] == "on-pg"
        finally:
            stop_service(running)


def test_the_audit_log_names_the_acting_user(service: Service, admin_token: str, tmp_path: Path) -> None:
    service.post("users/invite", admin_token, json={"email": "auditor@example.com", "password": "auditor-pass"})
    workspace_id = service.post("workspaces/create", admin_token, json={"workspace_name": "audited"}).json()[
        "workspace_id"]
    service.post("workspaces/add_user", admin_token, json={"workspace_id": workspace_id,
                                                           "email": "auditor@example.com"})
    collaborator = service.login("auditor@example.com", "auditor-pass")
    with mlp(tmp_path / "audited.onnx", n_in=2).open("rb") as stream:
        uploaded = service.post("models/upload_and_convert", collaborator, files={"file": ("a.onnx", stream)},
                                data={"metadata": json.dumps({"name": "audited", "workspace_id": workspace_id})})
    assert uploaded.status_code == 202, uploaded.text
    events = service.post("audit/list", collaborator, json={"workspace_id": workspace_id}).json()["events"]
    actors = {(e["action"], e["actor"]) for e in events}
    assert ("workspace.create", ADMIN_EMAIL) in actors
    assert ("workspace.add_user", ADMIN_EMAIL) in actors
    assert ("model.upload", "auditor@example.com") in actors
