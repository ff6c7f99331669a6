"""The peer: what a user would write instead of joey, by hand, in a few lines of Ray Serve.

One deployment holding an onnxruntime session; an Arrow IPC file in and out over HTTP
(``POST /``), and a plain ``infer(table) -> table`` method for handle calls. No validation,
no result envelope (no ``time``/``in.*``/``anomaly``), no multi-step chaining: the floor a
serving layer on Ray Serve can reach with the same transport.

No ``from __future__ import annotations`` here: FastAPI reads the route signatures.
"""

from typing import cast

import numpy as np
import onnxruntime as ort
import pyarrow as pa
from fastapi import FastAPI, Request, Response
from ray import serve
from ray.serve.deployment import Deployment

ARROW_FILE = "application/vnd.apache.arrow.file"

http_app = FastAPI()


class PeerModel:
    """The peer's whole per-request work: an onnxruntime session, Arrow in and out."""

    def __init__(self, model_path: str, input_name: str, column: str) -> None:
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(model_path, providers=providers)
        self.input_name = input_name
        self.column = column
        self.outputs = [o.name for o in self.session.get_outputs()]

    def infer(self, table: pa.Table) -> pa.Table:
        column = table.column(self.column).combine_chunks()
        x = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), -1)
        results = self.session.run(None, {self.input_name: x.astype(np.float32, copy=False)})
        return pa.table({
            name: pa.FixedSizeListArray.from_arrays(r.reshape(-1), r.shape[1])
            for name, r in zip(self.outputs, results, strict=True)
        })

    def answer(self, body: bytes) -> bytes:
        """An Arrow IPC file in, the outputs as an Arrow IPC file out."""
        result = self.infer(pa.ipc.open_file(pa.py_buffer(body)).read_all())
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, result.schema) as writer:
            writer.write_table(result)
        return bytes(sink.getvalue().to_pybytes())


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
@serve.ingress(http_app)
class OnnxPeer:
    def __init__(self, model_path: str, input_name: str, column: str) -> None:
        self.model = PeerModel(model_path, input_name, column)

    def infer(self, table: pa.Table) -> pa.Table:
        return self.model.infer(table)

    @http_app.post("/")
    async def http_infer(self, request: Request) -> Response:
        return Response(self.model.answer(await request.body()), media_type=ARROW_FILE)


def deploy_peer(model_name: str, model_path: str, input_name: str, column: str,
                max_ongoing_requests: int | None = None) -> str:
    """Run ``peer-{model_name}`` at ``/peer/{model_name}``; returns the application name.

    ``max_ongoing_requests`` overrides Serve's default (5) for the "tuned" variant, deployed
    as ``peer-{model_name}-tuned`` at ``/peer/{model_name}-tuned``.
    """
    deployment = cast(Deployment, OnnxPeer)
    if max_ongoing_requests is not None:
        model_name = f"{model_name}-tuned"
        deployment = deployment.options(max_ongoing_requests=max_ongoing_requests)
    name = f"peer-{model_name}"
    serve.run(deployment.bind(model_path, input_name, column), name=name,
              route_prefix=f"/peer/{model_name}")
    return name
