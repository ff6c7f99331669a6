"""Pipeline composition, free of Ray: validate, run the steps, assemble the result.

Steps are chains, random splits (per request, or per row by a stable hash of a key
column), key splits (per row by a column's value) and shadow deploys (champion and
challengers at once). Every model is called through anything with
``.predict.remote(data)`` returning an awaitable, so unit tests drive the runner with
fake handles and the ingress with Serve's ``DeploymentHandle``s.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
import pyarrow as pa

from joey.deployments import routing
from joey.deployments.validations import Validator
from joey.errors import InvalidInputError
from joey.runtimes.schema import field_from_arrow
from joey.spec import DeploymentSpec, ModelSpec, ShadowStep, Step
from joey.tables import (
    DatasetFilter,
    InferenceData,
    Metadata,
    assemble,
    table_to_tensors,
    tensors_to_columns,
)
from joey.tables.results import EVERYTHING, input_columns, select
from joey.tables.tensors import column_to_tensor, null_column

SPLIT_COLUMN = "_model_split"


class _Method(Protocol):
    def remote(self, data: InferenceData) -> Awaitable[InferenceData]: ...


class Observer(Protocol):
    """Who hears of each step and each answer (the ingress's metrics)."""

    def step(self, name: str, rows: int, seconds: float) -> None: ...

    def step_failed(self, name: str) -> None: ...

    def answered(self, rows: int, seconds: float, anomalies: int) -> None: ...


class StepHandle(Protocol):
    """What the runner needs of a model: ``await handle.predict.remote(data)``."""

    @property
    def predict(self) -> _Method: ...


def _last_model(model: ModelSpec) -> str:
    return orjson.dumps({"model_name": model.name, "model_sha": model.sha}).decode()


def _model_split(model: ModelSpec) -> str:
    """The JSON string ``out._model_split`` names a model with (Wallaroo's shape, abridged)."""
    return orjson.dumps({
        "model_version": {"name": model.name, "version": model.version, "sha": model.sha,
                          "file_info": {"version": model.version, "sha": model.sha,
                                        "file_name": model.file_name},
                          "conversion": {"framework": model.framework}},
        "config": {"runtime": model.runtime,
                   "tensor_fields": list(model.tensor_fields) if model.tensor_fields else None},
    }).decode()


def _null_columns(model: ModelSpec, rows: int) -> dict[str, pa.Array]:
    """A dropped challenger's columns: all null, typed as its answer would be."""
    return {output.name: null_column(output, rows) for output in model.outputs}


async def _awaited(response: Awaitable[InferenceData]) -> InferenceData:
    return await response


@dataclass
class _Trace:
    """What one request met on its way: who answered each row, which challengers said what."""

    split: tuple[int, np.ndarray | int] | None = None
    """(step index, branch per row or for the whole request) of the last split."""
    last_branch: np.ndarray | int = 0
    shadows: dict[str, dict[str, pa.Array]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


class PipelineRunner:
    """Runs one request through the spec's steps and builds the flat result table."""

    def __init__(
        self,
        spec: DeploymentSpec,
        steps: Sequence[Any],
        partition: str,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        rng: random.Random | None = None,
        log: Callable[[pa.Table], Awaitable[None]] | None = None,
        observer: Observer | None = None,
    ) -> None:
        """``steps``: one handle per model of the spec (``spec.branches``), in order;
        ``log``: awaited with every full answer before it is returned (the inference log)."""
        if len(steps) != len(spec.branches):
            raise ValueError(f"spec has {len(spec.branches)} models but {len(steps)} handles were given")
        self._spec = spec
        self._handles: list[Sequence[StepHandle]] = []
        start = 0
        for step in spec.steps:
            self._handles.append(steps[start:start + len(step.branches)])
            start += len(step.branches)
        self._partition = partition
        self._clock_ns = clock_ns
        self._wall_ms = wall_ms
        self._rng = rng or random.Random()
        self._log = log
        self._observer = observer
        self._step_names = [f"{i}-{s.branches[0].model.name}" if s.kind == "model" else f"{i}-{s.kind}"
                            for i, s in enumerate(spec.steps)]
        self._grace_s = spec.shadow_grace_ms / 1000.0
        self._validator = Validator(spec.validations)
        last = spec.steps[-1]
        self._output_fields = last.branches[0].model.outputs
        self._extra_columns = spec.steps[0].branches[0].model.extra_columns
        self._last_models = [pa.array([_last_model(b.model) for b in step.branches]) for step in spec.steps]
        self._splits = [pa.array([_model_split(b.model) for b in step.branches]) for step in spec.steps]

    def _with_extra_columns(self, table: pa.Table, data: InferenceData) -> InferenceData:
        """Request columns the first model does not declare: refused by name, or passed on
        one value per row in the column's own type."""
        extra = [name for name in table.column_names if name not in data]
        if not extra:
            return data
        if self._extra_columns == "refuse":
            takes = ", ".join(f.name for f in self._spec.input_fields)
            raise InvalidInputError(extra[0], f"only the columns the model takes ({takes})", "an extra column")
        passed = dict(data)
        for name in extra:
            field = field_from_arrow(table.schema.field(name), per_row=True)
            passed[name] = column_to_tensor(table.column(name), field)
        return passed

    async def run(self, table: pa.Table, wanted: DatasetFilter) -> pa.Table:
        """The flat (``.``-separated) result for ``table``, filtered by ``wanted``."""
        arrived = self._wall_ms()
        started = self._clock_ns()
        data = table_to_tensors(table, self._spec.input_fields)
        if self._extra_columns != "ignore":
            data = self._with_extra_columns(table, data)
        elapsed = [self._clock_ns() - started]
        trace = _Trace()
        rows = table.num_rows
        for index, (step, handles) in enumerate(zip(self._spec.steps, self._handles, strict=True)):
            step_started = self._clock_ns()
            try:
                data = await self._step(index, step, handles, table, data, trace)
            except BaseException:
                if self._observer is not None:
                    self._observer.step_failed(self._step_names[index])
                raise
            elapsed.append(self._clock_ns() - step_started)
            if self._observer is not None:
                self._observer.step(self._step_names[index], rows, elapsed[-1] / 1e9)
        outputs = tensors_to_columns(data, self._output_fields)
        if trace.split is not None:
            outputs = {SPLIT_COLUMN: self._split_column(*trace.split, rows), **outputs}
        anomalies = self._validate(table, outputs, trace) if self._validator else {}
        metadata = Metadata(
            last_model=self._per_row(self._last_models[-1], trace.last_branch),
            pipeline_version=self._spec.pipeline_version,
            elapsed_ns=elapsed,
            dropped=tuple(trace.dropped),
            partition=self._partition,
        )
        if self._log is None:
            result = assemble(arrived, table, outputs, anomalies, metadata, wanted, trace.shadows)
        else:
            full = assemble(arrived, table, outputs, anomalies, metadata, EVERYTHING, trace.shadows)
            await self._log(full)
            result = select(full, wanted)
        if self._observer is not None:
            flags = [a.to_numpy(zero_copy_only=False) for a in anomalies.values()]
            flagged = int(np.count_nonzero(np.logical_or.reduce(flags))) if flags else 0
            self._observer.answered(rows, (self._clock_ns() - started) / 1e9, flagged)
        return result

    async def _step(self, index: int, step: Step, handles: Sequence[StepHandle], table: pa.Table,
                    data: InferenceData, trace: _Trace) -> InferenceData:
        if step.kind == "model":
            trace.last_branch = 0
            return await handles[0].predict.remote(data)
        if step.kind == "shadow":
            trace.last_branch = 0
            return await self._shadow(step, handles, data, table.num_rows, trace)
        if step.kind == "random_split" and step.hash_key is None:
            chosen: np.ndarray | int = routing.draw_branch(step.weights, self._rng)
        elif step.kind == "random_split":
            chosen = routing.hash_branches(self._key(table, step.hash_key), step.weights)
        else:
            chosen = routing.key_branches(self._key(table, step.meta_key), step.routes)
        trace.split = (index, chosen)
        trace.last_branch = chosen
        if isinstance(chosen, int):
            return await handles[chosen].predict.remote(data)
        return await self._partitioned(handles, data, chosen)

    @staticmethod
    def _key(table: pa.Table, name: str | None) -> pa.ChunkedArray:
        """The request column that routes each row of a split (a 400 when it is missing)."""
        if name is None or name not in table.column_names:
            raise InvalidInputError(name, "a column that routes each row of the split", "no such column")
        return table.column(name)

    @staticmethod
    async def _partitioned(handles: Sequence[StepHandle], data: InferenceData,
                           chosen: np.ndarray) -> InferenceData:
        """Each branch gets its rows concurrently; answers go back in the request's order."""
        rows = len(chosen)
        parts = [(b, rows_of) for b, rows_of in enumerate(routing.partition(chosen, len(handles)))
                 if len(rows_of)]
        answers = await asyncio.gather(*(
            _awaited(handles[b].predict.remote(routing.take_rows(data, rows_of))) for b, rows_of in parts
        ))
        return routing.merge_rows([(rows_of, answer) for (_, rows_of), answer in
                                   zip(parts, answers, strict=True)], rows)

    async def _shadow(self, step: ShadowStep, handles: Sequence[StepHandle], data: InferenceData,
                      rows: int, trace: _Trace) -> InferenceData:
        """Champion and challengers at once; a challenger that fails or is later than the
        grace after the champion is dropped (null columns, named in ``metadata.dropped``)."""
        champion = asyncio.ensure_future(_awaited(handles[0].predict.remote(data)))
        challengers = [asyncio.ensure_future(_awaited(h.predict.remote(data))) for h in handles[1:]]
        try:
            result = await champion
        except BaseException:
            for task in challengers:
                task.cancel()
            raise
        if challengers:
            await asyncio.wait(challengers, timeout=self._grace_s)
        for branch, task in zip(step.branches[1:], challengers, strict=True):
            model = branch.model
            if task.done() and not task.cancelled() and task.exception() is None:
                trace.shadows[model.name] = tensors_to_columns(task.result(), model.outputs)
            else:
                task.cancel()
                trace.dropped.append(model.name)
                trace.shadows[model.name] = _null_columns(model, rows)
        return result

    def _split_column(self, index: int, chosen: np.ndarray | int, rows: int) -> pa.Array:
        """``out._model_split``: per row, a list of one JSON string naming its model."""
        branch = np.full(rows, chosen, dtype=np.int64) if isinstance(chosen, int) else chosen
        names = self._splits[index].take(pa.array(branch))
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, names)

    @staticmethod
    def _per_row(values: pa.Array, chosen: np.ndarray | int) -> pa.Array | str:
        """One value for the request, or one per row."""
        if isinstance(chosen, int):
            return str(values[chosen].as_py())
        return values.take(pa.array(chosen))

    def _validate(self, table: pa.Table, outputs: dict[str, pa.Array], trace: _Trace) -> dict[str, pa.Array]:
        columns: dict[str, pa.Array | pa.ChunkedArray] = dict(input_columns(table))
        columns.update({f"out.{name}": column for name, column in outputs.items()})
        for challenger, answer in trace.shadows.items():
            columns.update({f"out_{challenger}.{name}": column for name, column in answer.items()})
        return self._validator.evaluate(columns)
