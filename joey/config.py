"""Every setting joey reads, in one place.

Built once at an entry point (``Client``, the CLI, a benchmark) and passed down;
nothing else in joey reads the environment, and nothing happens at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """joey's settings, from ``JOEY_*`` environment variables or keyword arguments."""

    model_config = SettingsConfigDict(env_prefix="JOEY_", frozen=True, extra="forbid")

    home: Path = Field(default_factory=lambda: Path.home() / ".joey")
    """Root of the embedded store: SQLite file, artifacts, step caches."""
    database_url: str | None = None
    """SQLAlchemy URL of the store; default is ``sqlite:///{home}/joey.db``."""
    artifacts_uri: str | None = None
    """fsspec URI of the content-addressed artifact store; default ``{home}/artifacts``."""
    envs_dir: Path | None = None
    """Where isolated model environments are built and kept (keyed by what they install);
    default ``{home}/envs``. Several homes may share one."""
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("JOEY_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI",
                                                    "mlflow_tracking_uri"))
    """The MLflow tracking/registry server that ``models:/`` upload URIs name (MLflow's own
    ``MLFLOW_TRACKING_URI`` is read too)."""
    ray_address: str | None = None
    """Ray cluster to join (``auto``, ``host:port``, ``ray://host:port``).

    Default (or ``local``): start a new local Ray of joey's own, listening on 127.0.0.1
    only, whatever ``RAY_ADDRESS`` or a ``ray start`` on this machine names.
    """
    ray_connect_timeout_s: float = 10.0
    """How long joining ``ray_address`` waits for it to answer before ``RayConnectionError``."""
    http_host: str = "127.0.0.1"
    """Address the Serve HTTP proxy binds to."""
    http_port: int = 8000
    """Port of the Serve HTTP proxy."""
    http_proxy_location: Literal["HeadOnly", "EveryNode"] = "HeadOnly"
    """Where Serve answers HTTP when joey starts Serve: on the head node only (default: one
    address to call, and nodes sharing one machine's loopback do not fight over the port), or
    on every node (Serve's default, for a load balancer in front of the nodes)."""
    serve_haproxy: bool = True
    """A Ray that joey starts answers HTTP through HAProxy (shipped with ``ray[serve]``), which
    forwards straight to the ingress replicas, instead of through Serve's Python proxy: one
    hop less per request. A joined cluster keeps its own choice (``RAY_SERVE_ENABLE_HA_PROXY``)."""
    serve_fast_replicas: bool = True
    """Replicas run Serve's throughput-optimized loop settings (``RAY_SERVE_THROUGHPUT_OPTIMIZED``),
    set on each deployment, never in the SDK's process."""
    serve_drain_s: float = 1.0
    """How long a stopping ingress replica stays reachable so HAProxy can take it out of
    rotation (Serve's default, 30 s, would make every undeploy and redeploy wait that long)."""
    ray_num_cpus: int | None = None
    """CPUs a locally started Ray advertises; default: what the machine has."""
    deploy_timeout_s: float = 120.0
    """How long ``deploy(wait_for_status=True)`` waits for every replica."""
    inference_log: bool = True
    """Keep every answered row (``pipeline.logs()``); off only to measure what it costs."""
    log_segment_bytes: int = 32 * 2**20
    """A log segment is closed and a new one started past this size (newest rows read fast)."""
    log_compact_interval_s: float = 600.0
    """How often an ingress replica merges its pipeline's closed log segments (0: never)."""
    log_max_pending: int = 256
    """Answers an ingress replica may have waiting to be logged before it answers 503."""
    shadow_grace_ms: float = 100.0
    """How long after the champion answers a shadow deploy waits for its challengers."""
    url: str | None = Field(default=None, validation_alias=AliasChoices("JOEY_URL", "WALLAROO_URL", "url"))
    """A joey service to use (``JOEY_URL`` or Wallaroo's ``WALLAROO_URL``): ``Client()`` is then
    remote, as ``Client(api_endpoint=...)``."""
    token: SecretStr | None = None
    """An API token for remote mode (``Client(auth_type="token")``)."""
    user: str | None = Field(default=None, validation_alias=AliasChoices("JOEY_USER", "WALLAROO_USER", "user"))
    """Email to sign in with in remote mode (``auth_type="user_password"``)."""
    password: SecretStr | None = Field(default=None, validation_alias=AliasChoices(
        "JOEY_PASSWORD", "WALLAROO_PASSWORD", "password"))
    service_url: str | None = None
    """The control-plane service's own base URL (``python -m joey.service`` sets it): set, the
    pipelines it deploys answer HTTP inference only with a bearer token of a user in the
    pipeline's workspace, checked against it."""
    admin_email: str | None = None
    """The service's first admin, created on first start when no user exists yet."""
    admin_password: SecretStr | None = None
    """The first admin's password (``JOEY_ADMIN_PASSWORD``); never logged."""
    service_max_upload_bytes: int = 2 * 2**30
    """The largest model file the service takes (413 past it)."""
    service_auth_cache_s: float = 2.0
    """How long a checked token stays trusted without asking the store again: a revoked token
    stops working within this many seconds."""
    request_timeout_s: float = 15.0
    """Default SDK inference timeout, as Wallaroo's."""
    quotas: str = "unlimited"
    """The installation's quotas (``joey.platform.quotas``) unless an admin set others through
    the service: ``unlimited``, ``community`` (Wallaroo Community's: 2 users, 2 deployed
    pipelines, 5 steps per pipeline, 32 CPU cores), or JSON such as
    ``{"preset": "community", "max_users": 5}`` or ``{"max_cpu_cores": 8}``; read where
    quotas are checked (a bad value fails the service's start, and each check)."""

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'joey.db'}"

    @property
    def resolved_envs_dir(self) -> Path:
        return self.envs_dir or self.home / "envs"

    @property
    def resolved_artifacts_uri(self) -> str:
        return self.artifacts_uri or str(self.home / "artifacts")

    @property
    def logs_uri(self) -> str:
        """Where inference logs live: beside the artifacts, so a cluster shares both."""
        return f"{self.resolved_artifacts_uri.rstrip('/')}/logs"

