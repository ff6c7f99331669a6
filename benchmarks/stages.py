"""Where one request's time goes, piece by piece: joey's own work, and one Serve hop.

``joey_stages`` times, in this process, each function joey's ingress and step call for one
HTTP Arrow request (the same functions, not copies), next to the peer's whole handler
(``PeerModel.answer``). ``hop_cost`` times one ``DeploymentHandle`` round trip to a deployment
that does nothing, the price of each extra deployment a request passes through. Both at 1 and
10,000 rows, medians.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from benchmarks import paths as P
from benchmarks.models import BenchModel

REPEATS = 200
HOP_REPEATS = 30
ROWS = (1, 10_000)


def _median_us(call: Callable[[], Any], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return round(float(np.median(times)) * 1e6, 1)


def joey_stages(model: BenchModel, rows: int, repeats: int = REPEATS) -> dict[str, Any]:
    """Microseconds per stage of one request, joey (``dataset.exclude[]=metadata``) and peer."""
    from joey.runtimes import runtime_class
    from joey.spec import TensorField
    from joey.tables import (
        DatasetFilter,
        assemble,
        read_body,
        shape,
        table_to_tensors,
        tensors_to_columns,
        write_body,
    )
    from joey.tables.results import Metadata

    body = P.arrow_file_bytes(model.table(rows, seed=3))
    field = TensorField(name=model.column, dtype="float32", shape=(model.width,))
    cls = runtime_class("onnx")
    runtime = cls()
    runtime.load(Path(model.path), cls.parse_config(None))
    wanted = DatasetFilter(exclude=("metadata",))
    metadata = Metadata("{}", "v", [0, 0], (), "p")
    output = model.outputs[0]

    table = read_body(body, "arrow")
    data = table_to_tensors(table, [field])
    feed = {model.input_name: data[model.column]}
    result = runtime.predict(feed)
    columns = tensors_to_columns(result, [output])
    flat = assemble(0, table, columns, {}, metadata, wanted)
    stages = {
        "read Arrow body": _median_us(lambda: read_body(body, "arrow"), repeats),
        "validate + to numpy": _median_us(lambda: table_to_tensors(table, [field]), repeats),
        "model (onnxruntime)": _median_us(lambda: runtime.predict(feed), repeats),
        "outputs to Arrow": _median_us(lambda: tensors_to_columns(result, [output]), repeats),
        "result envelope": _median_us(
            lambda: assemble(0, table, columns, {}, metadata, wanted), repeats),
        "write Arrow body": _median_us(lambda: write_body(shape(flat, "."), "arrow"), repeats),
    }
    runtime.close()

    from benchmarks.peer import PeerModel

    peer = PeerModel(str(model.path), model.input_name, model.column)
    joey_total = round(sum(stages.values()), 1)
    return {"rows": rows, "stages_us": stages, "joey_total_us": joey_total,
            "peer_handler_us": _median_us(lambda: peer.answer(body), repeats),
            "answer_bytes": {"joey": len(write_body(flat, "arrow")[0]),
                             "peer": len(peer.answer(body))}}


def hop_cost(model: BenchModel, repeats: int = HOP_REPEATS) -> list[dict[str, Any]]:
    """One handle round trip to a do-nothing deployment, from this process (Serve running)."""
    from ray import serve
    from ray.serve.deployment import Deployment

    @serve.deployment(ray_actor_options={"num_cpus": 0.1}, max_ongoing_requests=64)
    class Hop:
        async def predict(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            first = next(iter(data.values()))
            return {"out": first[:, :1].copy()}

    handle = serve.run(cast(Deployment, Hop).bind(), name="bench-hop", route_prefix=None)
    try:
        found = []
        for rows in ROWS:
            data = {model.column: model.rows(rows, seed=4)}

            def call(data: dict[str, np.ndarray] = data) -> Any:
                return handle.predict.remote(data).result(timeout_s=30)

            micros = _median_us(call, repeats)
            found.append({"rows": rows, "round_trip_us": micros,
                          "request_bytes": int(data[model.column].nbytes)})
        return found
    finally:
        serve.delete("bench-hop")
