"""The service's security (issue 14), against the real service.

- The role matrix: 3 users x 2 workspaces x every workspace endpoint, and 3 users x every
  account endpoint. A call succeeds exactly when the caller's role allows it (a member reads;
  a collaborator or an owner writes; only an owner manages members; a non-member is told the
  workspace does not exist, in the very words used for a workspace that does not), and no
  answer to a user holds anything of a workspace the user is not in.
- The Ray part of the matrix (``pytest.mark.ray``): ``pipelines/deploy``, ``pipelines/undeploy``
  and the pipeline's HTTP inference route, for the 3 users and a caller without a token x 2
  workspaces. A member deploys, undeploys and infers (200; the answer is the model's); a
  non-member is refused (deploy/undeploy 404, as for a workspace that does not exist; inference
  403), nothing of the workspace is in the answer, and the pipeline's state does not change; no
  token, 401. These cells run on SQLite only, on a service of their own (``ray``; see
  ``service``) that starts its own Ray at its first deploy: a deploy takes seconds, and whether
  a caller may is decided before Ray is reached, by the code the cells above check on
  PostgreSQL too. Refused callers go first, so that 4 deploys serve the 24 cells; whatever
  runs at the end is undeployed.
- Tokens: a created token works until revoked (2 s cache) or expired; a made-up or missing
  token answers Wallaroo's 401 body; the store and the service's log keep no clear secret.
- Bad input answers a JSON 4xx naming the field and stores nothing; an upload's file name
  cannot write outside the upload folder; an upload past the limit answers 413.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import numpy as np
import pytest
from service_process import ADMIN_EMAIL, ADMIN_PASSWORD, Service, start_service, stop_service

from joey.testing.onnx_models import mlp, run_onnx

USERS = ("owner", "collab", "outsider")
SPARE = "spare@example.com"
"""Invited, in no workspace: whom the member-management cells add and remove."""
OWNER, COLLABORATOR = "OWNER", "COLLABORATOR"
GHOST_ID = 999_999
ERROR_KEYS = {"code", "status", "error", "source"}


def email(user: str) -> str:
    return f"{user}@example.com"


def password(user: str) -> str:
    return f"{user}-password-1"


@dataclass(frozen=True)
class Space:
    """A workspace as the cells address it."""

    name: str
    id: int
    key: str
    """``a`` or ``b``: every object of the workspace is named ``secret-<key>-...``."""
    model: dict[str, str]
    pipeline: str


@dataclass
class World:
    service: Service
    admin: str
    tokens: dict[str, str]
    token_ids: dict[str, int]
    spaces: dict[str, Space]
    members: dict[str, dict[str, str]]
    """workspace name -> {user: role}, kept up to date by the cells that change it."""
    secrets: dict[str, set[str]]
    """workspace name -> strings only its members may ever see."""
    issued: list[str] = field(default_factory=list)
    """Every clear token the service handed out (none may be at rest anywhere)."""

    def post(self, path: str, user: str | None, **kwargs: Any) -> httpx.Response:
        token = self.admin if user == "admin" else self.tokens[user] if user else None
        return self.service.post(path, token, **kwargs)

    def admin_json(self, path: str, **body: Any) -> Any:
        answer = self.post(path, "admin", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def forbidden(self, user: str) -> set[str]:
        """What ``user`` may not see: the secrets of every workspace the user is not in."""
        return set().union(*(s for w, s in self.secrets.items() if user not in self.members[w]))

    def model_names(self, space: Space) -> set[str]:
        return {m["name"] for m in self.admin_json("models/list", workspace_id=space.id)["models"]}

    def pipeline_names(self, space: Space) -> set[str]:
        return {p["name"] for p in self.admin_json("pipelines/list", workspace_id=space.id)["pipelines"]}

    def user_emails(self, space: Space) -> set[str]:
        return {u["email"] for u in self.admin_json("workspaces/list_users", workspace_id=space.id)["users"]}


def _service_tmp(service: Service) -> Path:
    """The service's TMPDIR: deep enough that ``../../x`` from an upload folder in it stays
    inside the test's own folder, where the test can look."""
    return service.home.parent / "a" / "b" / "tmp"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The whole module runs against the SQLite default and a real PostgreSQL; the Ray cells
    (``test_ray_endpoint_by_role``) against a SQLite service of their own, ``ray``, which keeps
    the test's TMPDIR: the service's Ray puts sockets under TMPDIR (HAProxy's admin socket, at
    ``{TMPDIR}/joey-haproxy-*/{56-character node id}/admin.sock``, may have 97 characters at
    most), and under the deep TMPDIR the others get (for the upload tests) Serve does not start."""
    root = tmp_path_factory.mktemp("security")
    (root / "a" / "b" / "tmp").mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            from support.postgres import fresh_database

            database_url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_url")))
        else:
            database_url = f"sqlite:///{root / 'home' / 'joey.db'}"
        env = {"JOEY_DATABASE_URL": database_url}
        if request.param != "ray":
            env["TMPDIR"] = str(root / "a" / "b" / "tmp")
        running = start_service(root / "home", env)
        running.database_url = database_url
        yield running
        stop_service(running)


def _rows(service: Service, sql: str) -> list[tuple[Any, ...]]:
    """Rows of the service's store, read directly (SQLite file or PostgreSQL)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(service.database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sqlalchemy.text(sql))]
    finally:
        engine.dispose()


def _tables(service: Service) -> list[str]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(service.database_url)
    try:
        return list(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _upload(service: Service, token: str, name: str, workspace_id: int, path: Path,
            file_name: str | None = None, **meta: Any) -> httpx.Response:
    metadata = {"name": name, "workspace_id": workspace_id, "conversion": {"framework": "onnx"}, **meta}
    return service.post("models/upload_and_convert", token, data={"metadata": json.dumps(metadata)},
                        files={"file": (file_name or path.name, path.read_bytes(), "application/octet-stream")})


def _steps(model: dict[str, str]) -> dict[str, Any]:
    return {"steps": [{"ModelInference": {"models": [model]}}]}


@pytest.fixture(scope="module")
def world(service: Service, tmp_path_factory: pytest.TempPathFactory) -> World:
    """admin invites the users; ``ws-a`` (owner: owner@, collaborator: collab@) and ``ws-b``
    (owner: outsider@), each with a model and a pipeline; then the admin leaves both."""
    files = tmp_path_factory.mktemp("models")
    login = _ok(service.post("auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
    admin = login["access_token"]
    for user in (*USERS, "spare"):
        _ok(service.post("users/invite", admin, json={"email": email(user), "password": password(user)}))
    layout = {"ws-a": ("a", {"owner": OWNER, "collab": COLLABORATOR}),
              "ws-b": ("b", {"outsider": OWNER})}
    spaces, secrets = {}, {}
    for index, (name, (key, roles)) in enumerate(layout.items()):
        workspace_id = _ok(service.post("workspaces/create", admin, json={"workspace_name": name}))["workspace_id"]
        for user, role in roles.items():
            _ok(service.post("workspaces/add_user", admin,
                             json={"workspace_id": workspace_id, "email": email(user), "user_type": role}))
        _ok(service.post("workspaces/remove_user", admin, json={"workspace_id": workspace_id, "email": ADMIN_EMAIL}))
        path = mlp(files / f"{key}.onnx", n_in=4, hidden=3, seed=index)
        version = _ok(_upload(service, admin, f"secret-{key}-model", workspace_id, path), 202)["model_version"]
        model = {k: version[k] for k in ("name", "version", "sha")}
        created = _ok(service.post("pipelines/create", admin, json={
            "workspace_id": workspace_id, "pipeline_id": f"secret-{key}-pipeline", "definition": _steps(model)}))
        spaces[name] = Space(name, workspace_id, key, model, f"secret-{key}-pipeline")
        secrets[name] = {name, f"secret-{key}-", model["version"], model["sha"],
                         created["pipeline_variant_version"], *(email(u) for u in roles)}
    tokens, token_ids = {}, {"admin": login["token_id"]}
    for user in USERS:
        login = _ok(service.post("auth/login", json={"email": email(user), "password": password(user)}))
        tokens[user], token_ids[user] = login["access_token"], login["token_id"]
    members = {name: dict(roles) for name, (_, roles) in layout.items()}
    return World(service, admin, tokens, token_ids, spaces, members, secrets, issued=[admin, *tokens.values()])


# -- checks every answer gets -------------------------------------------------------------------


def check_answer(world: World, user: str, answer: httpx.Response) -> None:
    """JSON always; an error in the one shape; nothing of a workspace the user is not in."""
    body = answer.json()
    if answer.status_code >= 400:
        assert set(body) >= ERROR_KEYS, answer.text
        assert body["code"] == answer.status_code and body["status"] == "error", answer.text
        assert isinstance(body["error"], str) and body["error"] and body["source"] == "platform", answer.text
    assert answer.status_code != 500, answer.text
    leaked = sorted(s for s in world.forbidden(user) if s in answer.text)
    assert not leaked, f"{answer.request.url.path} shows {user} {leaked}: {answer.text[:800]}"


def _masked(answer: httpx.Response, space: Space) -> str:
    return answer.text.replace(f"'{space.id}'", "'<id>'").replace(space.name, "<name>")


# -- the workspace endpoints --------------------------------------------------------------------


class Cell(NamedTuple):
    """One call of the matrix: who asked what of which workspace, and the answer."""

    world: World
    user: str
    space: Space
    answer: httpx.Response


@dataclass(frozen=True)
class Endpoint:
    path: str
    access: str
    """``read`` (any member), ``write`` (collaborator or owner) or ``owner``."""
    call: Callable[[World, str, Space], httpx.Response]
    after: Callable[[Cell], None] = lambda _: None
    target: Callable[[World, str, Space], Space] = lambda _world, _user, space: space
    """The workspace the call acts on: the cell's own, or a copy of it (with the same members)
    where the call would change it for the cells after."""
    success: int = 200
    denied: int = 404
    """What a non-member gets (the workspace "does not exist")."""

    def expected(self, role: str | None) -> int:
        if role is None:
            return self.denied
        if self.access == "owner" and role != OWNER:
            return 403
        return self.success


def _ref(space: Space, **more: Any) -> dict[str, Any]:
    return {"workspace_id": space.id, **more}


def _call_json(path: str, body: Callable[[Space], dict[str, Any]]) -> Callable[[World, str, Space], httpx.Response]:
    return lambda world, user, space: world.post(path, user, json=body(space))


def _after_list_users(cell: Cell) -> None:
    world, space, answer = cell.world, cell.space, cell.answer
    if answer.status_code == 200:
        listed = {u["email"]: u["user_type"] for u in answer.json()["users"]}
        assert listed == {email(u): role for u, role in world.members[space.name].items()}


def _add_spare(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("workspaces/add_user", user,
                      json=_ref(space, email=SPARE, user_type=COLLABORATOR))


def _after_add_spare(cell: Cell) -> None:
    world, space, answer = cell.world, cell.space, cell.answer
    added = SPARE in world.user_emails(space)
    assert added == (answer.status_code == 200)
    if added:
        world.admin_json("workspaces/remove_user", workspace_id=space.id, email=SPARE)


def _remove_spare(world: World, user: str, space: Space) -> httpx.Response:
    if space.id != GHOST_ID:
        world.admin_json("workspaces/add_user", workspace_id=space.id, email=SPARE, user_type=COLLABORATOR)
    return world.post("workspaces/remove_user", user, json=_ref(space, email=SPARE))


def _after_remove_spare(cell: Cell) -> None:
    world, space, answer = cell.world, cell.space, cell.answer
    still = SPARE in world.user_emails(space)
    assert still == (answer.status_code != 200)
    if still:
        world.admin_json("workspaces/remove_user", workspace_id=space.id, email=SPARE)


def _after_models_list(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        names = {m["name"] for m in answer.json()["models"]}
        assert space.model["name"] in names and all(n.startswith(f"secret-{space.key}-") for n in names)


def _after_list_versions(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        versions = answer.json()["versions"]
        assert [v["name"] for v in versions] == [space.model["name"]] * len(versions)
        assert space.model["version"] in [v["version"] for v in versions]


def _upload_name(user: str, space: Space) -> str:
    return f"secret-{space.key}-up-{user}"


def _upload_cell(world: World, user: str, space: Space) -> httpx.Response:
    path = world.service.home.parent / f"cell-{user}.onnx"
    if not path.exists():
        mlp(path, n_in=4, hidden=3, seed=7)
    return _upload(world.service, world.tokens[user], _upload_name(user, space), space.id, path)


def _after_upload(cell: Cell) -> None:
    world, user, space, answer = cell.world, cell.user, cell.space, cell.answer
    stored = {s.name: _upload_name(user, space) in world.model_names(s) for s in world.spaces.values()}
    assert stored == {s: s == space.name and answer.status_code == 202 for s in world.spaces}, stored
    if answer.status_code == 202:
        assert answer.json()["model_version"]["name"] == _upload_name(user, space)


def _pipeline_name(user: str, space: Space) -> str:
    return f"secret-{space.key}-pl-{user}"


def _create_pipeline(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("pipelines/create", user, json=_ref(space, pipeline_id=_pipeline_name(user, space),
                                                        definition=_steps(space.model)))


def _after_create_pipeline(cell: Cell) -> None:
    world, user, space, answer = cell.world, cell.user, cell.space, cell.answer
    stored = {s.name: _pipeline_name(user, space) in world.pipeline_names(s) for s in world.spaces.values()}
    assert stored == {s: s == space.name and answer.status_code == 200 for s in world.spaces}, stored


def _build_pipeline(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("pipelines/build", user, json=_ref(space, pipeline_id=f"secret-{space.key}-built-{user}"))


def _after_build_pipeline(cell: Cell) -> None:
    world, user, space, answer = cell.world, cell.user, cell.space, cell.answer
    built = f"secret-{space.key}-built-{user}"
    stored = {s.name: built in world.pipeline_names(s) for s in world.spaces.values()}
    assert stored == {s: s == space.name and answer.status_code == 200 for s in world.spaces}, stored
    if answer.status_code == 200:
        assert answer.json()["pipeline"]["name"] == built and answer.json()["version"] is None


def _after_get_pipeline(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        got = answer.json()
        assert got["pipeline"]["name"] == space.pipeline and got["pipeline"]["workspace_id"] == space.id
        assert got["versions"] and got["version"] == got["versions"][0]


def _configure(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("models/configure", user, json=_ref(space, name=space.model["name"],
                                                          version=space.model["version"], filter_threshold=0.5))


def _after_configure(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        version = answer.json()["model_version"]
        assert (version["name"], version["version"]) == (space.model["name"], space.model["version"])
        assert version["config"]["filter_threshold"] == 0.5 and version["artifact_uri"] == ""


def _after_metrics(cell: Cell) -> None:
    answer = cell.answer
    if answer.status_code == 200:
        assert answer.json()["requests"] == 0  # never deployed, never inferred


def _after_pipelines_list(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        names = {p["name"] for p in answer.json()["pipelines"]}
        assert space.pipeline in names and all(n.startswith(f"secret-{space.key}-") for n in names)


def _after_logs(cell: Cell) -> None:
    answer = cell.answer
    if answer.status_code == 200:
        assert answer.json() == {"records": []}  # never deployed, never inferred


def _after_status(cell: Cell) -> None:
    answer = cell.answer
    if answer.status_code == 200:
        assert answer.json()["status"] == "Unavailable"


def _after_audit(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        events = answer.json()["events"]
        assert events and {e["workspace_id"] for e in events} == {space.id}
        assert {"workspace.create", "pipeline.create", "model.upload"} <= {e["action"] for e in events}


def _after_url(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        assert answer.json()["url"].endswith(f"/infer/{space.name}/{space.pipeline}")


def _copy_of(world: World, user: str, space: Space) -> Space:
    """A new workspace with ``space``'s members and roles (the admin leaves it)."""
    name = f"secret-{space.key}-copy-{user}"
    created = world.admin_json("workspaces/create", workspace_name=name)["workspace_id"]
    for member, role in world.members[space.name].items():
        world.admin_json("workspaces/add_user", workspace_id=created, email=email(member), user_type=role)
    world.admin_json("workspaces/remove_user", workspace_id=created, email=ADMIN_EMAIL)
    world.members[name] = dict(world.members[space.name])
    world.secrets[name] = {name}
    return replace(space, name=name, id=created)


def _after_archive(cell: Cell) -> None:
    world, space, answer = cell.world, cell.space, cell.answer
    archived = {w["name"]: w["archived"] for w in world.admin_json("workspaces/list")["workspaces"]}
    assert archived[space.name] == (answer.status_code == 200)
    if answer.status_code == 200:
        owner = next(u for u, role in world.members[space.name].items() if role == OWNER)
        write = world.post("pipelines/create", owner, json=_ref(space, pipeline_id=f"secret-{space.key}-late",
                                                                definition=_steps(space.model)))
        assert write.status_code == 403 and "archived" in write.json()["error"], write.text
        assert _ok(world.post("pipelines/list", owner, json=_ref(space))) == {"pipelines": []}


def _check_inference(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("auth/check_inference", user, json={"workspace": space.name})


def _after_check_inference(cell: Cell) -> None:
    user, answer = cell.user, cell.answer
    if answer.status_code == 200:
        assert answer.json() == {"email": email(user)}


WORKSPACE_ENDPOINTS = [
    Endpoint("workspaces/list_users", "read", _call_json("workspaces/list_users", _ref), _after_list_users),
    Endpoint("workspaces/add_user", "owner", _add_spare, _after_add_spare),
    Endpoint("workspaces/remove_user", "owner", _remove_spare, _after_remove_spare),
    Endpoint("models/list", "read", _call_json("models/list", _ref), _after_models_list),
    Endpoint("models/list_versions", "read",
             _call_json("models/list_versions", lambda s: _ref(s, name=s.model["name"])), _after_list_versions),
    Endpoint("models/upload_and_convert", "write", _upload_cell, _after_upload, success=202),
    Endpoint("pipelines/create", "write", _create_pipeline, _after_create_pipeline),
    Endpoint("pipelines/build", "write", _build_pipeline, _after_build_pipeline),
    Endpoint("pipelines/get", "read",
             _call_json("pipelines/get", lambda s: _ref(s, pipeline_id=s.pipeline)), _after_get_pipeline),
    Endpoint("pipelines/metrics", "read",
             _call_json("pipelines/metrics", lambda s: _ref(s, pipeline_id=s.pipeline)), _after_metrics),
    Endpoint("models/configure", "write", _configure, _after_configure),
    Endpoint("pipelines/list", "read", _call_json("pipelines/list", _ref), _after_pipelines_list),
    Endpoint("pipelines/get_logs", "read",
             _call_json("pipelines/get_logs", lambda s: _ref(s, pipeline_id=s.pipeline)), _after_logs),
    Endpoint("status/get_deployment", "read",
             _call_json("status/get_deployment", lambda s: _ref(s, pipeline_id=s.pipeline)), _after_status),
    Endpoint("audit/list", "read", _call_json("audit/list", _ref), _after_audit),
    Endpoint("pipelines/url", "read",
             _call_json("pipelines/url", lambda s: _ref(s, pipeline_id=s.pipeline)), _after_url),
    Endpoint("workspaces/archive", "owner", _call_json("workspaces/archive", _ref), _after_archive,
             target=_copy_of),
    Endpoint("auth/check_inference", "read", _check_inference, _after_check_inference, denied=403),
]


@pytest.mark.parametrize("endpoint", WORKSPACE_ENDPOINTS, ids=lambda e: e.path)
@pytest.mark.parametrize("workspace", ["ws-a", "ws-b"])
@pytest.mark.parametrize("user", USERS)
def test_workspace_endpoint_by_role(world: World, user: str, workspace: str, endpoint: Endpoint) -> None:
    role = world.members[workspace].get(user)
    space = endpoint.target(world, user, world.spaces[workspace])
    answer = endpoint.call(world, user, space)
    assert answer.status_code == endpoint.expected(role), f"{user} ({role}) {answer.text}"
    check_answer(world, user, answer)
    endpoint.after(Cell(world, user, space, answer))
    if role is None:
        # the answer about a workspace one is not in is the answer about one that does not exist
        ghost = replace(space, id=GHOST_ID, name="no-such-workspace")
        nowhere = endpoint.call(world, user, ghost)
        assert nowhere.status_code == answer.status_code, nowhere.text
        assert _masked(nowhere, ghost) == _masked(answer, space)


# -- deploy, undeploy and the inference route (Ray behind the service; SQLite only) --------------

TINY = {"cpus": 0.1}
"""The cells' DeploymentConfig (as JSON): one replica of a tenth of a CPU."""
INFER_ROWS = [[0.1, 0.2, 0.3, 0.4]]


@dataclass(frozen=True)
class RayEndpoint(Endpoint):
    needs_running: bool = False
    """The cell first makes sure the pipeline runs (an undeploy or an inference needs it to)."""
    runs_after: Callable[[int, bool], bool] = lambda _status, running_before: running_before
    """Whether the pipeline runs after the call, from the answer's status and whether it ran before."""


def _running(world: World, space: Space) -> bool:
    status = world.admin_json("status/get_deployment", workspace_id=space.id, pipeline_id=space.pipeline)
    return bool(status["status"] == "Running")


def _deploy_cell(world: World, user: str, space: Space) -> httpx.Response:
    return world.post("pipelines/deploy", user, json=_ref(space, pipeline_id=space.pipeline, deployment_config=TINY))


def _after_deploy(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code == 200:
        assert answer.json()["url"].endswith(f"/infer/{space.name}/{space.pipeline}"), answer.text
        assert isinstance(answer.json()["id"], int), answer.text


def _infer_cell(world: World, user: str, space: Space) -> httpx.Response:
    url = world.admin_json("pipelines/url", workspace_id=space.id, pipeline_id=space.pipeline)["url"]
    headers = {"Authorization": f"Bearer {world.tokens[user]}"} if user else {}
    return httpx.post(url, json=[{"dense_input": row} for row in INFER_ROWS], headers=headers, timeout=60)


def _after_infer(cell: Cell) -> None:
    space, answer = cell.space, cell.answer
    if answer.status_code != 200:
        return
    # the world's model of this workspace, made again (the sha says it is the same file)
    model = mlp(cell.world.service.home.parent / f"infer-{space.key}.onnx", n_in=4, hidden=3,
                seed="ab".index(space.key))
    assert hashlib.sha256(model.read_bytes()).hexdigest() == space.model["sha"]
    want = run_onnx(model, {"dense_input": np.array(INFER_ROWS, dtype=np.float32)})["dense_1"]
    got = [row["out"]["dense_1"] for row in answer.json()]
    np.testing.assert_allclose(np.array(got, dtype=np.float32), want, rtol=1e-6)


INFERENCE = RayEndpoint("infer", "read", _infer_cell, _after_infer, denied=403, needs_running=True)
"""The pipeline's HTTP route (``POST {Serve}/infer/<workspace>/<pipeline>``), not a REST path:
the ingress asks the service (``auth/check_inference``) whether the token's user is a member."""
RAY_ENDPOINTS = [
    RayEndpoint("pipelines/deploy", "write", _deploy_cell, _after_deploy,
                runs_after=lambda status, running_before: status == 200 or running_before),
    INFERENCE,
    RayEndpoint("pipelines/undeploy", "write",
                _call_json("pipelines/undeploy", lambda s: _ref(s, pipeline_id=s.pipeline)), needs_running=True,
                runs_after=lambda status, running_before: status != 200 and running_before),
]
RAY_CALLERS: dict[str, tuple[str | None, ...]] = {"ws-a": (None, "outsider", "collab", "owner"),
                                                  "ws-b": (None, "owner", "collab", "outsider")}
"""Each workspace's callers (``None``: no token), the refused ones first: a refused deploy finds
the pipeline not deployed and a refused undeploy finds it running, for 4 real deploys in all
(an allowed deploy of a running pipeline redeploys it; the second allowed undeploy of ws-a
deploys it again first)."""


@pytest.fixture(scope="module")
def ray_pipelines(world: World) -> Iterator[None]:
    """Whatever the Ray cells leave deployed is undeployed when they end, before the service
    (and the Ray it started) stops: no Serve application outlives the cells."""
    yield
    for space in world.spaces.values():
        if _running(world, space):
            world.admin_json("pipelines/undeploy", workspace_id=space.id, pipeline_id=space.pipeline)
    assert not any(_running(world, s) for s in world.spaces.values())


@pytest.mark.ray
@pytest.mark.usefixtures("ray_pipelines")
@pytest.mark.parametrize("service", ["ray"], indirect=True)
@pytest.mark.parametrize(("endpoint", "workspace", "user"),
                         [(e, w, u) for e in RAY_ENDPOINTS for w, users in RAY_CALLERS.items() for u in users],
                         ids=lambda v: v.path if isinstance(v, Endpoint) else v or "no-token")
def test_ray_endpoint_by_role(world: World, endpoint: RayEndpoint, workspace: str, user: str | None) -> None:
    role = world.members[workspace].get(user) if user else None
    space = world.spaces[workspace]
    if endpoint.needs_running and not _running(world, space):
        world.admin_json("pipelines/deploy", workspace_id=space.id, pipeline_id=space.pipeline,
                         deployment_config=TINY)
    running_before = _running(world, space)
    answer = endpoint.call(world, user, space)
    assert answer.status_code == (endpoint.expected(role) if user else 401), f"{user} ({role}) {answer.text}"
    check_answer(world, user, answer)
    endpoint.after(Cell(world, user, space, answer))
    assert _running(world, space) == endpoint.runs_after(answer.status_code, running_before)
    if user and role is None and endpoint is not INFERENCE:
        ghost = replace(space, id=GHOST_ID, name="no-such-workspace")
        nowhere = endpoint.call(world, user, ghost)
        assert nowhere.status_code == answer.status_code, nowhere.text
        assert _masked(nowhere, ghost) == _masked(answer, space)


# -- the account endpoints (no workspace in the body) -------------------------------------------


def _workspaces_of(world: World, user: str) -> set[str]:
    return {w for w, members in world.members.items() if user in members}


def _cell_workspaces_list(world: World, user: str) -> None:
    listed = _ok(world.post("workspaces/list", user))["workspaces"]
    assert {w["name"] for w in listed} == _workspaces_of(world, user)


def _cell_users_query(world: World, user: str) -> None:
    listed = _ok(world.post("users/query", user, json={}))["users"]
    mates = {u for w in _workspaces_of(world, user) for u in world.members[w]} | {user}
    assert {u["email"] for u in listed} == {email(u) for u in mates}


def _cell_invite(world: World, user: str) -> None:
    invitee = f"invitee-{user}@example.com"
    answer = world.post("users/invite", user, json={"email": invitee, "password": "long-enough-1"})
    assert answer.status_code == 403, answer.text
    check_answer(world, user, answer)
    assert invitee not in {u["email"] for u in world.admin_json("users/query")["users"]}


def _cell_token_create(world: World, user: str) -> None:
    created = _ok(world.post("tokens/create", user, json={"name": f"cell-{user}"}))
    world.issued.append(created["token"])
    assert _ok(world.service.post("auth/whoami", created["token"]))["email"] == email(user)


def _cell_token_list(world: World, user: str) -> None:
    ids = {t["token_id"] for t in _ok(world.post("tokens/list", user))["tokens"]}
    assert world.token_ids[user] in ids
    assert not ids & {i for u, i in world.token_ids.items() if u != user}


def _cell_token_revoke(world: World, user: str) -> None:
    created = _ok(world.post("tokens/create", user, json={"name": "to-revoke"}))
    world.issued.append(created["token"])
    _ok(world.post("tokens/revoke", user, json={"token_id": created["token_id"]}))
    # another user's token: the answer for a token that does not exist, and it still works
    other = USERS[(USERS.index(user) + 1) % len(USERS)]
    theirs = world.post("tokens/revoke", user, json={"token_id": world.token_ids[other]})
    nowhere = world.post("tokens/revoke", user, json={"token_id": GHOST_ID})
    assert theirs.status_code == nowhere.status_code == 404, theirs.text
    check_answer(world, user, theirs)
    assert theirs.text.replace(f"'{world.token_ids[other]}'", "<id>") == nowhere.text.replace(f"'{GHOST_ID}'", "<id>")
    assert _ok(world.post("auth/whoami", other))["email"] == email(other)


def _cell_whoami(world: World, user: str) -> None:
    me = _ok(world.post("auth/whoami", user))
    assert me == {"user_id": me["user_id"], "email": email(user), "is_admin": False}


def _cell_login(world: World, user: str) -> None:
    login = _ok(world.service.post("auth/login", json={"email": email(user), "password": password(user)}))
    world.issued.append(login["access_token"])
    wrong = world.service.post("auth/login", json={"email": email(user), "password": "not-the-password"})
    unknown = world.service.post("auth/login", json={"email": f"nobody-{user}@example.com", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()  # a wrong password does not tell that the user exists


def _cell_workspace_create(world: World, user: str) -> None:
    name = f"own-{user}-ws"
    created = _ok(world.post("workspaces/create", user, json={"workspace_name": name}))
    world.members[name] = {user: OWNER}
    world.secrets[name] = {name}
    listed = _ok(world.post("workspaces/list_users", user, json={"workspace_id": created["workspace_id"]}))
    assert listed["users"] == [{"user_id": listed["users"][0]["user_id"], "email": email(user), "user_type": OWNER}]


def _cell_get_quotas(world: World, user: str) -> None:
    answer = world.post("admin/get_quotas", user)
    assert answer.status_code == 403 and answer.json()["kind"] == "PermissionDeniedError", answer.text


def _cell_set_quotas(world: World, user: str) -> None:
    answer = world.post("admin/set_quotas", user, json={"preset": "community"})
    assert answer.status_code == 403 and answer.json()["kind"] == "PermissionDeniedError", answer.text
    assert world.admin_json("admin/get_quotas")["source"] == "JOEY_QUOTAS"  # still no admin's policy


ACCOUNT_ENDPOINTS: dict[str, Callable[[World, str], None]] = {
    "workspaces/list": _cell_workspaces_list,
    "users/query": _cell_users_query,
    "users/invite": _cell_invite,
    "tokens/create": _cell_token_create,
    "tokens/list": _cell_token_list,
    "tokens/revoke": _cell_token_revoke,
    "auth/whoami": _cell_whoami,
    "auth/login": _cell_login,
    "workspaces/create": _cell_workspace_create,
    "admin/get_quotas": _cell_get_quotas,
    "admin/set_quotas": _cell_set_quotas,
}


@pytest.mark.parametrize("path", list(ACCOUNT_ENDPOINTS))
@pytest.mark.parametrize("user", USERS)
def test_account_endpoint_by_user(world: World, user: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Response] = []
    post = world.service.post

    def recorded(*args: Any, **kwargs: Any) -> httpx.Response:
        seen.append(answer := post(*args, **kwargs))
        return answer

    monkeypatch.setattr(world.service, "post", recorded)
    ACCOUNT_ENDPOINTS[path](world, user)
    others = {f"Bearer {world.admin}", *(f"Bearer {t}" for u, t in world.tokens.items() if u != user)}
    for answer in seen:
        if answer.request.headers.get("Authorization") not in others:
            check_answer(world, user, answer)


def test_the_matrix_covers_every_endpoint(service: Service) -> None:
    paths = set(_ok(httpx.get(f"{service.url}/v1/api/openapi.json"))["paths"])
    covered = {f"/v1/api/{e.path}" for e in WORKSPACE_ENDPOINTS} | {f"/v1/api/{p}" for p in ACCOUNT_ENDPOINTS}
    covered |= {f"/v1/api/{e.path}" for e in RAY_ENDPOINTS if e is not INFERENCE}
    assert paths == covered


# -- tokens -------------------------------------------------------------------------------------


def _poll_until_401(service: Service, token: str, within_s: float) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    while True:
        answer = service.post("auth/whoami", token)
        if answer.status_code == 401 or time.monotonic() - start > within_s:
            return answer, time.monotonic() - start
        assert answer.status_code == 200, answer.text
        time.sleep(0.1)


def test_a_revoked_token_stops_working_within_the_cache_time(world: World) -> None:
    created = _ok(world.post("tokens/create", "owner", json={"name": "short-lived"}))
    world.issued.append(created["token"])
    assert _ok(world.service.post("auth/whoami", created["token"]))["email"] == email("owner")
    _ok(world.post("tokens/revoke", "owner", json={"token_id": created["token_id"]}))
    answer, after_s = _poll_until_401(world.service, created["token"], 5.0)
    assert answer.status_code == 401, f"still accepted {after_s:.1f}s after revoke"
    assert answer.json()["error"] == "token revoked"
    listed = {t["token_id"]: t for t in _ok(world.post("tokens/list", "owner"))["tokens"]}
    assert listed[created["token_id"]]["revoked"] is True
    assert _ok(world.post("auth/whoami", "owner"))["email"] == email("owner")  # the login token still works


def test_an_expiring_token_is_refused_once_expired(world: World) -> None:
    created = _ok(world.post("tokens/create", "collab", json={"name": "one-second", "expires_in_s": 1}))
    world.issued.append(created["token"])
    expires_at = datetime.fromisoformat(created["expires_at"])
    late: list[float] = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        sent = datetime.now(UTC)
        answer = world.service.post("auth/whoami", created["token"])
        if answer.status_code == 200:
            if (sent - expires_at).total_seconds() > 0.05:
                late.append((sent - expires_at).total_seconds())
        else:
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"] == "token expired"
            break
        time.sleep(0.1)
    else:
        pytest.fail("the token was still accepted 5 s after it was created with expires_in_s=1")
    assert not late, f"accepted {late} s after it expired (the cache outlived the token)"


def test_a_made_up_or_missing_token_answers_wallaroos_401(service: Service) -> None:
    for token in ("joey_made-up-token", "not-even-joey", "x" * 5000):
        answer = service.post("workspaces/list", token)
        assert answer.status_code == 401, answer.text
        body = answer.json()
        assert {k: body[k] for k in ("code", "status", "source")} == {"code": 401, "status": "error",
                                                                     "source": "platform"}
        assert isinstance(body["error"], str) and body["error"]
    missing = service.post("workspaces/list")
    assert missing.status_code == 401
    assert {k: missing.json()[k] for k in ERROR_KEYS} == {"code": 401, "status": "error", "error": "Jwt is missing",
                                                          "source": "platform"}
    for header in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer\tjoey_x y", "token"):
        answer = service.post("workspaces/list", headers={"Authorization": header})
        assert answer.status_code == 401, (header, answer.text)
        assert set(answer.json()) >= ERROR_KEYS


# -- bad input ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    path: str
    user: str
    field: str
    """What the error must mention."""
    status: int = 400
    json: Any = None
    content: bytes | None = None
    upload: dict[str, Any] | None = None
    """``metadata`` overrides (``None`` values drop a key) and ``file_name``/``file_bytes``/``no_file``."""


def _bad_cases() -> list[Bad]:
    a = "<ws-a>"  # replaced with ws-a's id
    sql = "x'; DROP TABLE users;--"
    return [
        Bad("malformed-json", "workspaces/create", "owner", "body", content=b'{"workspace_name": '),
        Bad("json-not-an-object", "workspaces/list_users", "owner", "body", json=[1, 2]),
        Bad("empty-body", "models/list", "owner", "body", content=b""),
        Bad("id-as-string", "workspaces/list_users", "owner", "workspace_id", json={"workspace_id": "x"}),
        Bad("id-as-float", "models/list", "owner", "workspace_id", json={"workspace_id": 1.5}),
        Bad("id-too-large", "workspaces/list_users", "owner", "workspace_id", json={"workspace_id": 2**64}),
        Bad("token-id-too-large", "tokens/revoke", "owner", "token_id", json={"token_id": 2**64}),
        Bad("lifetime-too-long", "tokens/create", "owner", "expires_in_s", json={"expires_in_s": 10**18}),
        Bad("lifetime-zero", "tokens/create", "owner", "expires_in_s", json={"expires_in_s": 0}),
        Bad("name-not-a-string", "tokens/create", "owner", "name", json={"name": None}),
        Bad("missing-field", "pipelines/get_logs", "owner", "pipeline_id", json={"workspace_id": a}),
        Bad("unknown-field", "models/list", "owner", "extra", json={"workspace_id": a, "extra": 1}),
        Bad("unknown-field-login", "auth/login", "owner", "admin",
            json={"email": email("owner"), "password": password("owner"), "admin": True}),
        Bad("limit-zero", "pipelines/get_logs", "owner", "limit",
            json={"workspace_id": a, "pipeline_id": "secret-a-pipeline", "limit": 0}),
        Bad("sql-workspace-name", "workspaces/create", "owner", "workspace name", json={"workspace_name": sql}),
        Bad("sql-pipeline-name", "pipelines/create", "owner", "pipeline name",
            json={"workspace_id": a, "pipeline_id": sql, "definition": {"steps": ["<model-a>"]}}),
        Bad("sql-model-name", "models/upload_and_convert", "owner", "model name", upload={"name": sql}),
        Bad("existing-workspace", "workspaces/create", "collab", "already exists", status=409,
            json={"workspace_name": "ws-a"}),
        Bad("unknown-role", "workspaces/add_user", "owner", "user_type",
            json={"workspace_id": a, "email": SPARE, "user_type": "ADMIN"}),
        Bad("unknown-user", "workspaces/add_user", "owner", "user", status=404,
            json={"workspace_id": a, "email": "nobody@example.com"}),
        Bad("demote-last-owner", "workspaces/add_user", "owner", "owner",
            json={"workspace_id": a, "email": email("owner"), "user_type": COLLABORATOR}),
        Bad("remove-last-owner", "workspaces/remove_user", "owner", "owner",
            json={"workspace_id": a, "email": email("owner")}),
        Bad("steps-missing", "pipelines/create", "collab", "definition.steps",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-1", "definition": {}}),
        Bad("steps-empty", "pipelines/create", "collab", "definition.steps",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-2", "definition": {"steps": []}}),
        Bad("step-not-an-object", "pipelines/create", "collab", "definition.steps[0]",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-3", "definition": {"steps": ["garbage"]}}),
        Bad("step-unknown", "pipelines/create", "collab", "definition.steps[1]",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-4",
                  "definition": {"steps": ["<model-a>", {"Bogus": {}}]}}),
        Bad("step-without-models", "pipelines/create", "collab", "definition.steps[0]",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-5",
                  "definition": {"steps": [{"ModelInference": {"models": "x"}}]}}),
        Bad("step-unknown-model", "pipelines/create", "collab", "no-such-model", status=404,
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-6", "definition": {
                "steps": [{"ModelInference": {"models": [{"name": "no-such-model", "version": "1", "sha": "0"}]}}]}}),
        Bad("definition-not-an-object", "pipelines/create", "collab", "definition",
            json={"workspace_id": a, "pipeline_id": "secret-a-bad-7", "definition": "x"}),
        Bad("metadata-not-json", "models/upload_and_convert", "owner", "metadata", upload={"raw": "{bad"}),
        Bad("metadata-a-list", "models/upload_and_convert", "owner", "metadata", upload={"raw": "[1]"}),
        Bad("metadata-id-string", "models/upload_and_convert", "owner", "metadata.workspace_id",
            upload={"workspace_id": "x"}),
        Bad("metadata-missing-name", "models/upload_and_convert", "owner", "metadata.name", upload={"name": None}),
        Bad("metadata-unknown-field", "models/upload_and_convert", "owner", "metadata.extra", upload={"extra": 1}),
        Bad("metadata-conversion-string", "models/upload_and_convert", "owner", "metadata.conversion",
            upload={"conversion": "onnx"}),
        Bad("unknown-framework", "models/upload_and_convert", "owner", "framework",
            upload={"conversion": {"framework": "nope"}}),
        Bad("bad-input-schema", "models/upload_and_convert", "owner", "input_schema",
            upload={"input_schema": "!!not base64"}),
        Bad("file-not-onnx", "models/upload_and_convert", "owner", "onnx", upload={"file_bytes": b"not a model"}),
        Bad("file-name-dotdot", "models/upload_and_convert", "owner", "file", upload={"file_name": ".."}),
        Bad("file-missing", "models/upload_and_convert", "owner", "file", upload={"no_file": True}),
        Bad("metadata-missing", "models/upload_and_convert", "owner", "metadata", upload={"no_metadata": True}),
        Bad("unknown-path", "no/such/endpoint", "owner", "/v1/api/no/such/endpoint", status=404, json={}),
    ]


@pytest.fixture(scope="module")
def stored_before_bad_input(world: World) -> dict[str, Any]:
    return _stored(world)


def _stored(world: World) -> dict[str, Any]:
    return {"workspaces": sorted(w["name"] for w in world.admin_json("workspaces/list")["workspaces"]),
            "users": sorted(u["email"] for u in world.admin_json("users/query")["users"]),
            **{s.name: (sorted(world.model_names(s)), sorted(world.pipeline_names(s)), sorted(world.user_emails(s)))
               for s in world.spaces.values()}}


def _resolve(value: Any, world: World) -> Any:
    space = world.spaces["ws-a"]
    if value == "<ws-a>":
        return space.id
    if value == "<model-a>":
        return {"ModelInference": {"models": [space.model]}}
    if isinstance(value, dict):
        return {k: _resolve(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, world) for v in value]
    return value


def _send_bad(world: World, case: Bad, model: Path) -> httpx.Response:
    if case.upload is None:
        if case.content is not None:
            return world.post(case.path, case.user, content=case.content, headers={"Content-Type": "application/json"})
        return world.post(case.path, case.user, json=_resolve(case.json, world))
    options = dict(case.upload)
    metadata: dict[str, Any] = {"name": "secret-a-bad-upload", "workspace_id": world.spaces["ws-a"].id,
                                "conversion": {"framework": "onnx"}}
    for key in ("name", "workspace_id", "conversion", "input_schema", "extra"):
        if key in options:
            if options[key] is None:
                metadata.pop(key)
            else:
                metadata[key] = options[key]
    data = {} if options.get("no_metadata") else {"metadata": options.get("raw", json.dumps(metadata))}
    files = None if options.get("no_file") else {
        "file": (options.get("file_name", "model.onnx"), options.get("file_bytes", model.read_bytes()))}
    return world.post(case.path, case.user, data=data, files=files)


@pytest.mark.usefixtures("stored_before_bad_input")
@pytest.mark.parametrize("case", _bad_cases(), ids=lambda c: c.id)
def test_bad_input_answers_a_json_4xx_naming_the_field(world: World, case: Bad, tmp_path: Path) -> None:
    answer = _send_bad(world, case, mlp(tmp_path / "model.onnx", n_in=4, hidden=3, seed=3))
    assert answer.status_code == case.status, answer.text
    check_answer(world, case.user, answer)
    assert case.field.lower() in answer.json()["error"].lower(), answer.text


def test_bad_input_stored_nothing_and_the_users_table_still_works(world: World,
                                                                  stored_before_bad_input: Any) -> None:
    assert _stored(world) == stored_before_bad_input
    for user in USERS:
        token = world.service.login(email(user), password(user))
        world.issued.append(token)
        assert _ok(world.service.post("auth/whoami", token))["email"] == email(user)
    assert SPARE in {u["email"] for u in world.admin_json("users/query")["users"]}


def test_a_wrong_method_answers_json(service: Service) -> None:
    answer = httpx.get(f"{service.url}/v1/api/workspaces/list")
    assert answer.status_code == 405
    assert set(answer.json()) >= ERROR_KEYS and answer.json()["code"] == 405


def test_an_upload_file_name_cannot_leave_the_upload_folder(world: World, tmp_path: Path) -> None:
    space = world.spaces["ws-a"]
    model = mlp(tmp_path / "model.onnx", n_in=4, hidden=3, seed=5)
    service_tmp = _service_tmp(world.service)
    names = ["../../etc/passwd.onnx", "../../../../../../tmp/escaped.onnx", "/tmp/absolute.onnx",
             "..\\..\\windows.onnx", "sub/dir/../../../up.onnx"]
    for index, name in enumerate(names):
        answer = _upload(world.service, world.tokens["owner"], f"secret-a-traversal-{index}", space.id, model,
                         file_name=name)
        check_answer(world, "owner", answer)
        assert answer.status_code in (202, 400), answer.text
    # nothing landed where a name points from the upload folder (TMPDIR/joey-upload-*/)
    for target in (service_tmp.parent / "etc" / "passwd.onnx", Path("/etc/passwd.onnx"), Path("/tmp/escaped.onnx"),
                   Path("/tmp/absolute.onnx"), service_tmp.parent / "up.onnx", service_tmp / "up.onnx"):
        assert not target.exists(), target
    outside = [p for p in service_tmp.parent.parent.rglob("*") if p.is_file() and service_tmp not in p.parents]
    assert outside == []
    assert not list(service_tmp.glob("joey-upload-*")), "an upload folder was left behind"
    home = world.service.home.resolve()
    for path in home.rglob("*"):
        assert home in path.resolve().parents, path
    stored = [row[0] for row in _rows(world.service, "SELECT file_name FROM model_versions")]
    assert stored and all("/" not in n and n not in ("", ".", "..") for n in stored), stored


def test_an_upload_past_the_limit_answers_413_and_stores_nothing(tmp_path: Path) -> None:
    upload_tmp = tmp_path / "tmp"
    upload_tmp.mkdir()
    small = start_service(tmp_path / "home", {"JOEY_SERVICE_MAX_UPLOAD_BYTES": "1000", "TMPDIR": str(upload_tmp)})
    try:
        admin = small.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        workspace_id = _ok(small.post("workspaces/create", admin, json={"workspace_name": "small"}))["workspace_id"]
        model = mlp(tmp_path / "model.onnx", n_in=29, hidden=16)
        assert model.stat().st_size > 1000
        answer = _upload(small, admin, "too-large", workspace_id, model)
        assert answer.status_code == 413, answer.text
        body = answer.json()
        assert set(body) >= ERROR_KEYS and body["code"] == 413 and body["status"] == "error"
        assert "1000" in body["error"] and "file" in body["error"], body
        assert _ok(small.post("models/list", admin, json={"workspace_id": workspace_id})) == {"models": []}
        assert list(upload_tmp.iterdir()) == [], "the partial upload was left behind"
    finally:
        stop_service(small)


# -- docs ---------------------------------------------------------------------------------------


def test_the_openapi_docs_answer(service: Service) -> None:
    docs = httpx.get(f"{service.url}/v1/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = _ok(httpx.get(f"{service.url}/v1/api/openapi.json"))
    assert {f"/v1/api/{p}" for p in ("auth/login", "workspaces/list", "models/upload_and_convert",
                                     "pipelines/create", "pipelines/deploy")} <= set(spec["paths"])


# -- secrets at rest (last: it checks every token issued above) ---------------------------------


def test_no_clear_secret_is_kept_in_the_store_or_the_log(world: World) -> None:
    secrets = [*world.issued, ADMIN_PASSWORD, *(password(u) for u in (*USERS, "spare"))]
    assert len(world.issued) > 10
    tables = _tables(world.service)
    dump = "\n".join(f"{t}: {row!r}" for t in tables for row in _rows(world.service, f'SELECT * FROM "{t}"'))
    hashes = {row[0] for row in _rows(world.service, "SELECT token_hash FROM api_tokens")}
    password_hashes = [row[0] for row in _rows(world.service, "SELECT password_hash FROM users")]
    assert {"users", "api_tokens", "workspace_members"} <= set(tables)
    assert [s for s in secrets if s in dump] == []
    assert {hashlib.sha256(t.encode()).hexdigest() for t in world.issued} <= hashes
    assert password_hashes and all(h.startswith("$argon2id$") for h in password_hashes)
    on_disk = [p for p in world.service.home.rglob("*") if p.is_file()]
    for path in on_disk:
        data = path.read_bytes()
        assert [s for s in secrets if s.encode() in data] == [], path
    log = world.service.home.parent / f"{world.service.home.name}-service.log"
    text = log.read_text(errors="replace")
    assert [s for s in secrets if s in text] == []
