"""``PipelineIngress``: the HTTP and handle ingress of one deployed pipeline.

HTTP bodies (pandas-records JSON or Arrow IPC) and handle calls (a ``pa.Table``)
run through the same ``PipelineRunner``; every failure answers the contract's
JSON error body with its status.
"""


import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from joey.deployments.failures import as_joey_error
from joey.deployments.inference_auth import InferenceGate
from joey.deployments.loopback import keep_replica_grpc_on_loopback
from joey.deployments.metrics import PipelineMetrics
from joey.deployments.runner import PipelineRunner
from joey.deployments.step import pipeline_steps
from joey.errors import JoeyError, MethodNotAllowedError, OverCapacityError, UnknownPathError
from joey.logs import ERRORS_DIR, error_rows
from joey.logs.compact import Compactor
from joey.logs.writer import BackgroundWriter, LogFull, SegmentWriter
from joey.spec import DeploymentSpec
from joey.tables import DatasetFilter, answer_kind, media_kind, read_body, shape, write_body

logger = logging.getLogger(__name__)


def _error_response(error: JoeyError) -> Response:
    headers = {}
    if isinstance(error, OverCapacityError):
        headers["Retry-After"] = str(error.retry_after_s)
    return Response(
        orjson.dumps(error.to_body()), status_code=error.status,
        media_type="application/json", headers=headers,
    )


class PipelineIngress:
    """Composes the pipeline's step deployments; answers HTTP and handle calls."""

    def __init__(self, spec_json: str, *steps: object) -> None:
        """``spec_json``: the spec without its live settings (those come by ``reconfigure``);
        ``steps``: a handle per model placed apart (``spec.remote``), then any retired ones
        (never called). Models placed in the ingress are loaded here."""
        keep_replica_grpc_on_loopback()
        self._spec = DeploymentSpec.from_json(spec_json)
        context = serve.get_replica_context()
        self._partition = f"{context.app_name}#{context.replica_id.unique_id}"
        self._steps = pipeline_steps(self._spec, steps[:len(self._spec.remote)])
        log_dir = self._spec.log_dir
        self._writer = (BackgroundWriter(SegmentWriter(log_dir, self._partition, self._spec.log_segment_bytes),
                                         self._spec.log_max_pending) if log_dir else None)
        self._errors = (BackgroundWriter(SegmentWriter(f"{log_dir}/{ERRORS_DIR}", self._partition),
                                         self._spec.log_max_pending) if log_dir else None)
        self._compactor = Compactor(log_dir, self._spec.log_compact_interval_s) if log_dir else None
        self._metrics = PipelineMetrics(self._spec.workspace, self._spec.pipeline)
        self._runner = self._make_runner(self._spec)
        self._in_flight = 0
        auth = self._spec.inference_auth
        self._gate = InferenceGate(auth, self._spec.workspace) if auth is not None else None

    def _make_runner(self, spec: DeploymentSpec) -> PipelineRunner:
        return PipelineRunner(spec, self._steps, self._partition,
                              log=self._log if self._writer is not None else None, observer=self._metrics)

    def _failed(self, error: JoeyError) -> None:
        """Count a failed request, and note it beside the log (``pipeline.metrics()`` reads it)."""
        self._metrics.failed(error.status)
        if self._errors is not None:
            with contextlib.suppress(LogFull):
                self._errors.submit(error_rows(error))

    @contextlib.contextmanager
    def _admitted(self) -> Iterator[None]:
        """One request in flight; past ``spec.max_in_flight``, a 503 with Retry-After."""
        limit = self._spec.max_in_flight
        if limit is not None and self._in_flight >= limit:
            raise OverCapacityError(f"{limit} requests in flight in this replica", 1)
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1

    def reconfigure(self, live: dict[str, Any]) -> None:
        """Serve's ``user_config``: new split weights, validations or shadow grace, in place."""
        self._runner = self._make_runner(self._spec.with_live(live))

    async def _log(self, full: pa.Table) -> None:
        """Every answered row reaches the OS before the answer leaves (503 when the log lags)."""
        assert self._writer is not None
        try:
            written = self._writer.submit(full)
        except LogFull as exc:
            raise OverCapacityError(f"inference log: {exc}", 1) from None
        if written.done():  # small answers are written at once: no loop round trip
            written.result()
            return
        await asyncio.wrap_future(written)

    def __del__(self) -> None:
        """Serve calls this on graceful shutdown (undeploy, redeploy): close the segments."""
        metrics = getattr(self, "_metrics", None)
        if metrics is not None:
            metrics.flush()
        compactor = getattr(self, "_compactor", None)
        if compactor is not None:
            compactor.close()
        for name in ("_writer", "_errors"):
            writer = getattr(self, name, None)
            if writer is not None:
                writer.close()

    async def __call__(self, request: Request) -> Response:
        """Serve's HTTP entry: ``POST`` to the pipeline's URL (with or without a trailing
        slash). A plain handler, not a web framework's router: with one route, routing and
        middleware were a quarter of a single-row request's CPU in the replica."""
        path = request.scope["path"][len(request.scope.get("root_path", "")):]
        if path not in ("", "/"):
            return _error_response(UnknownPathError(request.url.path))
        if request.method != "POST":
            response = _error_response(MethodNotAllowedError(request.method))
            response.headers["Allow"] = "POST"
            return response
        return await self.http_infer(request)

    async def http_infer(self, request: Request) -> Response:
        """POST a body; answer nested by default, flat with ``dataset.separator``."""
        try:
            if self._gate is not None:
                await self._gate.check(request.headers.get("authorization"))
            kind = media_kind(request.headers.get("content-type"))
            answer = answer_kind(request.headers.get("accept"), kind)
            table = read_body(await request.body(), kind)
            params = request.query_params
            wanted = DatasetFilter(
                include=tuple(params.getlist("dataset[]") + params.getlist("dataset")) or ("*",),
                exclude=tuple(params.getlist("dataset.exclude[]") + params.getlist("dataset.exclude")),
            )
            with self._admitted():
                flat = await self._runner.run(table, wanted)
            body, content_type = write_body(shape(flat, params.get("dataset.separator")), answer)
            return Response(body, media_type=content_type)
        except Exception as exc:  # every failure is answered, never raised to the proxy
            error = as_joey_error(exc)
            if error.status >= 500:
                logger.warning("inference failed: %s", error)
            self._failed(error)
            return _error_response(error)

    async def infer(
        self,
        table: pa.Table,
        dataset: list[str] | None = None,
        dataset_exclude: list[str] | None = None,
        dataset_separator: str | None = ".",
    ) -> pa.Table:
        """Handle entry: a ``pa.Table`` in, the flat result table out (SDK defaults)."""
        try:
            with self._admitted():
                flat = await self._runner.run(table, DatasetFilter.for_sdk(dataset, dataset_exclude))
        except Exception as exc:
            error = as_joey_error(exc)
            self._failed(error)
            raise error from None
        return shape(flat, dataset_separator)
