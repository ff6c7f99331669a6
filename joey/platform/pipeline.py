"""SDK ``Pipeline``: steps edited locally, saved as versions, deployed as one Serve app."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from joey.autoscaling import DeploymentConfig
from joey.errors import (
    DeploymentError,
    EntityNotFoundError,
    JoeyError,
    PipelineNotDeployedError,
)
from joey.platform import steps as step_json
from joey.platform.compat import ignored_argument
from joey.platform.context import Context
from joey.platform.models import ModelVersion
from joey.platform.quotas import check_deploy, check_version
from joey.platform.spec_builder import build_spec
from joey.platform.store import PipelineRow, PipelineVersionRow, WorkspaceRow
from joey.spec import DeploymentSpec
from joey.tables import read_body

if TYPE_CHECKING:
    import pandas as pd


class PipelineVersion:
    """One saved definition of a pipeline."""

    def __init__(self, pipeline: Pipeline, row: PipelineVersionRow) -> None:
        self._pipeline = pipeline
        self._row = row

    def id(self) -> int:
        return self._row.id

    def name(self) -> str:
        """The version's UUID (Wallaroo's ``PipelineVersion.name()``)."""
        return self._row.version

    def create_time(self) -> datetime:
        return self._row.created_at

    def definition(self) -> dict[str, Any]:
        return {"steps": list(self._row.definition)}

    def pipeline(self) -> Pipeline:
        return self._pipeline

    def __repr__(self) -> str:
        return repr({"name": self.name(), "create_time": self.create_time(), "definition": self.definition()})


class Pipeline:
    """A named chain of steps in a workspace; ``deploy()`` makes it serve."""

    def __init__(self, context: Context, workspace: WorkspaceRow, row: PipelineRow,
                 version: PipelineVersionRow | None) -> None:
        self._context = context
        self._workspace = workspace
        self._row = row
        self._version = version
        self._steps: list[dict[str, Any]] = list(version.definition) if version else []
        self._handle: Any = None  # the ingress handle, kept while deployed

    # identity
    def id(self) -> int:
        return self._row.id

    def name(self) -> str:
        return self._row.name

    def create_time(self) -> datetime:
        return self._row.created_at

    def last_update_time(self) -> datetime:
        return self._row.updated_at

    def workspace(self) -> Any:
        from joey.platform.workspace import Workspace

        return Workspace(self._context, self._workspace)

    def app_name(self) -> str:
        return f"{self._workspace.name}-{self._row.name}"

    def definition(self) -> str:
        import json

        return json.dumps(self._steps)

    def steps(self) -> list[dict[str, Any]]:
        return [dict(s) for s in self._steps]

    def versions(self) -> list[PipelineVersion]:
        return [PipelineVersion(self, r) for r in self._context.store.list_pipeline_versions(self._row.id)]

    def kuberay_manifest(self, image: str | None = None,
                         deployment_config: DeploymentConfig | None = None) -> dict[str, Any]:
        """joey: a KubeRay ``RayService`` manifest (``ray.io/v1``) serving the pipeline's newest
        saved version, deployed or only ``create_version()``-ed. Nothing is deployed.

        ``image``: Ray 2.60 with joey installed (default ``rayproject/ray:2.60.0-py311``, which
        lacks joey: no joey image is published). ``deployment_config``: the steps' replicas and
        resources on the cluster (default: the config of the pipeline's last deploy, or the
        default config if it never deployed). ``joey.cluster.kuberay.dump_yaml`` writes the
        manifest for ``kubectl apply -f``; ``joey.cluster.kuberay`` says what it holds.
        """
        from joey.cluster.kuberay import DEFAULT_IMAGE, rayservice_manifest

        return rayservice_manifest(self._latest_spec(deployment_config), image=image or DEFAULT_IMAGE)

    def _latest_spec(self, config: DeploymentConfig | None = None) -> DeploymentSpec:
        """The spec of the newest saved version with ``config`` (default: the last deploy's, else
        the default config), built as ``deploy`` builds it, deploying nothing."""
        from joey.errors import PipelineConfigError

        store = self._context.store
        version = store.get_pipeline_version(self._row.id)
        if version is None:
            raise PipelineConfigError(f"pipeline {self.name()!r} has no saved version; "
                                      f"create_version() or deploy() first")
        if config is None:
            deployments = store.list_deployments(self._row.id)
            config = DeploymentConfig.model_validate(deployments[0].config) if deployments else DeploymentConfig()
        return build_spec(self._context, self._workspace.name, self._workspace.id, self.name(),
                          version.version, list(version.definition), config)

    # step editing, each returning the pipeline
    def add_model_step(self, model_version: ModelVersion) -> Pipeline:
        self._steps.append(step_json.model_step(model_version))
        return self

    def replace_with_model_step(self, index: int, model_version: ModelVersion) -> Pipeline:
        return self._replace(index, [step_json.model_step(model_version)])

    def add_multi_model_step(self, model_version_list: Iterable[ModelVersion]) -> Pipeline:
        """Every model runs on every row; the first one's outputs go on (as a shadow deploy)."""
        self._steps.append(step_json.multi_model_step(model_version_list))
        return self

    def replace_with_multi_model_step(self, index: int, model_version_list: Iterable[ModelVersion]) -> Pipeline:
        return self._replace(index, [step_json.multi_model_step(model_version_list)])

    def add_random_split(self, weighted: Iterable[tuple[float, ModelVersion]],
                         hash_key: str | None = None) -> Pipeline:
        """A/B test: each request (or, with ``hash_key``, each row by its key) to one model by weight."""
        self._steps.append(step_json.random_split(weighted, hash_key))
        return self

    def replace_with_random_split(self, index: int, weighted: Iterable[tuple[float, ModelVersion]],
                                  hash_key: str | None = None) -> Pipeline:
        return self._replace(index, [step_json.random_split(weighted, hash_key)])

    def add_key_split(self, default: ModelVersion, meta_key: str,
                      options: dict[str, ModelVersion]) -> Pipeline:
        """Each row to the model its ``meta_key`` column names; other values to ``default``."""
        self._steps.append(step_json.key_split(default, meta_key, options))
        return self

    def replace_with_key_split(self, index: int, default: ModelVersion, meta_key: str,
                               options: dict[str, ModelVersion]) -> Pipeline:
        return self._replace(index, [step_json.key_split(default, meta_key, options)])

    def add_shadow_deploy(self, champion: ModelVersion, challengers: Iterable[ModelVersion]) -> Pipeline:
        """Champion and challengers on every row; challengers answer as ``out_<name>.*``."""
        self._steps.extend(step_json.shadow_deploy(champion, challengers))
        return self

    def replace_with_shadow_deploy(self, index: int, champion: ModelVersion,
                                   challengers: Iterable[ModelVersion]) -> Pipeline:
        return self._replace(index, step_json.shadow_deploy(champion, challengers))

    def add_validations(self, **validations: Any) -> Pipeline:
        """Named polars expressions over the result; true marks the row in ``anomaly.<name>``."""
        check = step_json.validations(validations)
        if check is not None:
            self._steps.append(check)
        return self

    def _replace(self, index: int, new: list[dict[str, Any]]) -> Pipeline:
        """Replace the step at ``index`` (a whole shadow deploy when one starts there)."""
        self._check_index(index)
        width = 3 if step_json.is_shadow_at(self._steps, index) else 1
        self._steps[index:index + width] = new
        return self

    def remove_step(self, index: int) -> Pipeline:
        self._check_index(index)
        del self._steps[index]
        return self

    def clear(self) -> Pipeline:
        self._steps = []
        return self

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self._steps):
            raise IndexError(f"pipeline {self.name()!r} has {len(self._steps)} steps; no step {index}")

    # lifecycle
    def create_version(self) -> PipelineVersion:
        """Save the current steps as a new version (kept local until now)."""
        check_version(self._context, self.name(), self._steps)
        self._version = self._context.store.add_pipeline_version(self._row.id, list(self._steps))
        self._context.audit("pipeline.version.create", "pipeline", self.name(), workspace_id=self._workspace.id,
                            object_id=self._row.id, version=self._version.version,
                            models=[n for step in self._steps for n in step_json.model_names(step)])
        return PipelineVersion(self, self._version)

    def _current_version(self) -> PipelineVersionRow:
        if self._version is None or list(self._version.definition) != self._steps:
            self.create_version()
        assert self._version is not None
        return self._version

    def deploy(self, pipeline_name: str | None = None, deployment_config: DeploymentConfig | None = None,
               wait_for_status: bool = True) -> Pipeline:
        """Save the steps if they changed, and (re)deploy; a running app is updated in place."""
        if pipeline_name is not None and pipeline_name != self.name():
            ignored_argument("Pipeline.deploy", "pipeline_name",
                             f"joey deploys pipeline {self.name()!r} as the Serve application "
                             f"{self.app_name()!r}")
        config = deployment_config or DeploymentConfig()
        saved = self._version if self._version is not None and list(self._version.definition) == self._steps else None
        # The spec and the quotas first: a deploy they refuse saves no version and starts nothing.
        spec = build_spec(self._context, self._workspace.name, self._workspace.id, self.name(),
                          saved.version if saved else "", list(self._steps), config)
        check_deploy(self._context, self._row.id, spec)
        version = self._current_version()
        if saved is None:
            spec = spec.model_copy(update={"pipeline_version": version.version})
        self._context.ensure_serve()
        _check_gpus(spec)
        _check_placeable(spec)
        store = self._context.store
        previous = store.active_deployment(self._row.id)
        if previous is not None:
            store.end_deployment(previous.id)
        self._handle = None
        deployment = store.record_deployment(self._row.id, version.id, config.model_dump(mode="json"),
                                             spec.to_json(), "Starting")
        from joey.cluster import run_app

        timeout_s = self._context.settings.deploy_timeout_s
        echo = self._context.echo
        if wait_for_status:
            echo(f"Waiting for deployment - this will take up to {timeout_s:.0f}s ", end="")
        try:
            state = run_app(spec, wait=wait_for_status, timeout_s=timeout_s, tick=lambda: echo(".", end=""),
                            previous=DeploymentSpec.from_json(previous.spec_json) if previous else None,
                            http_base=self._http_base(), envs_dir=self._context.settings.resolved_envs_dir)
        except JoeyError as exc:
            store.set_deployment_status(deployment.id, "Error")
            self._context.audit("pipeline.deploy.failed", "pipeline", self.name(), workspace_id=self._workspace.id,
                                object_id=self._row.id, version=version.version, error=str(exc))
            if wait_for_status:
                echo(" failed")
            raise
        self._context.audit("pipeline.deploy", "pipeline", self.name(), workspace_id=self._workspace.id,
                            object_id=self._row.id, version=version.version, deployment_id=deployment.id,
                            config=config.model_dump(mode="json"))
        store.set_deployment_status(deployment.id, state.status)
        if wait_for_status:
            echo(" ok")
        else:
            echo(f"Deployment initiated for {self.name()}. Please check pipeline status.")
        return self

    def undeploy(self) -> Pipeline:
        """Delete the Serve application; the pipeline and its versions stay."""
        store = self._context.store
        deployment = store.active_deployment(self._row.id)
        self._context.ensure_serve()
        from joey.cluster import delete_app

        echo = self._context.echo
        echo(f"Waiting for undeployment - this will take up to "
             f"{self._context.settings.deploy_timeout_s:.0f}s ", end="")
        delete_app(self.app_name(), tick=lambda: echo(".", end=""))
        echo(" ok")
        self._context.audit("pipeline.undeploy", "pipeline", self.name(), workspace_id=self._workspace.id,
                            object_id=self._row.id, deployment_id=deployment.id if deployment else None)
        self._handle = None
        if deployment is not None:
            store.end_deployment(deployment.id)
        return self

    def status(self) -> dict[str, Any]:
        """Wallaroo's shape: ``status`` (Starting, Running, Error or Unavailable), ``details``,
        ``engines`` (replicas running native steps), ``engine_lbs`` (the ingress replicas that
        compose the pipeline), ``sidekicks`` (replicas running models in their own framework);
        joey adds ``deployments``, each Serve deployment with its replica counts."""
        deployment = self._context.store.active_deployment(self._row.id)
        if deployment is None:
            return {"status": "Unavailable", "details": [], "engines": [], "engine_lbs": [],
                    "sidekicks": [], "deployments": []}
        self._context.ensure_serve()
        from joey.cluster import app_state
        from joey.platform.status import replica_statuses

        state = app_state(self.app_name())
        details = [state.message] if state.message else []
        spec = DeploymentSpec.from_json(deployment.spec_json)
        return {"status": state.status, "details": details,
                **replica_statuses(self._context, self._workspace.id, spec, state),
                "deployments": state.deployments}

    def url(self) -> str:
        return f"{self._http_base()}/infer/{self._workspace.name}/{self.name()}"

    def _http_base(self) -> str:
        settings = self._context.settings
        return f"http://{settings.http_host}:{settings.http_port}"

    # inference
    def infer(self, tensor: pd.DataFrame | pa.Table, timeout: float | None = None,
              dataset: list[str] | None = None, dataset_exclude: list[str] | None = None,
              dataset_separator: str | None = None) -> pd.DataFrame | pa.Table:
        """DataFrame in, DataFrame out; ``pa.Table`` in, ``pa.Table`` out (flat columns)."""
        if isinstance(tensor, pa.Table):
            table, as_frame = tensor, False
        else:
            import pandas as pd

            if not isinstance(tensor, pd.DataFrame):
                raise TypeError(f"infer takes a pandas DataFrame or a pyarrow Table, got {type(tensor).__name__}")
            from joey.tables.frames import dataframe_to_table

            table, as_frame = dataframe_to_table(tensor), True
        result = self._call(table, timeout, dataset, dataset_exclude, dataset_separator or ".")
        if as_frame:
            from joey.tables.frames import table_to_dataframe

            return table_to_dataframe(result)
        return result

    def _call(self, table: pa.Table, timeout: float | None, dataset: list[str] | None,
              exclude: list[str] | None, separator: str) -> pa.Table:
        timeout_s = timeout if timeout is not None else self._context.settings.request_timeout_s
        if self._handle is None:
            # First call (or after a redeploy): check the store once, then keep the handle.
            if self._context.store.active_deployment(self._row.id) is None:
                raise PipelineNotDeployedError(self.name())
            self._context.ensure_serve()
            from joey.cluster import app_handle

            self._handle = app_handle(self.app_name())
        from joey.cluster import call_handle

        try:
            return call_handle(self._handle, timeout_s, table, dataset, exclude, separator)
        except JoeyError:
            if self._context.store.active_deployment(self._row.id) is None:
                self._handle = None  # undeployed elsewhere since the handle was taken
                raise PipelineNotDeployedError(self.name()) from None
            raise

    def infer_from_file(self, filename: str | Path, data_format: str | None = None,
                        timeout: float | None = None, dataset: list[str] | None = None,
                        dataset_exclude: list[str] | None = None,
                        dataset_separator: str | None = None) -> pd.DataFrame | pa.Table:
        """``.arrow`` files infer as a Table; pandas-records ``.json`` as a DataFrame."""
        path = Path(filename)
        kind = data_format or ("arrow" if path.suffix == ".arrow" else "pandas-records" if path.suffix == ".json" else None)
        if kind == "arrow":
            tensor: Any = read_body(path.read_bytes(), "arrow")
        elif kind == "pandas-records":
            import pandas as pd

            tensor = pd.read_json(path, orient="records")
        else:
            raise TypeError(f"infer_from_file reads .arrow or pandas-records .json files, not {path.name!r}")
        return self.infer(tensor, timeout, dataset, dataset_exclude, dataset_separator)

    # the inference log
    def logs(self, limit: int | None = None, start_datetime: datetime | None = None,
             end_datetime: datetime | None = None, valid: bool | None = None,
             dataset: list[str] | None = None, dataset_exclude: list[str] | None = None,
             dataset_separator: str | None = None, arrow: bool | None = False) -> pd.DataFrame | pa.Table:
        """Logged answers, Wallaroo's way: 100 newest first; with both datetimes, oldest first in
        that range; ``valid=False`` only rows with anomalies; a ``pa.Table`` with ``arrow=True``."""
        from joey.platform import logs

        table = logs.logs(self._log_dir(), limit, start_datetime, end_datetime, valid, dataset,
                          dataset_exclude, dataset_separator)
        if arrow:
            return table
        from joey.tables.frames import table_to_dataframe

        return table_to_dataframe(table)

    def export_logs(self, directory: str | None = None, file_prefix: str | None = None,
                    data_size_limit: str | None = None, limit: int | None = None,
                    start_datetime: datetime | None = None, end_datetime: datetime | None = None,
                    valid: bool | None = None, dataset: list[str] | None = None,
                    dataset_exclude: list[str] | None = None, dataset_separator: str | None = None,
                    arrow: bool | None = False) -> None:
        """Write the log to ``directory`` (``logs``): ``{prefix}-1.json`` (ndjson) or ``.arrow``,
        one file per schema segment, up to ``data_size_limit`` (``100MB``)."""
        from joey.platform import logs

        logs.export(self._log_dir(), directory or "logs", file_prefix or self.name(),
                    data_size_limit or "100MB", limit, start_datetime, end_datetime, valid, dataset,
                    dataset_exclude, dataset_separator, bool(arrow))

    def metrics(self, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        """joey's own: requests, rps, rows/s, p50/p95/p99 latency (ms), anomalies and errors in
        ``[start, end]`` (default: the last 15 minutes), read from the inference log."""
        from datetime import UTC, timedelta

        from joey.platform import logs

        if start is None and end is None:
            end = datetime.now(UTC)
            start = end - timedelta(minutes=15)
        logs.check_range(start, end)
        assert start is not None and end is not None
        return logs.metrics(self._log_dir(), start, end)

    def metrics_series(self, start: datetime, end: datetime, buckets: int) -> list[dict[str, Any]]:
        """joey's own: ``metrics()`` of each of ``buckets`` equal slices of ``[start, end]``,
        oldest first (the dashboard's charts): one reading of the log, the same formula."""
        from joey.platform import logs

        logs.check_range(start, end)
        return logs.metrics_series(self._log_dir(), start, end, buckets)

    def _log_dir(self) -> str:
        from joey.platform.spec_builder import pipeline_log_dir

        return pipeline_log_dir(self._context, self._workspace.name, self.name())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name(), "create_time": self.create_time(), "definition": self.definition()}

    def table_row(self) -> dict[str, Any]:
        """One row of ``list_pipelines()`` in a notebook (Wallaroo's columns)."""
        return {
            "name": self.name(),
            "created": self.create_time(),
            "last_updated": self.last_update_time(),
            "deployed": self._context.store.active_deployment(self._row.id) is not None,
            "versions": [v.name() for v in self.versions()],
            "steps": list(dict.fromkeys(n for step in self._steps for n in step_json.model_names(step))),
        }

    def __repr__(self) -> str:
        return repr(self.to_dict())


def _check_gpus(spec: DeploymentSpec) -> None:
    """A step that asks for GPUs on a cluster without any fails now, not after the timeout."""
    asked = {s.model.name: s.options.ray_actor_options.get("num_gpus") or 0 for s in spec.branches}
    wanted = {name: gpus for name, gpus in asked.items() if gpus}
    if spec.hosted and spec.ingress_options.ray_actor_options.get("num_gpus"):
        wanted["(ingress)"] = spec.ingress_options.ray_actor_options["num_gpus"]
    if not wanted:
        return
    from joey.cluster.replicas import cluster_gpus

    if cluster_gpus() == 0:
        raise DeploymentError(spec.pipeline, f"steps ask for GPUs {wanted} but the Ray cluster has none")


def _check_placeable(spec: DeploymentSpec) -> None:
    """A deployment that no node can hold fails the deploy now, naming what it asks for, instead
    of waiting the deploy timeout for replicas that never start."""
    from joey.cluster.replicas import unplaceable

    problems = unplaceable(spec)
    if problems:
        raise DeploymentError(spec.pipeline, "; ".join(problems))


def get_pipeline(context: Context, workspace: WorkspaceRow, name: str, version: str | None) -> Pipeline:
    row = context.store.get_pipeline(workspace.id, name)
    if row is None:
        raise EntityNotFoundError("pipeline", name, "in this workspace")
    version_row = context.store.get_pipeline_version(row.id, version)
    if version is not None and version_row is None:
        raise EntityNotFoundError("pipeline", name, f"with the version {version}")
    return Pipeline(context, workspace, row, version_row)


__all__ = ["Pipeline", "PipelineVersion", "get_pipeline"]
