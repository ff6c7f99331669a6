"""Quotas against real deploys on the session's Ray and Serve: a deploy over a limit is refused
with nothing running and nothing stored, beside pipelines that do run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ray import serve

import joey
from joey.config import Settings
from joey.errors import QuotaExceededError
from joey.testing.onnx_models import mlp

pytestmark = pytest.mark.ray


@pytest.fixture
def with_quotas(settings: Settings) -> Iterator[Any]:
    """``with_quotas(policy)``: an embedded Client under JOEY_QUOTAS=policy; every Serve
    application is deleted after the test."""
    yield lambda policy: joey.Client(settings=settings.model_copy(update={"quotas": policy}), interactive=False)
    for name in list(serve.status().applications):
        serve.delete(name)


def _stored(client: joey.Client, name: str) -> tuple[int, int]:
    """The pipeline's saved versions and recorded deployments."""
    pipeline = client.get_pipeline(name)
    return len(pipeline.versions()), len(client._context.store.list_deployments(pipeline.id()))


def test_community_refuses_a_third_deployed_pipeline_and_leaves_nothing(with_quotas: Any, tmp_path: Path) -> None:
    client = with_quotas("community")
    model = client.upload_model("fraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    first = client.build_pipeline("first").add_model_step(model).deploy()
    client.build_pipeline("second").add_model_step(model).deploy()
    third = client.build_pipeline("third").add_model_step(model)

    with pytest.raises(QuotaExceededError) as caught:
        third.deploy()

    error = caught.value
    assert (error.limit, error.current, error.allowed, error.status) == ("max_deployed_pipelines", 2, 2, 403)
    assert str(error) == "quota 'max_deployed_pipelines' exceeded: 2 deployed, 2 allowed (preset community)"
    assert set(serve.status().applications) == {"default-first", "default-second"}
    assert _stored(client, "third") == (0, 0)
    assert third.status()["status"] == "Unavailable"
    usage = client.get_quotas()["usage"]
    assert (usage["deployed_pipelines"], usage["steps_per_pipeline"]) == (2, 1)
    assert usage["cpu_cores"] == pytest.approx(0.2)  # one replica of a tenth of a CPU each
    # a redeploy is no new deployed pipeline; an undeploy makes room
    first.deploy()
    assert _stored(client, "first") == (1, 2)
    first.undeploy()
    third.deploy()
    assert set(serve.status().applications) == {"default-second", "default-third"}
    assert client.get_quotas()["usage"]["deployed_pipelines"] == 2


def test_cpu_cores_count_the_running_deployments(with_quotas: Any, tmp_path: Path) -> None:
    client = with_quotas('{"max_cpu_cores": 1}')
    model = client.upload_model("fraud", mlp(tmp_path / "m.onnx")).configure(tensor_fields=["tensor"])
    client.build_pipeline("small").add_model_step(model).deploy()
    big = client.build_pipeline("big").add_model_step(model)
    config = joey.DeploymentConfigBuilder().replica_count(2).cpus(0.5).build()

    with pytest.raises(QuotaExceededError) as caught:
        big.deploy(deployment_config=config)

    assert (caught.value.limit, caught.value.current, caught.value.allowed) == ("max_cpu_cores", 0.1, 1)
    assert str(caught.value) == ("quota 'max_cpu_cores' exceeded: 0.1 cores reserved by other pipelines, "
                                 "pipeline 'big' asks 1, 1 allowed (JOEY_QUOTAS)")
    assert set(serve.status().applications) == {"default-small"}
    assert _stored(client, "big") == (0, 0)
