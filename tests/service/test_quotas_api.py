"""The service's quota API against the real service: admins read and set the policy, which
then refuses what goes over it with a 403 naming the limit, and stores nothing of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.service_process import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Service,
    start_service,
    stop_service,
)

from joey.errors import QuotaExceededError, error_from_body
from joey.platform.quotas import PRESETS
from joey.platform.store import Store
from joey.testing.onnx_models import mlp

UNLIMITED = dict.fromkeys(PRESETS["unlimited"].model_dump())
COMMUNITY = PRESETS["community"].model_dump()


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture
def reset(service: Service, admin_token: str) -> Iterator[None]:
    """The module's service goes back to JOEY_QUOTAS after each test."""
    yield
    _ok(service.post("admin/set_quotas", admin_token, json={"reset": True}))


@pytest.mark.usefixtures("reset")
def test_the_admin_reads_and_sets_the_policy(service: Service, admin_token: str) -> None:
    assert _ok(service.post("admin/get_quotas", admin_token)) == {
        "preset": "unlimited", "source": "JOEY_QUOTAS", "policy": UNLIMITED,
        "usage": {"users": 1, "deployed_pipelines": 0, "steps_per_pipeline": 0, "cpu_cores": 0.0}}
    answer = _ok(service.post("admin/set_quotas", admin_token,
                              json={"preset": "community", "limits": {"max_users": 3, "max_cpu_cores": None}}))
    assert (answer["preset"], answer["source"]) == ("community", "admin")
    assert answer["policy"] == {**COMMUNITY, "max_users": 3, "max_cpu_cores": None}
    assert _ok(service.post("admin/get_quotas", admin_token)) == answer
    store = Store(f"sqlite:///{service.home / 'joey.db'}")
    [event] = store.list_audit_events(action="quotas.set")
    store.close()
    assert (event.actor, event.details["policy"]) == (ADMIN_EMAIL, answer["policy"])
    answer = _ok(service.post("admin/set_quotas", admin_token, json={"limits": {"max_deployed_pipelines": 1}}))
    assert (answer["preset"], answer["policy"]) == ("unlimited", {**UNLIMITED, "max_deployed_pipelines": 1})
    assert _ok(service.post("admin/set_quotas", admin_token, json={"reset": True}))["source"] == "JOEY_QUOTAS"


@pytest.mark.parametrize("body,names", [
    ({"preset": "gold"}, "preset: expected one of ['unlimited', 'community'], got 'gold'"),
    ({"limits": {"max_users": -1}}, "limits.max_users"),
    ({"limits": {"max_userz": 1}}, "limits.max_userz"),
    ({"limits": {"max_cpu_cores": "lots"}}, "limits.max_cpu_cores"),
    ({"reset": True, "preset": "community"}, "reset: give either reset or preset and limits"),
    ({"presets": "community"}, "presets"),
])
@pytest.mark.usefixtures("reset")
def test_a_bad_policy_answers_400_naming_the_field_and_changes_nothing(service: Service, admin_token: str,
                                                                       body: dict[str, Any], names: str) -> None:
    answer = service.post("admin/set_quotas", admin_token, json=body)
    assert answer.status_code == 400, answer.text
    assert names in answer.json()["error"]
    assert _ok(service.post("admin/get_quotas", admin_token))["source"] == "JOEY_QUOTAS"


@pytest.mark.usefixtures("reset")
def test_others_may_neither_read_nor_set_it(service: Service, admin_token: str) -> None:
    _ok(service.post("users/invite", admin_token, json={"email": "member@example.com", "password": "member-pass-1"}))
    member = service.login("member@example.com", "member-pass-1")
    for path, body in (("admin/get_quotas", None), ("admin/set_quotas", {"preset": "community"})):
        answer = service.post(path, member, json=body)
        assert answer.status_code == 403, answer.text
        assert answer.json()["kind"] == "PermissionDeniedError"
        assert service.post(path, None, json=body).status_code == 401
    assert _ok(service.post("admin/get_quotas", admin_token))["source"] == "JOEY_QUOTAS"


@pytest.mark.usefixtures("reset")
def test_users_steps_and_deploys_over_the_policy_answer_403_and_store_nothing(service: Service, admin_token: str,
                                                                               tmp_path: Path) -> None:
    users = _ok(service.post("admin/get_quotas", admin_token))["usage"]["users"]
    _ok(service.post("admin/set_quotas", admin_token, json={"limits": {
        "max_users": users, "max_steps_per_pipeline": 1, "max_deployed_pipelines": 0}}))
    # users
    answer = service.post("users/invite", admin_token, json={"email": "extra@example.com", "password": "extra-pass-1"})
    assert answer.status_code == 403, answer.text
    error = error_from_body(answer.json())
    assert isinstance(error, QuotaExceededError)
    assert (error.limit, error.current, error.allowed) == ("max_users", users, users)
    assert str(error) == f"quota 'max_users' exceeded: {users} user{'s' if users > 1 else ''}, {users} allowed " \
                         "(quota policy set by an admin)"
    assert "extra@example.com" not in {u["email"] for u in _ok(service.post("users/query", admin_token))["users"]}
    # steps: the pipeline is not created
    workspace_id = _ok(service.post("workspaces/create", admin_token, json={"workspace_name": "quota-ws"}))["workspace_id"]
    path = mlp(tmp_path / "m.onnx", n_in=4, hidden=3)
    metadata = {"name": "m", "workspace_id": workspace_id, "conversion": {"framework": "onnx"}}
    uploaded = _ok(service.post("models/upload_and_convert", admin_token, data={"metadata": json.dumps(metadata)},
                                files={"file": (path.name, path.read_bytes(), "application/octet-stream")}), 202)
    version = uploaded["model_version"]
    step = {"ModelInference": {"models": [{"name": "m", "version": version["version"], "sha": version["sha"]}]}}
    answer = service.post("pipelines/create", admin_token, json={
        "workspace_id": workspace_id, "pipeline_id": "two-steps", "definition": {"steps": [step, step]}})
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == ("quota 'max_steps_per_pipeline' exceeded: pipeline 'two-steps' has 2 steps, "
                                      "1 allowed (quota policy set by an admin)")
    assert _ok(service.post("pipelines/list", admin_token, json={"workspace_id": workspace_id}))["pipelines"] == []
    # a deploy: refused before the service reaches Ray, nothing recorded
    _ok(service.post("pipelines/create", admin_token, json={
        "workspace_id": workspace_id, "pipeline_id": "one-step", "definition": {"steps": [step]}}))
    answer = service.post("pipelines/deploy", admin_token, json={"workspace_id": workspace_id, "pipeline_id": "one-step"})
    assert answer.status_code == 403, answer.text
    assert answer.json()["kind"] == "QuotaExceededError"
    assert answer.json()["quota"] == {"limit": "max_deployed_pipelines", "current": 0, "allowed": 0,
                                      "use": "0 deployed", "policy": "quota policy set by an admin"}
    status = _ok(service.post("status/get_deployment", admin_token,
                              json={"workspace_id": workspace_id, "pipeline_id": "one-step"}))
    assert status["status"] == "Unavailable"
    assert _ok(service.post("admin/get_quotas", admin_token))["usage"]["deployed_pipelines"] == 0


def test_joey_quotas_sets_the_services_default(tmp_path: Path) -> None:
    limited = start_service(tmp_path / "home", {"JOEY_QUOTAS": '{"preset": "community", "max_users": 1}'})
    try:
        admin = limited.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        shown = _ok(limited.post("admin/get_quotas", admin))
        assert (shown["preset"], shown["source"], shown["policy"]) == (
            "community", "JOEY_QUOTAS", {**COMMUNITY, "max_users": 1})
        answer = limited.post("users/invite", admin, json={"email": "second@example.com"})
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "quota 'max_users' exceeded: 1 user, 1 allowed (JOEY_QUOTAS)"
        # the admin's policy overrides JOEY_QUOTAS
        _ok(limited.post("admin/set_quotas", admin, json={"preset": "community"}))
        _ok(limited.post("users/invite", admin, json={"email": "second@example.com"}))
    finally:
        stop_service(limited)


def test_a_bad_joey_quotas_stops_the_service_from_starting(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="bad JOEY_QUOTAS setting: preset: expected one of"):
        start_service(tmp_path / "home", {"JOEY_QUOTAS": '{"preset": "gold"}'})
