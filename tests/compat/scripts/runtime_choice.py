"""Wallaroo's TensorFlow tutorials: upload a SavedModel zip with a positional framework and
ask for the TensorFlow runtime (``.configure("tensorflow")``). Runs in a folder holding ./models."""

import pyarrow as pa

import joey as wallaroo
from joey.framework import Framework

wl = wallaroo.Client()
wl.set_current_workspace(wl.get_workspace("tf-workspace", create_if_not_exist=True))

model = wl.upload_model("aloha-like", "./models/savedmodel.zip", Framework.TENSORFLOW).configure("tensorflow")
print(model.config().runtime())

pipeline = wl.build_pipeline("tf-pipeline").add_model_step(model).deploy()
table = pa.ipc.open_file("./data/inputs.arrow").read_all()
result = pipeline.infer(table)
pipeline.undeploy()
RESULTS = {"model": model, "result": result, "pipeline": pipeline}
