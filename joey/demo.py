"""``make demo``: the main job end to end on the embedded default.

Builds a small fraud-style ONNX model (no download), uploads it, deploys a two-step
pipeline, infers a DataFrame and an Arrow table through the SDK and the same data
over HTTP, prints the results and the URL, and undeploys.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    import httpx

    import joey
    from joey.tables import ARROW_FILE, JSON_RECORDS, read_body, write_body
    from joey.testing.onnx_models import mlp

    pd.set_option("display.width", 160)
    pd.set_option("display.max_colwidth", 40)
    pd.set_option("display.max_columns", 12)
    client = joey.Client()
    workspace = client.get_workspace("demo", create_if_not_exist=True)
    client.set_current_workspace(workspace)
    with tempfile.TemporaryDirectory() as scratch:
        fraud_file = mlp(Path(scratch) / "ccfraud.onnx", n_in=29, hidden=16, n_out=1, seed=7)
        calib_file = mlp(Path(scratch) / "calibrate.onnx", n_in=1, hidden=4, n_out=1, seed=8,
                         input_name="score", output_name="fraud_probability")
        fraud = client.upload_model("ccfraud", fraud_file).configure(tensor_fields=["tensor"])
        calibrate = client.upload_model("calibrate", calib_file).configure(tensor_fields=["dense_1"])
    print("uploaded:", fraud)
    pipeline = client.build_pipeline("fraud-demo").clear().add_model_step(fraud).add_model_step(calibrate)
    pipeline.deploy()
    try:
        rows = np.random.default_rng(0).normal(size=(5, 29)).astype(np.float32)
        frame = pd.DataFrame({"tensor": [r.tolist() for r in rows]})
        print("\nSDK, DataFrame in -> DataFrame out:")
        print(pipeline.infer(frame))
        table = pa.table({"tensor": pa.FixedSizeListArray.from_arrays(pa.array(rows.reshape(-1)), 29)})
        print("\nSDK, Arrow table in -> Arrow table out:")
        print(pipeline.infer(table).to_pandas())
        print(f"\nHTTP: POST {pipeline.url()}")
        body, _ = write_body(table, "arrow")
        answer = httpx.post(pipeline.url(), content=body, params={"dataset.separator": "."},
                            headers={"Content-Type": ARROW_FILE, "Accept": ARROW_FILE}, timeout=30)
        answer.raise_for_status()
        print("Arrow IPC answer, flat:")
        print(read_body(answer.content, "arrow").to_pandas())
        answer = httpx.post(pipeline.url(), content=frame.head(1).to_json(orient="records"),
                            headers={"Content-Type": JSON_RECORDS}, timeout=30)
        answer.raise_for_status()
        print("JSON answer, nested (metadata included):")
        print(answer.text)
        print("\nstatus:", pipeline.status()["status"])
    finally:
        pipeline.undeploy()
        print("undeployed; status:", pipeline.status()["status"])


if __name__ == "__main__":
    main()
