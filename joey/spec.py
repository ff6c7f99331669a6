"""The deployment spec: the one contract between the control plane and the data plane.

Frozen, JSON-serializable and self-contained: a replica needs nothing but its spec
and the artifact store. Embedded runs, ``serve run`` and KubeRay's ``serveConfigV2``
are all rendered from the same spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorField(_Frozen):
    """One named tensor of a model's signature; ``shape`` excludes the batch dimension.

    ``dtype`` is a numpy dtype name (``float32``, ``int64``, ``bool``) or ``string``;
    a ``None`` in ``shape`` is a dimension of any size.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...] = ()
    nullable: bool = False
    """Optional input (BYOP only): nulls reach the model instead of being refused."""
    arrow: str | None = None
    """The field's exact Arrow type (``joey.tables.tensors.encode_arrow``) for models that take
    one value per row (Hugging Face, MLflow): ragged lists and structs pass, a nullable input
    may be left out of a request, outputs are built in this type."""

    def renamed(self, name: str) -> TensorField:
        return self.model_copy(update={"name": name})

    def describe(self) -> str:
        """Human form used in error messages, e.g. ``float32[29]``."""
        if not self.shape:
            return self.dtype
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.dtype}[{dims}]"


class ServeOptions(_Frozen):
    """Options of one Ray Serve deployment, already mapped from a DeploymentConfig."""

    num_replicas: int | None = 1
    autoscaling_config: dict[str, Any] | None = None
    ray_actor_options: dict[str, Any] = Field(default_factory=dict)
    max_ongoing_requests: int = 16
    max_queued_requests: int = -1
    max_batch_size: int | None = None
    batch_wait_timeout_s: float = 0.0
    graceful_shutdown_wait_loop_s: float = 0.25
    """How often a stopping replica checks that its requests are done (Serve's default, 2 s,
    made every undeploy and redeploy wait at least that long for idle replicas)."""

    def deployment_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Deployment.options``."""
        kwargs: dict[str, Any] = {
            "ray_actor_options": dict(self.ray_actor_options),
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "graceful_shutdown_wait_loop_s": self.graceful_shutdown_wait_loop_s,
        }
        if self.autoscaling_config is not None:
            kwargs["autoscaling_config"] = dict(self.autoscaling_config)
        else:
            kwargs["num_replicas"] = self.num_replicas
        return kwargs


class ModelSpec(_Frozen):
    """Everything a replica needs to load and run one model version."""

    name: str
    version: str
    sha: str
    framework: str
    runtime: str
    artifact_uri: str
    file_name: str
    inputs: tuple[TensorField, ...]
    outputs: tuple[TensorField, ...]
    tensor_fields: tuple[str, ...] | None = None
    runtime_config: dict[str, Any] = Field(default_factory=dict)
    environment: tuple[str, ...] | None = None
    """The model's own requirements: its replicas run in an isolated environment built from
    them (``joey.runtimes.environments``) on the machine that builds the application, so the
    spec names no interpreter path of the machine that wrote it."""
    extra_columns: Literal["ignore", "pass", "refuse"] = "ignore"
    """Request columns beyond ``inputs`` (first step only): echoed and ignored, passed to the
    model as keyword columns (Hugging Face's generating tasks), or a 400 naming the column."""

    @property
    def accepts(self) -> tuple[TensorField, ...]:
        """The fields this step takes from its caller, after ``tensor_fields`` renaming."""
        if not self.tensor_fields:
            return self.inputs
        return tuple(
            f.renamed(n) for f, n in zip(self.inputs, self.tensor_fields, strict=True)
        )

    @property
    def rename(self) -> dict[str, str]:
        """Caller column name -> model input name."""
        return {a.name: f.name for a, f in zip(self.accepts, self.inputs, strict=True)}


class ModelStep(_Frozen):
    """Run one model version on every row."""

    kind: Literal["model"] = "model"
    model: ModelSpec
    options: ServeOptions = Field(default_factory=ServeOptions)
    in_ingress: bool = False
    """Runs inside the ingress replicas (no hop); ``options`` then apply to the ingress."""

    @property
    def branches(self) -> tuple[ModelStep, ...]:
        """The models this step runs (each in the ingress or in a Serve deployment of its own)."""
        return (self,)


class RandomSplitStep(_Frozen):
    """A/B test: each request (no ``hash_key``) or each row (by a stable hash of the
    ``hash_key`` column) goes to one model, drawn by weight."""

    kind: Literal["random_split"] = "random_split"
    branches: tuple[ModelStep, ...]
    weights: tuple[float, ...]
    hash_key: str | None = None


class KeySplitStep(_Frozen):
    """Each row goes to the model its ``meta_key`` value names; other values to the default
    (``branches[0]``)."""

    kind: Literal["key_split"] = "key_split"
    branches: tuple[ModelStep, ...]
    meta_key: str
    routes: dict[str, int]
    """Value of ``meta_key`` -> index into ``branches``."""


class ShadowStep(_Frozen):
    """Champion (``branches[0]``) and challengers run on every row; only the champion's
    outputs go on; challengers answer as ``out_<name>.*`` or are dropped."""

    kind: Literal["shadow"] = "shadow"
    branches: tuple[ModelStep, ...]


Step = Annotated[ModelStep | RandomSplitStep | KeySplitStep | ShadowStep, Field(discriminator="kind")]


class Validation(_Frozen):
    """A named polars expression over the flat result; true marks the row an anomaly."""

    name: str
    expression: str
    """``Expr.meta.serialize(format="json")`` of the expression (polars' own form)."""

    def expr(self) -> Any:
        """The polars expression (polars is imported only here, when a pipeline has validations)."""
        import io

        import polars as pl

        return pl.Expr.deserialize(io.StringIO(self.expression), format="json")


class InferenceAuth(_Frozen):
    """HTTP inference needs a bearer token of a user in the pipeline's workspace, checked by
    the control-plane service at ``check_url`` and trusted for ``cache_s`` seconds after."""

    check_url: str
    cache_s: float = 2.0


class DeploymentSpec(_Frozen):
    """A deployed pipeline version, as the data plane sees it."""

    workspace: str
    pipeline: str
    pipeline_version: str
    steps: tuple[Step, ...]
    ingress_options: ServeOptions = Field(
        default_factory=lambda: ServeOptions(ray_actor_options={"num_cpus": 0})
    )
    cache_dir: str | None = None
    """Local directory where replicas keep artifacts fetched by URI; None (portable specs): each
    replica uses its own node's temp dir (``joey.artifacts.node_cache_dir``)."""
    max_in_flight: int | None = None
    """Requests an ingress replica that runs models takes at once (its steps' ongoing plus
    queued limits); past it, 503 with Retry-After. None: Serve's own limits only."""
    replica_env: dict[str, str] = Field(default_factory=dict)
    """Environment variables of every replica of the application (Serve's loop settings),
    set per deployment so they never reach the SDK's process."""
    validations: tuple[Validation, ...] = ()
    shadow_grace_ms: float = 100.0
    """How long after the champion's answer the ingress waits for shadow challengers."""
    inference_auth: InferenceAuth | None = None
    """None: HTTP inference is open (embedded mode); else every request needs a valid token."""
    log_dir: str | None = None
    """fsspec URI of the pipeline's inference log (``joey.logs``); None: not logged."""
    log_max_pending: int = 256
    """Answers an ingress replica may have waiting for the log before it answers 503."""
    log_segment_bytes: int = 32 * 2**20
    """Size past which a log segment is closed and the next one started."""
    log_compact_interval_s: float = 600.0
    """How often the ingress merges the pipeline's closed log segments (0: never)."""

    @property
    def app_name(self) -> str:
        return f"{self.workspace}-{self.pipeline}"

    @property
    def route_prefix(self) -> str:
        return f"/infer/{self.workspace}/{self.pipeline}"

    @property
    def input_fields(self) -> tuple[TensorField, ...]:
        """What a request must carry: the first step's accepted fields."""
        return self.steps[0].branches[0].model.accepts

    @property
    def branches(self) -> tuple[ModelStep, ...]:
        """Every model step of every step, in order."""
        return tuple(branch for step in self.steps for branch in step.branches)

    @property
    def hosted(self) -> tuple[ModelStep, ...]:
        """The models that run inside the ingress replicas."""
        return tuple(branch for branch in self.branches if branch.in_ingress)

    @property
    def remote(self) -> tuple[ModelStep, ...]:
        """The models that run in Serve deployments of their own, one each."""
        return tuple(branch for branch in self.branches if not branch.in_ingress)

    def live_config(self) -> dict[str, Any]:
        """What may change without restarting a replica: split weights, validations, the
        shadow grace, and the pipeline version they make. It travels as the ingress's Serve
        ``user_config``."""
        return {
            "pipeline_version": self.pipeline_version,
            "weights": [list(s.weights) if s.kind == "random_split" else None for s in self.steps],
            "validations": [v.model_dump() for v in self.validations],
            "shadow_grace_ms": self.shadow_grace_ms,
        }

    def without_live(self) -> DeploymentSpec:
        """The spec with its live settings at fixed placeholders: two specs that differ only
        in live settings give the same ingress arguments, so Serve only reconfigures it."""
        steps = tuple(s.model_copy(update={"weights": (1.0,) * len(s.branches)})
                      if s.kind == "random_split" else s for s in self.steps)
        return self.model_copy(update={"steps": steps, "validations": (), "shadow_grace_ms": 100.0,
                                       "pipeline_version": ""})

    def with_live(self, live: dict[str, Any]) -> DeploymentSpec:
        """This spec with the live settings of ``live_config()`` applied."""
        weights = live.get("weights") or [None] * len(self.steps)
        if len(weights) != len(self.steps):
            raise ValueError(f"live settings name {len(weights)} steps, the spec has {len(self.steps)}")
        steps = tuple(s.model_copy(update={"weights": tuple(w)}) if s.kind == "random_split" and w else s
                      for s, w in zip(self.steps, weights, strict=True))
        validations = tuple(Validation.model_validate(v) for v in live.get("validations", ()))
        return DeploymentSpec.model_validate({
            **self.model_dump(), "steps": [s.model_dump() for s in steps],
            "validations": [v.model_dump() for v in validations],
            "shadow_grace_ms": float(live.get("shadow_grace_ms", self.shadow_grace_ms)),
            "pipeline_version": str(live.get("pipeline_version", self.pipeline_version)),
        })

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> DeploymentSpec:
        return cls.model_validate_json(text)
