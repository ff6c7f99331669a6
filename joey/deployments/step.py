"""One model step as a Serve deployment: load the runtime once, answer tensor batches."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from joey.artifacts import fetch_artifact, node_cache_dir
from joey.deployments.loopback import keep_replica_grpc_on_loopback
from joey.errors import JoeyError, ModelError
from joey.runtimes import runtime_for
from joey.spec import DeploymentSpec, ModelSpec, ModelStep
from joey.tables import InferenceData

logger = logging.getLogger(__name__)


INLINE_BYTES = 64 * 2**10
"""Inputs up to this size run on the ingress's event loop (see ``predict_off_loop``)."""


def _nbytes(data: InferenceData) -> int:
    """The size of a batch's arrays (what decides how it travels and where it runs)."""
    return sum(getattr(value, "nbytes", 0) for value in data.values())


class StepDeployment:
    """Runs one model version; input keys are the caller's names (``tensor_fields``)."""

    def __init__(self, model_json: str, cache_dir: str | None, max_batch_size: int | None = None,
                 batch_wait_timeout_s: float = 0.0) -> None:
        keep_replica_grpc_on_loopback()
        self._model = ModelSpec.model_validate_json(model_json)
        self._batching = bool(max_batch_size and max_batch_size > 1)
        if self._batching:
            self._predict_batch.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
            self._predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        artifact = fetch_artifact(self._model.artifact_uri, Path(cache_dir) if cache_dir else node_cache_dir())
        cls = runtime_for(self._model.runtime, self._model.framework)
        self._runtime = cls()
        self._runtime.load(artifact, cls.parse_config(self._model.runtime_config))
        self._rename = self._model.rename
        logger.info("step %s %s loaded from %s", self._model.name, self._model.version, artifact)

    async def predict(self, data: InferenceData) -> InferenceData:
        """Run the model on one request's rows, merged with concurrent ones when batching."""
        if self._batching:
            result: InferenceData = await self._predict_batch(data)
            return result
        return self._run(data)

    async def predict_off_loop(self, data: InferenceData) -> InferenceData:
        """``predict`` for a model in the ingress: batches over ``INLINE_BYTES`` run on a worker
        thread, so the event loop keeps taking requests (and counting them against the
        admission limit) while the model runs; smaller ones run here, where the two thread hops
        would cost more than the model."""
        if self._batching or _nbytes(data) <= INLINE_BYTES:
            return await self.predict(data)
        return await asyncio.to_thread(self._run, data)

    @serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)
    async def _predict_batch(self, requests: list[InferenceData]) -> list[InferenceData]:
        """Dynamic batching: concatenate concurrent requests' rows, run once, split back."""
        if len(requests) == 1:
            return [await asyncio.to_thread(self._run, requests[0])]
        sizes = [len(next(iter(r.values()))) for r in requests]
        merged = {key: np.concatenate([r[key] for r in requests]) for key in requests[0]}
        outputs = await asyncio.to_thread(self._run, merged)
        bounds = np.cumsum(sizes)[:-1]
        parts = {key: np.split(value, bounds) for key, value in outputs.items()}
        return [{key: parts[key][i] for key in parts} for i in range(len(requests))]

    def _run(self, data: InferenceData) -> InferenceData:
        """Run the model on one batch; a raising model or a bad output is a ModelError."""
        rows = len(next(iter(data.values()))) if data else 0
        feed = {model_name: data[caller] for caller, model_name in self._rename.items()}
        if self._model.extra_columns == "pass":
            feed.update((name, value) for name, value in data.items() if name not in self._rename)
        try:
            outputs = self._runtime.predict(feed)
        except JoeyError:
            raise
        except Exception as exc:
            raise ModelError(self._model.name, f"{type(exc).__name__}: {exc}") from exc
        return self._checked(outputs, rows)

    def _checked(self, outputs: InferenceData, rows: int) -> InferenceData:
        checked: InferenceData = {}
        for field in self._model.outputs:
            if field.name not in outputs:
                raise ModelError(self._model.name, f"output {field.name!r} is missing")
            array = np.asarray(outputs[field.name])
            if array.ndim == 0 or array.shape[0] != rows:
                got = array.shape[0] if array.ndim else "a scalar"
                raise ModelError(
                    self._model.name, f"output {field.name!r} has {got} rows for {rows} input rows"
                )
            checked[field.name] = array
        return checked

    def __del__(self) -> None:
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.close()


class _LocalMethod:
    """``.remote(data)`` on an in-process step, shaped like a handle method."""

    def __init__(self, method: Callable[[InferenceData], Awaitable[InferenceData]]) -> None:
        self._method = method

    def remote(self, data: InferenceData) -> Awaitable[InferenceData]:
        return self._method(data)


class LocalStep:
    """A step running inside the caller's replica: no hop, same code."""

    def __init__(self, step: StepDeployment) -> None:
        self.predict = _LocalMethod(step.predict_off_loop)


def local_step(branch: ModelStep, cache_dir: str | None) -> LocalStep:
    """Load ``branch``'s model in this process."""
    return LocalStep(StepDeployment(branch.model.model_dump_json(), cache_dir,
                                    branch.options.max_batch_size, branch.options.batch_wait_timeout_s))


BY_REFERENCE_BYTES = 1 << 20
"""Batches at least this big go to a step by reference (Ray's object store: zero-copy numpy on
the same node, no size limit); smaller ones by value (direct gRPC where the replica's settings
choose it, which refuses messages over 4 MiB). Measured break-even: ~1 MB (RAY_NOTES.md §1)."""


class _RemoteMethod:
    """``predict.remote(data)`` on a step deployment, by value or by reference by size."""

    def __init__(self, handle: Any) -> None:
        # Both set explicitly: a handle bound in the SDK's process carries that process's
        # default (by reference), whatever the replica's own settings say.
        self._by_value = handle.options(_by_reference=False)
        self._by_reference = handle.options(_by_reference=True)

    def remote(self, data: InferenceData) -> Awaitable[InferenceData]:
        handle = self._by_reference if _nbytes(data) >= BY_REFERENCE_BYTES else self._by_value
        response: Awaitable[InferenceData] = handle.predict.remote(data)
        return response


class RemoteStep:
    """A step in a Serve deployment of its own, reached through its handle."""

    def __init__(self, handle: Any) -> None:
        self.predict = _RemoteMethod(handle)


def pipeline_steps(spec: DeploymentSpec, handles: Sequence[Any]) -> tuple[LocalStep | RemoteStep, ...]:
    """One step per model of ``spec``, in order: loaded here when placed in the ingress, else
    the next of ``handles`` (one per model placed apart, in order)."""
    remote = iter(handles)
    return tuple(local_step(branch, spec.cache_dir) if branch.in_ingress else RemoteStep(next(remote))
                 for branch in spec.branches)
