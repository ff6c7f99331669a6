"""Installation-wide quotas without Ray: presets, JOEY_QUOTAS, the admin's stored policy, and
each limit refused before anything is stored (users through ``Accounts.invite_user``; steps,
deployed pipelines and CPU cores through the SDK, whose refused deploys never reach Ray).
Deploys that run are in tests/deployments/test_quota_deploys.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner
from support.postgres import fresh_database

import joey
from joey.cli import cli
from joey.config import Settings
from joey.errors import ConflictError, JoeyError, QuotaExceededError
from joey.platform import quotas
from joey.platform.accounts import Accounts, Principal
from joey.platform.quotas import PRESETS, QuotaPolicy, parse_quotas
from joey.platform.store import Store
from joey.testing.onnx_models import mlp

ADMIN = Principal(0, "admin@example.com", is_admin=True)
UNREACHABLE_RAY = "127.0.0.1:9"
"""A refused deploy must not need Ray: any attempt to reach this one would fail the test."""


# -- presets and JOEY_QUOTAS --------------------------------------------------------------------


def test_presets() -> None:
    assert PRESETS["unlimited"] == QuotaPolicy()
    assert PRESETS["unlimited"].model_dump() == dict.fromkeys(quotas.LIMITS)
    assert PRESETS["community"].model_dump() == {"max_users": 2, "max_deployed_pipelines": 2,
                                                  "max_steps_per_pipeline": 5, "max_cpu_cores": 32}
    assert Settings().quotas == "unlimited"


@pytest.mark.parametrize("text,policy,preset", [
    ("unlimited", {}, "unlimited"),
    (" community ", PRESETS["community"].model_dump(), "community"),
    ('{"preset": "community", "max_users": 5}', {**PRESETS["community"].model_dump(), "max_users": 5}, "community"),
    ('{"preset": "community", "max_cpu_cores": null}', {**PRESETS["community"].model_dump(), "max_cpu_cores": None},
     "community"),
    ('{"max_cpu_cores": 1.5, "max_deployed_pipelines": 3}', {"max_cpu_cores": 1.5, "max_deployed_pipelines": 3},
     None),
    ("{}", {}, None),
])
def test_joey_quotas_parses_a_preset_or_json_limits(text: str, policy: dict[str, Any], preset: str | None) -> None:
    parsed, named = parse_quotas(text)
    assert parsed.model_dump() == {**dict.fromkeys(quotas.LIMITS), **policy}
    assert named == preset


@pytest.mark.parametrize("text,names", [
    ("enterprise", "expected a preset (unlimited, community)"),
    ('{"preset": "gold"}', "preset: expected one of ['unlimited', 'community'], got 'gold'"),
    ('{"max_userz": 3}', "max_userz"),
    ('{"max_users": -1}', "max_users"),
    ('{"max_users": 1.5}', "max_users"),
    ('{"max_cpu_cores": "many"}', "max_cpu_cores"),
    ("{not json", "not valid JSON"),
    ('["community"]', "expected a preset"),
])
def test_bad_joey_quotas_names_what_is_wrong(text: str, names: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        parse_quotas(text)
    assert names in str(caught.value)
    with pytest.raises(JoeyError) as named:
        quotas.from_setting(text)
    assert str(named.value).startswith("bad JOEY_QUOTAS setting: ") and names in str(named.value)
    # the SDK: checked where quotas are checked, before anything is stored
    client = _client(tmp_path, text)
    pipeline = client.build_pipeline("p").add_model_step(_chainable(client, tmp_path))
    with pytest.raises(JoeyError, match="bad JOEY_QUOTAS setting"):
        pipeline.create_version()
    assert _versions(client, "p") == 0


def test_settings_read_joey_quotas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOEY_QUOTAS", '{"preset": "community", "max_users": 5}')
    assert parse_quotas(Settings().quotas)[0].max_users == 5


# -- the admin's policy in the store (SQLite and PostgreSQL) ------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store(f"sqlite:///{tmp_path / 'joey.db'}")
        yield opened
        opened.close()
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        opened = Store(url)
        yield opened
        opened.close()


def test_the_admins_policy_overrides_joey_quotas_until_reset(store: Store) -> None:
    assert quotas.current(store, "community") == quotas.Quotas(PRESETS["community"], "community", "JOEY_QUOTAS")
    quotas.set_policy(store, None, {"max_users": 7, "max_cpu_cores": 2.5}, "community")
    now = quotas.current(store, "community")
    assert (now.preset, now.source) == ("unlimited", "admin")
    assert now.policy == QuotaPolicy(max_users=7, max_cpu_cores=2.5)
    quotas.set_policy(store, "community", {"max_users": None}, "community")  # replaces it whole
    assert quotas.current(store, "unlimited").policy == PRESETS["community"].model_copy(update={"max_users": None})
    with pytest.raises(ValueError, match="max_users"):
        quotas.set_policy(store, None, {"max_users": -2}, "community")
    with pytest.raises(ValueError, match="preset"):
        quotas.set_policy(store, "gold", {}, "community")
    assert quotas.current(store, "unlimited").source == "admin"  # the bad ones stored nothing
    assert quotas.reset_policy(store, "community").source == "JOEY_QUOTAS"
    assert store.get_setting(quotas.SETTING_KEY) is None


# -- users -------------------------------------------------------------------------------------


def test_max_users_refuses_the_invite_past_it(store: Store) -> None:
    accounts = Accounts(store, "community")
    accounts.ensure_admin(ADMIN.email, "admin-password-1")
    accounts.invite_user(ADMIN, "one@example.com", "password-one")
    with pytest.raises(QuotaExceededError) as caught:
        accounts.invite_user(ADMIN, "two@example.com", "password-two")
    error = caught.value
    assert (error.limit, error.current, error.allowed, error.status) == ("max_users", 2, 2, 403)
    assert str(error) == "quota 'max_users' exceeded: 2 users, 2 allowed (preset community)"
    assert [u.email for u in store.accounts.list_users()] == [ADMIN.email, "one@example.com"]
    # inviting someone who exists is a conflict, whatever the quota
    with pytest.raises(ConflictError):
        accounts.invite_user(ADMIN, "one@example.com")
    # a deactivated user frees a place; an admin's policy moves the limit
    store.accounts.set_user_active(store.accounts.get_user("one@example.com").id, False)  # type: ignore[union-attr]
    accounts.invite_user(ADMIN, "two@example.com")
    quotas.set_policy(store, "community", {"max_users": 3}, "community")
    accounts.invite_user(ADMIN, "three@example.com")
    with pytest.raises(QuotaExceededError, match=r"3 users, 3 allowed \(quota policy set by an admin\)"):
        accounts.invite_user(ADMIN, "four@example.com")


def test_unlimited_invites_anyone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'joey.db'}")
    accounts = Accounts(store)
    for number in range(5):
        accounts.invite_user(ADMIN, f"user{number}@example.com")
    assert len(store.accounts.list_users()) == 5
    store.close()


# -- steps, deployed pipelines and CPU cores through the SDK (no Ray) ---------------------------


def _client(tmp_path: Path, policy: str) -> joey.Client:
    return joey.Client(settings=Settings(home=tmp_path / "home", quotas=policy, ray_address=UNREACHABLE_RAY),
                       interactive=False)


def _chainable(client: joey.Client, tmp_path: Path) -> Any:
    """A model whose output feeds its own input, so any number of its steps deploys."""
    model = client.upload_model("link", mlp(tmp_path / "link.onnx", n_in=1))
    return model.configure(tensor_fields=["dense_1"])


def _versions(client: joey.Client, name: str) -> int:
    return len(client.get_pipeline(name).versions())


def test_max_steps_refuses_a_version_and_a_deploy_before_either_is_stored(tmp_path: Path) -> None:
    client = _client(tmp_path, '{"max_steps_per_pipeline": 2}')
    model = _chainable(client, tmp_path)
    pipeline = client.build_pipeline("long").add_model_step(model).add_model_step(model).add_model_step(model)
    with pytest.raises(QuotaExceededError) as caught:
        pipeline.create_version()
    assert (caught.value.limit, caught.value.current, caught.value.allowed) == ("max_steps_per_pipeline", 3, 2)
    assert str(caught.value) == ("quota 'max_steps_per_pipeline' exceeded: pipeline 'long' has 3 steps, "
                                 "2 allowed (JOEY_QUOTAS)")
    with pytest.raises(QuotaExceededError, match="has 3 steps"):
        pipeline.deploy()
    assert _versions(client, "long") == 0
    assert client._context.store.list_deployments(pipeline.id()) == []
    # a shadow deploy is one step, validations none: these two steps fit
    fits = client.build_pipeline("fits").add_model_step(model).add_shadow_deploy(model, [model])
    fits.add_validations(high=pl.col("out.dense_1").list.get(0) > 0.5)
    assert len(fits.steps()) == 5  # a model step, a shadow deploy's three entries, the validations
    fits.create_version()
    assert _versions(client, "fits") == 1


def test_a_deploy_over_the_deployed_pipelines_or_the_cpu_cores_stores_nothing(tmp_path: Path) -> None:
    client = _client(tmp_path, '{"max_deployed_pipelines": 0}')
    model = _chainable(client, tmp_path)
    pipeline = client.build_pipeline("none-allowed").add_model_step(model)
    with pytest.raises(QuotaExceededError) as caught:
        pipeline.deploy()
    assert str(caught.value) == "quota 'max_deployed_pipelines' exceeded: 0 deployed, 0 allowed (JOEY_QUOTAS)"
    assert _versions(client, "none-allowed") == 0
    assert client._context.store.list_deployments(pipeline.id()) == []

    cores = _client(tmp_path, '{"max_cpu_cores": 1}')
    big = cores.build_pipeline("big").add_model_step(model)
    config = joey.DeploymentConfigBuilder().replica_count(2).cpus(1).build()
    with pytest.raises(QuotaExceededError) as caught:
        big.deploy(deployment_config=config)
    assert (caught.value.limit, caught.value.current, caught.value.allowed) == ("max_cpu_cores", 0, 1)
    assert str(caught.value) == ("quota 'max_cpu_cores' exceeded: 0 cores reserved by other pipelines, "
                                 "pipeline 'big' asks 2, 1 allowed (JOEY_QUOTAS)")
    assert _versions(cores, "big") == 0
    assert cores._context.store.list_deployments(big.id()) == []
    # autoscaled: its maximum replicas count
    autoscaled = joey.DeploymentConfigBuilder().replica_autoscale_min_max(3, 1).cpus(0.5).build()
    with pytest.raises(QuotaExceededError, match=r"asks 1\.5"):
        big.deploy(deployment_config=autoscaled)


def test_the_use_counts_what_the_store_says_is_deployed(tmp_path: Path) -> None:
    """Deployments recorded in the store (as deploy records them) count, each pipeline's newest
    active one; a redeploy of a deployed pipeline replaces its own use."""
    from joey.platform.spec_builder import build_spec

    client = _client(tmp_path, "community")
    model = _chainable(client, tmp_path)
    store = client._context.store
    specs = {}
    for name, replicas in (("a", 1), ("b", 3)):
        pipeline = client.build_pipeline(name).add_model_step(model).add_model_step(model)
        version = pipeline.create_version()
        config = joey.DeploymentConfigBuilder().replica_count(replicas).cpus(2).build()
        spec = build_spec(client._context, "default", pipeline._workspace.id, name, version.name(),
                          pipeline.steps(), config)
        store.record_deployment(pipeline.id(), version.id(), config.model_dump(mode="json"), spec.to_json(),
                                "Running")
        specs[name] = (pipeline, spec)
    assert client.get_quotas() == {
        "preset": "community", "source": "JOEY_QUOTAS", "policy": PRESETS["community"].model_dump(),
        "usage": {"users": 0, "deployed_pipelines": 2, "steps_per_pipeline": 2, "cpu_cores": 8.0}}
    # a third pipeline is refused; redeploying a deployed one is not a new one
    third = client.build_pipeline("c").add_model_step(model)
    with pytest.raises(QuotaExceededError, match="2 deployed, 2 allowed"):
        third.deploy()
    quotas.check_deploy(client._context, specs["b"][0].id(), specs["b"][1])
    # CPU cores: a redeploy's new configuration replaces its old one (2 + 6 fit in 8, not in 7)
    quotas.set_policy(store, "community", {"max_cpu_cores": 8}, "community")
    quotas.check_deploy(client._context, specs["b"][0].id(), specs["b"][1])
    quotas.check_deploy(client._context, specs["a"][0].id(), specs["a"][1])
    quotas.set_policy(store, "community", {"max_cpu_cores": 7}, "community")
    with pytest.raises(QuotaExceededError) as caught:
        quotas.check_deploy(client._context, specs["a"][0].id(), specs["a"][1])
    assert (caught.value.current, caught.value.allowed) == (6, 7)
    assert str(caught.value) == ("quota 'max_cpu_cores' exceeded: 6 cores reserved by other pipelines, "
                                 "pipeline 'a' asks 2, 7 allowed (quota policy set by an admin)")
    store.end_deployment(store.active_deployment(specs["a"][0].id()).id)  # type: ignore[union-attr]
    assert client.get_quotas()["usage"] == {"users": 0, "deployed_pipelines": 1, "steps_per_pipeline": 2,
                                            "cpu_cores": 6.0}


# -- the CLI -----------------------------------------------------------------------------------


def _run(home: Path, *args: str, code: int = 0, **env: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env={"JOEY_HOME": str(home), "JOEY_RAY_ADDRESS": UNREACHABLE_RAY,
                                                      **env})
    assert result.exit_code == code, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def test_cli_quotas_show(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shown = json.loads(_run(home, "quotas", "show", "--json", JOEY_QUOTAS="community").stdout)
    assert shown == {"preset": "community", "source": "JOEY_QUOTAS", "policy": PRESETS["community"].model_dump(),
                     "usage": {"users": 0, "deployed_pipelines": 0, "steps_per_pipeline": 0, "cpu_cores": 0.0}}
    text = _run(home, "quotas", "show", JOEY_QUOTAS='{"max_cpu_cores": 4}').stdout
    assert text.splitlines()[0] == "quotas: custom limits (from JOEY_QUOTAS)"
    assert "deployed pipelines          0 / unlimited" in text
    assert "CPU cores                   0 / 4" in text
    bad = _run(home, "quotas", "show", code=1, JOEY_QUOTAS="gold")
    assert bad.stdout == ""
    assert bad.stderr.startswith("Error: bad JOEY_QUOTAS setting: expected a preset (unlimited, community)")


def test_cli_deploy_over_a_quota_exits_1_with_the_message(tmp_path: Path) -> None:
    home = tmp_path / "home"
    model = mlp(tmp_path / "m.onnx")
    _run(home, "models", "upload", "fraud", str(model), "--json")
    refused = _run(home, "pipelines", "deploy", "fraud-pipe", "--model", "fraud", code=1,
                   JOEY_QUOTAS='{"max_deployed_pipelines": 0}')
    assert refused.stderr.strip() == ("Error: quota 'max_deployed_pipelines' exceeded: 0 deployed, 0 allowed "
                                      "(JOEY_QUOTAS)")
    listed = json.loads(_run(home, "pipelines", "list", "--json").stdout)["pipelines"]
    assert [(p["name"], p["versions"], p["deployed"]) for p in listed] == [("fraud-pipe", 0, False)]
