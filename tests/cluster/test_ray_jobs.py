"""``ray job submit`` deploys a pipeline with the documented script (examples/ray_job), on a
real local head with the dashboard and token auth on (issue 13, item 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from ray_cluster import RayCluster, ray_cluster
from support.waiting import free_port

from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

EXAMPLE = Path(__file__).parents[2] / "examples" / "ray_job"
RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A one-node Ray with the dashboard (jobs and ``serve deploy`` talk to it), token auth on."""
    home = tmp_path_factory.mktemp("job-head")
    with ray_cluster(home, head={"num_cpus": 2, "include_dashboard": True, "dashboard_host": "127.0.0.1",
                                 "dashboard_port": free_port()}) as running:
        assert running.dashboard, "the head started without its dashboard"
        yield running


def _dashboard(head: RayCluster) -> str:
    return f"http://{head.dashboard}" if "://" not in str(head.dashboard) else str(head.dashboard)


def _submit(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``ray job submit``; a head that just started may not have its job agent yet."""
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
        if "No available agent" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(2)


AGENT_WAIT_S = 60.0


def test_the_dashboard_refuses_a_request_without_the_token(head: RayCluster) -> None:
    """Token auth is really on: the job API answers only with the cluster's token."""
    url = f"{_dashboard(head)}/api/jobs/"
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {head.token}"}, timeout=10).status_code == 200


def test_ray_job_submit_deploys_a_pipeline_that_answers_over_http(head: RayCluster, tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    shutil.copytree(EXAMPLE, job_dir)
    model = mlp(job_dir / "fraud.onnx", n_in=5, n_out=1, seed=11)
    runtime_env = {"env_vars": {"JOEY_HOME": str(head.home), "JOEY_HTTP_PORT": str(head.http_port)}}
    # The token as Ray documents it for clients: RAY_AUTH_MODE=token and RAY_AUTH_TOKEN.
    env = {k: v for k, v in head.env.items() if k != "JOEY_RAY_ADDRESS"}
    done = _submit([RAY, "job", "submit", "--address", _dashboard(head), "--working-dir", str(job_dir),
                    "--runtime-env-json", json.dumps(runtime_env), "--", "python", "deploy.py", "fraud.onnx",
                    "--pipeline", "jobbed"], env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    answer = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    assert answer["status"] == "Running"
    assert answer["url"].endswith("/infer/default/jobbed")

    x = np.random.default_rng(12).normal(size=(4, 5)).astype(np.float32)
    url = f"{head.http_base}/infer/default/jobbed"
    response = httpx.post(url, json=[{"dense_input": row} for row in x.tolist()], timeout=30)
    assert response.status_code == 200, response.text
    got = np.array([row["out"]["dense_1"] for row in response.json()], dtype=np.float32)
    np.testing.assert_allclose(got, run_onnx(model, {"dense_input": x})["dense_1"], rtol=1e-5)


def test_a_job_without_the_token_is_refused(head: RayCluster, tmp_path: Path) -> None:
    env = {k: v for k, v in head.env.items() if k not in ("JOEY_RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env["RAY_AUTH_TOKEN_PATH"] = str(tmp_path / "no-token")  # not the machine's ~/.ray/auth_token
    (tmp_path / "no-token").write_text("0" * 64)
    done = subprocess.run([RAY, "job", "submit", "--address", _dashboard(head), "--", "true"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0


def test_the_rendered_serve_config_deployed_with_serve_deploy_answers_as_the_sdk(
        head: RayCluster, client: Any, tmp_path: Path) -> None:
    """KubeRay's ``serveConfigV2`` is a Serve config: ``serve deploy`` it on another Ray (the
    dashboard's PUT /api/serve/applications/, which KubeRay uses) and it answers as the SDK's
    own deployment of the same version does."""
    import pandas as pd

    first = mlp(tmp_path / "first.onnx", n_in=5, n_out=5, output_name="hidden", seed=21)
    second = mlp(tmp_path / "second.onnx", n_in=5, n_out=1, input_name="hidden", seed=22)
    m1 = client.upload_model("first", first).configure(tensor_fields=["tensor"])
    m2 = client.upload_model("second", second).configure(tensor_fields=["hidden"])
    pipeline = client.build_pipeline("rendered").add_model_step(m1).add_model_step(m2).deploy()
    x = np.random.default_rng(23).normal(size=(6, 5)).astype(np.float32)
    records = [{"tensor": row} for row in x.tolist()]
    sdk = pipeline.infer(pd.DataFrame(records))
    manifest = pipeline.kuberay_manifest()
    pipeline.undeploy()

    config = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    # the same config; only Serve's HTTP entry moves from the pod's 0.0.0.0:8000 to this head's loopback port
    config["http_options"] = {"host": "127.0.0.1", "port": head.http_port}
    config_file = tmp_path / "serve.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in head.env.items() if k != "JOEY_RAY_ADDRESS"}
    done = subprocess.run([str(Path(sys.executable).with_name("serve")), "deploy", str(config_file),
                           "--address", _dashboard(head)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    url = f"{head.http_base}/infer/default/rendered"
    deadline = time.monotonic() + DEPLOY_WAIT_S
    while True:
        try:
            response = httpx.post(url, json=records, params={"dataset.separator": "."}, timeout=30)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1)
    assert response.status_code == 200, response.text
    got = np.array([row["out.dense_1"] for row in response.json()], dtype=np.float32)
    np.testing.assert_allclose(got, np.array(sdk["out.dense_1"].tolist(), dtype=np.float32), rtol=1e-6)
    np.testing.assert_allclose(got, run_onnx(second, {"hidden": run_onnx(first, {"dense_input": x})["hidden"]})
                               ["dense_1"], rtol=1e-5)


DEPLOY_WAIT_S = 180.0
