"""Wallaroo-101, in Wallaroo's idiom: only ``import wallaroo`` became ``import joey as wallaroo``
(and ``from wallaroo.x`` became ``from joey.x``). Runs in a folder holding ./models and ./data."""

import json

import pandas as pd
import pyarrow as pa
import requests

import joey as wallaroo
from joey.deployment_config import DeploymentConfigBuilder
from joey.dynamic_batching_config import DynamicBatchingConfig
from joey.engine_config import Acceleration, Architecture
from joey.framework import Framework
from joey.object import EntityNotFoundError
from joey.pipeline import Pipeline

print(wallaroo.__version__)
wl = wallaroo.Client()
print(wl.api_endpoint)

workspace_name = "ccfraudworkspace"
workspace = wl.get_workspace(name=workspace_name, create_if_not_exist=True)
wl.set_current_workspace(workspace)

try:
    wl.get_pipeline("no-such-pipeline")
except EntityNotFoundError as error:
    print(f"not there, as expected: {error}")

ccfraud_model = wl.upload_model(
    "ccfraudmodel", "./models/ccfraud.onnx", framework=Framework.ONNX,
    arch=Architecture.X86, accel=Acceleration._None,
).configure(tensor_fields=["tensor"],
            dynamic_batching_config=DynamicBatchingConfig(max_batch_delay_ms=5, batch_size_target=4))
assert ccfraud_model.arch() == "x86" and ccfraud_model.accel() == "none"

models = wl.list_models(workspace_id=workspace.id())
print(models)
pipelines_before = wl.list_pipelines(workspace_id=workspace.id())

pipeline = wl.build_pipeline("ccfraudpipeline")
pipeline.clear()
pipeline.add_model_step(ccfraud_model)
deploy_config = DeploymentConfigBuilder().replica_count(1).cpus(0.25).memory("1Gi").build()
pipeline = pipeline.deploy(deployment_config=deploy_config)
assert isinstance(pipeline, Pipeline)

status = pipeline.status()
print(status["status"], [engine["name"] for engine in status["engines"]])

result = pipeline.infer_from_file("./data/smoke_test.df.json")
print(result.loc[0, "out.dense_1"])

headers = wl.auth.auth_header()
headers["Content-Type"] = "application/vnd.apache.arrow.file"
headers["Accept"] = "application/vnd.apache.arrow.file"
with open("./data/cc_data_1k.arrow", "rb") as file:
    response = requests.post(pipeline.url(), headers=headers, data=file.read(), timeout=30)
response.raise_for_status()
with pa.ipc.open_file(response.content) as reader:
    arrow_table = reader.read_all()
print(arrow_table.to_pandas().loc[:, ["time", "out"]].head())

headers = wl.auth.auth_header()
headers["Content-Type"] = "application/json; format=pandas-records"
smoke = pd.read_json("./data/smoke_test.df.json", orient="records")
response = requests.post(pipeline.url(), headers=headers, data=smoke.to_json(orient="records"), timeout=30)
response.raise_for_status()
print(json.loads(response.content)[0]["out"])

pipeline.undeploy()
# What the test reads back
RESULTS = {
    "workspace_id": workspace.id(),
    "status": status,
    "sdk_result": result,
    "http_arrow": arrow_table,
    "http_json": json.loads(response.content),
    "models": models,
    "pipelines_before": pipelines_before,
    "pipelines_after": wl.list_pipelines(),
    "status_after": pipeline.status()["status"],
}
