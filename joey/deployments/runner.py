"""Pipeline composition, free of Ray: validate, chain the steps, assemble the result.

``PipelineRunner`` takes anything with ``.predict.remote(data)`` returning an
awaitable, so unit tests drive it with fake handles and the ingress with Serve's
``DeploymentHandle``s.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson
import pyarrow as pa

from joey.spec import DeploymentSpec
from joey.tables import (
    DatasetFilter,
    InferenceData,
    Metadata,
    assemble,
    table_to_tensors,
    tensors_to_columns,
)


class _Method(Protocol):
    def remote(self, data: InferenceData) -> Awaitable[InferenceData]: ...


class StepHandle(Protocol):
    """What the runner needs of a step: ``await handle.predict.remote(data)``."""

    @property
    def predict(self) -> _Method: ...


class PipelineRunner:
    """Runs one request through the spec's steps and builds the flat result table."""

    def __init__(
        self,
        spec: DeploymentSpec,
        steps: Sequence[Any],
        partition: str,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        if len(steps) != len(spec.steps):
            raise ValueError(f"spec has {len(spec.steps)} steps but {len(steps)} handles were given")
        self._spec = spec
        self._steps: Sequence[StepHandle] = steps
        self._partition = partition
        self._clock_ns = clock_ns
        self._wall_ms = wall_ms
        last = spec.steps[-1].model
        self._output_names = [f.name for f in last.outputs]
        self._last_model = orjson.dumps({"model_name": last.name, "model_sha": last.sha}).decode()

    async def run(self, table: pa.Table, wanted: DatasetFilter) -> pa.Table:
        """The flat (``.``-separated) result for ``table``, filtered by ``wanted``."""
        arrived = self._wall_ms()
        started = self._clock_ns()
        data = table_to_tensors(table, self._spec.input_fields)
        elapsed = [self._clock_ns() - started]
        for step in self._steps:
            step_started = self._clock_ns()
            data = await step.predict.remote(data)
            elapsed.append(self._clock_ns() - step_started)
        outputs = tensors_to_columns(data, self._output_names)
        metadata = Metadata(
            last_model=self._last_model,
            pipeline_version=self._spec.pipeline_version,
            elapsed_ns=elapsed,
            dropped=(),
            partition=self._partition,
        )
        return assemble(arrived, table, outputs, {}, metadata, wanted)
