"""Placement and autoscaling on a real Ray cluster of three nodes on this machine, and one
cluster shared by several joey processes (issue 13, items 1 and 2).

The nodes: a head without GPUs, a worker with one logical GPU, a worker labelled
``joey-zone=edge``. Each scenario is a joey driver in a fresh process that joins the cluster
(``JOEY_RAY_ADDRESS``) with a JOEY_HOME the drivers share, as a team's processes would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from ray_cluster import RayCluster, ray_cluster

from joey.testing.onnx_models import mlp, run_onnx

pytestmark = pytest.mark.ray

# What every driver starts with: join, and a way to see where each replica of an app runs.
PRELUDE = """
import json, time
import numpy as np, pyarrow as pa
import joey
from joey import Client, DeploymentConfigBuilder
from joey.errors import DeploymentError
wl = Client()

def replicas(app):
    from ray.serve.context import _get_global_client
    details = _get_global_client().get_serve_details()["applications"].get(app, {})
    return {name: [r["node_id"] for r in d["replicas"] if r["state"] == "RUNNING"]
            for name, d in details.get("deployments", {}).items()}

def fixed(x):
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])

def report(**values):
    print("REPORT " + json.dumps(values), flush=True)
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    home = tmp_path_factory.mktemp("multi-node")
    with ray_cluster(home, head={"num_cpus": 2, "num_gpus": 0},
                     workers={"gpu": {"num_cpus": 2, "num_gpus": 1},
                              "edge": {"num_cpus": 2, "labels": {"joey-zone": "edge"}}}) as running:
        yield running


@pytest.fixture(scope="module")
def models(cluster: RayCluster) -> dict[str, str]:
    """Two small ONNX models uploaded once to the shared store: 4 -> 4 -> 1."""
    folder = cluster.home / "models"
    folder.mkdir()
    first = mlp(folder / "first.onnx", n_in=4, n_out=4, output_name="hidden", seed=1)
    second = mlp(folder / "second.onnx", n_in=4, n_out=1, input_name="hidden", output_name="score", seed=2)
    cluster.driver(PRELUDE + f"""
wl.upload_model("first", {str(first)!r}, framework=joey.Framework.ONNX).configure(tensor_fields=["x"])
wl.upload_model("second", {str(second)!r}, framework=joey.Framework.ONNX).configure(tensor_fields=["hidden"])
report(ok=True)
""")
    return {"first": str(first), "second": str(second)}


def _expected(models: dict[str, str], x: np.ndarray) -> np.ndarray:
    hidden = run_onnx(Path(models["first"]), {"dense_input": x})["hidden"]
    return np.asarray(run_onnx(Path(models["second"]), {"hidden": hidden})["score"])


X = np.random.default_rng(7).normal(size=(6, 4)).astype(np.float32)

DEPLOY_CHAIN = """
config = {config}
x = np.array({x}, dtype=np.float32)
first, second = wl.get_model("first"), wl.get_model("second")
pipeline = wl.build_pipeline({name!r}).add_model_step(first).add_model_step(second)
pipeline.deploy(deployment_config=config)
answer = pipeline.infer(pa.table({{"x": fixed(x)}}))
score = answer.column("out.score").combine_chunks().flatten().to_numpy().tolist()
where = replicas(pipeline.app_name())
"""


def test_half_gpu_steps_land_on_the_gpu_node_and_share_its_gpu(cluster: RayCluster, models: dict[str, str]) -> None:
    got = cluster.driver(PRELUDE + DEPLOY_CHAIN.format(
        name="gpu", x=X.tolist(), config="DeploymentConfigBuilder().gpus(0.5).fuse_steps(False).build()") + """
resources = {n: d["deployment_config"]["ray_actor_options"].get("num_gpus")
             for n, d in __import__("ray.serve.context", fromlist=["x"])._get_global_client()
             .get_serve_details()["applications"][pipeline.app_name()]["deployments"].items()}
pipeline.undeploy()
report(where=where, score=score, gpus=resources)
""")
    steps = {name: nodes for name, nodes in got["where"].items() if name != "ingress"}
    assert len(steps) == 2, got
    gpu_node = cluster.nodes["gpu"]
    # both half-GPU steps run on the one node that has a GPU: they share its one GPU
    assert all(nodes == [gpu_node] for nodes in steps.values()), (got, cluster.nodes)
    assert {got["gpus"][name] for name in steps} == {0.5}
    assert not got["gpus"]["ingress"]
    np.testing.assert_allclose(np.array(got["score"]).reshape(-1, 1), _expected(models, X), rtol=1e-5)


def test_a_labelled_step_lands_only_on_the_labelled_node(cluster: RayCluster, models: dict[str, str]) -> None:
    got = cluster.driver(PRELUDE + DEPLOY_CHAIN.format(
        name="edge", x=X.tolist(),
        config='DeploymentConfigBuilder().replica_count(3).deployment_label("joey-zone:edge").build()') + """
status = pipeline.status()
pipeline.undeploy()
report(where=where, score=score, status_nodes=[e["node_id"] for e in status["engine_lbs"]])
""")
    placed = [node for nodes in got["where"].values() for node in nodes]
    assert len(placed) == 3, got
    assert set(placed) == {cluster.nodes["edge"]}, (got, cluster.nodes)
    # pipeline.status() says where each replica runs
    assert got["status_nodes"] == [cluster.nodes["edge"]] * 3
    np.testing.assert_allclose(np.array(got["score"]).reshape(-1, 1), _expected(models, X), rtol=1e-5)


UNPLACEABLE = PRELUDE + """
first = wl.get_model("first")
found = {}
for name, config in [
        ("cpus", DeploymentConfigBuilder().cpus(64).build()),
        ("gpus", DeploymentConfigBuilder().gpus(2).build()),
        ("label", DeploymentConfigBuilder().deployment_label("joey-zone:nowhere").build()),
        ("memory", DeploymentConfigBuilder().memory("4Ti").build())]:
    pipeline = wl.build_pipeline("never-" + name).add_model_step(first)
    started = time.monotonic()
    try:
        pipeline.deploy(deployment_config=config)
        found[name] = {"error": None}
    except DeploymentError as exc:
        found[name] = {"error": str(exc), "seconds": time.monotonic() - started}
    from ray import serve
    found[name]["apps"] = sorted(serve.status().applications)
report(**found)
"""


@pytest.mark.usefixtures("models")
def test_a_step_no_node_can_hold_fails_the_deploy_at_once_naming_what_it_asks(
        cluster: RayCluster) -> None:
    got = cluster.driver(UNPLACEABLE)
    for case, wanted in (("cpus", "CPU=64"), ("gpus", "GPU=2"), ("label", "joey-zone': 'nowhere"),
                         ("memory", "memory=")):
        outcome = got[case]
        assert outcome["error"] is not None, (case, got)
        assert wanted in outcome["error"], (case, outcome["error"])
        assert "no node of the Ray cluster has that" in outcome["error"]
        # instead of waiting the deploy timeout (120 s) for replicas that never start
        assert outcome["seconds"] < 20, (case, outcome)
        assert f"default-never-{case}" not in outcome["apps"]


AUTOSCALED = PRELUDE + """
import threading, httpx
step = wl.get_model("sleeper")
config = (DeploymentConfigBuilder().replica_autoscale_min_max(maximum=3, minimum=1)
          .scale_up_queue_depth(1).autoscale_delays(upscale_s=1, downscale_s=4).build())
pipeline = wl.build_pipeline("scaled").add_model_step(step).deploy(deployment_config=config)
url = pipeline.url()
body = [{"x": [0.5, 0.5, 0.5, 0.5]}]
counts, stop = [], threading.Event()

def load():
    with httpx.Client(timeout=30) as http:
        while not stop.is_set():
            http.post(url, json=body).raise_for_status()

def replica_count():
    return sum(len(nodes) for nodes in replicas(pipeline.app_name()).values())

clients = [threading.Thread(target=load) for _ in range(8)]
for c in clients:
    c.start()
deadline = time.monotonic() + 60
while time.monotonic() < deadline and replica_count() < 2:
    time.sleep(0.5)
peak = replica_count()
stop.set()
for c in clients:
    c.join()
deadline = time.monotonic() + 90
while time.monotonic() < deadline and replica_count() > 1:
    time.sleep(0.5)
after = replica_count()
pipeline.undeploy()
report(peak=peak, after=after)
"""

SLEEPER = '''
import time
import numpy as np

def process_data(input_data):
    time.sleep(0.2)
    return {"y": np.asarray(input_data["x"], dtype=np.float32)}
'''


def test_an_autoscaled_step_grows_under_load_and_shrinks_after(cluster: RayCluster) -> None:
    import zipfile

    path = cluster.home / "sleeper.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("step.py", SLEEPER)
    got = cluster.driver(PRELUDE + f"""
wl.upload_model("sleeper", {str(path)!r}, framework=joey.Framework.PYTHON,
                input_schema=pa.schema([pa.field("x", pa.list_(pa.float32(), 4))]),
                output_schema=pa.schema([pa.field("y", pa.list_(pa.float32(), 4))]))
""" + AUTOSCALED.removeprefix(PRELUDE), timeout_s=300)
    assert got["peak"] >= 2, got
    assert got["after"] == 1, got


SEES = """
names = [p.name() for p in wl.list_pipelines()]
pipeline = wl.get_pipeline("shared")
status = pipeline.status()["status"]
x = np.array({x}, dtype=np.float32)
score = pipeline.infer(pa.table({{"x": fixed(x)}})).column("out.score").combine_chunks().flatten().to_numpy().tolist()
pipeline.undeploy()
from ray import serve
report(names=names, status=status, score=score, apps=sorted(serve.status().applications))
"""


def test_a_pipeline_deployed_from_one_process_is_seen_inferred_and_undeployed_from_another(
        cluster: RayCluster, models: dict[str, str]) -> None:
    deployed = cluster.driver(PRELUDE + DEPLOY_CHAIN.format(name="shared", x=X.tolist(), config="None") + """
report(app=pipeline.app_name(), url=pipeline.url())
""")
    # the deploying process has exited; the pipeline runs on in the cluster
    import httpx

    answer = httpx.post(deployed["url"], json=[{"x": row} for row in X.tolist()], timeout=30)
    assert answer.status_code == 200, answer.text
    got = cluster.driver(PRELUDE + SEES.format(x=X.tolist()))
    assert "shared" in got["names"]
    assert got["status"] == "Running"
    np.testing.assert_allclose(np.array(got["score"]).reshape(-1, 1), _expected(models, X), rtol=1e-5)
    assert deployed["app"] not in got["apps"]
    third = cluster.driver(PRELUDE + 'report(status=wl.get_pipeline("shared").status()["status"])')
    assert third["status"] != "Running"


TO_ZERO = """
import httpx
config = (DeploymentConfigBuilder().replica_autoscale_min_max(maximum=2, minimum=0)
          .autoscale_delays(upscale_s=0, downscale_s=2).build())
x = np.array({x}, dtype=np.float32)
pipeline = wl.build_pipeline("to-zero").add_model_step(wl.get_model("first")).add_model_step(wl.get_model("second"))
pipeline.deploy(deployment_config=config)
def replica_count():
    return sum(len(nodes) for nodes in replicas(pipeline.app_name()).values())
deadline = time.monotonic() + 90
while time.monotonic() < deadline and replica_count() > 0:
    time.sleep(0.5)
idle = replica_count()
answer = httpx.post(pipeline.url(), json=[{{"x": row}} for row in x.tolist()], params={{"dataset.separator": "."}},
                    timeout=120)
woken = replica_count()
pipeline.undeploy()
report(idle=idle, woken=woken, code=answer.status_code, score=[r["out.score"] for r in answer.json()])
"""


def test_a_pipeline_scaled_to_zero_wakes_on_a_request(cluster: RayCluster, models: dict[str, str]) -> None:
    got = cluster.driver(PRELUDE + TO_ZERO.format(x=X.tolist()), timeout_s=300)
    assert got["idle"] == 0, got
    assert got["code"] == 200, got
    assert got["woken"] >= 1
    np.testing.assert_allclose(np.array(got["score"]).reshape(-1, 1), _expected(models, X), rtol=1e-5)
