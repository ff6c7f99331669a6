"""Installation-wide quotas: at most so many users, deployed pipelines, steps per pipeline and
CPU cores reserved by deployments, each optional.

The policy in force is the one an admin set through the service (kept in the store's
``installation_settings``), else ``JOEY_QUOTAS``: a preset's name (``unlimited``, the default,
or ``community``: Wallaroo Community's numbers), or JSON of limits on top of a preset
(``{"preset": "community", "max_users": 5}``; without ``preset``, on top of ``unlimited``; a
limit given as ``null`` is lifted).

Every check runs before anything is created, stored or started, and raises
``QuotaExceededError`` naming the limit, the use and the allowed value. What counts:

- users: the active users of the accounts store (a service's; embedded mode has none);
- deployed pipelines: pipelines with an active deployment in the store (as
  ``list_pipelines()``'s ``deployed``: a deploy that failed counts until ``undeploy()``);
  redeploying a deployed pipeline adds none;
- steps: a pipeline's model steps, splits and shadow deploys (validations are no step; a shadow
  deploy is one), at ``create_version()`` and ``deploy()``;
- CPU cores: what the Serve deployments of every deployed pipeline reserve, the ingress
  included: ``num_cpus`` x replicas (the autoscaling maximum when autoscaled); a redeploy
  counts its new configuration instead of its old one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt, ValidationError

from joey.errors import JoeyError, QuotaExceededError
from joey.platform import steps as step_json

if TYPE_CHECKING:
    from joey.platform.context import Context
    from joey.platform.store import DeploymentRow, Store
    from joey.spec import DeploymentSpec

SETTING_KEY = "quotas"
"""The store's ``installation_settings`` key of the policy an admin set."""
DEFAULT = "unlimited"
LIMITS = ("max_users", "max_deployed_pipelines", "max_steps_per_pipeline", "max_cpu_cores")
_EPSILON = 1e-9


class QuotaPolicy(BaseModel):
    """The limits; None lifts one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: NonNegativeInt | None = None
    """Active users (a service's accounts), admins included."""
    max_deployed_pipelines: NonNegativeInt | None = None
    max_steps_per_pipeline: NonNegativeInt | None = None
    """Model steps, splits and shadow deploys of one pipeline."""
    max_cpu_cores: NonNegativeFloat | None = None
    """CPU cores the deployments of every deployed pipeline reserve at their most replicas."""


PRESETS: dict[str, QuotaPolicy] = {
    "unlimited": QuotaPolicy(),
    # Wallaroo Community Edition's limits.
    "community": QuotaPolicy(max_users=2, max_deployed_pipelines=2, max_steps_per_pipeline=5, max_cpu_cores=32),
}


@dataclass(frozen=True)
class Quotas:
    """The policy in force and where it comes from."""

    policy: QuotaPolicy
    preset: str | None
    """The preset it starts from; None: limits only (on top of ``unlimited``)."""
    source: str
    """``JOEY_QUOTAS``, or ``admin`` when an admin set it through the service."""

    def origin(self, limit: str) -> str:
        """Where ``limit``'s value comes from, for an error message."""
        value = getattr(self.policy, limit)
        if self.preset is not None and getattr(PRESETS[self.preset], limit) == value:
            return f"preset {self.preset}"
        return "JOEY_QUOTAS" if self.source == "JOEY_QUOTAS" else "quota policy set by an admin"

    def to_json(self) -> dict[str, Any]:
        return {"preset": self.preset, "source": self.source, "policy": self.policy.model_dump()}


@dataclass(frozen=True)
class QuotaUsage:
    """What the installation uses now, against the limits."""

    users: int
    deployed_pipelines: int
    steps_per_pipeline: int
    """The most steps a deployed pipeline has."""
    cpu_cores: float

    def by_limit(self) -> dict[str, float]:
        """Each limit's name -> the use it is compared with."""
        return {"max_users": self.users, "max_deployed_pipelines": self.deployed_pipelines,
                "max_steps_per_pipeline": self.steps_per_pipeline, "max_cpu_cores": self.cpu_cores}

    def to_json(self) -> dict[str, Any]:
        return {"users": self.users, "deployed_pipelines": self.deployed_pipelines,
                "steps_per_pipeline": self.steps_per_pipeline, "cpu_cores": self.cpu_cores}


# -- the policy -------------------------------------------------------------------------------


def parse_quotas(value: str | Mapping[str, Any]) -> tuple[QuotaPolicy, str | None]:
    """``JOEY_QUOTAS`` (or a stored policy) -> the limits and the preset they start from.

    A preset's name, or JSON (text or a mapping) of limits with an optional ``preset``.
    ``ValueError`` naming what is wrong otherwise.
    """
    if isinstance(value, str):
        text = value.strip()
        if text in PRESETS:
            return PRESETS[text], text
        if not text.startswith("{"):
            raise ValueError(f"expected a preset ({', '.join(PRESETS)}) or JSON like "
                             f'{{"preset": "community", "max_users": 5}}, got {value!r}')
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"expected a JSON object, got {type(loaded).__name__}")
        value = loaded
    fields = dict(value)
    preset = fields.pop("preset", None)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset: expected one of {list(PRESETS)}, got {preset!r}")
    base = PRESETS[preset if preset is not None else DEFAULT]
    try:
        policy = QuotaPolicy.model_validate({**base.model_dump(), **fields})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{problems} (limits: {', '.join(LIMITS)})") from None
    return policy, preset


def current(store: Store, default: str) -> Quotas:
    """The policy in force: the one an admin set (in ``store``), else ``default`` (``JOEY_QUOTAS``,
    a ``JoeyError`` naming it when it is not valid)."""
    stored = store.get_setting(SETTING_KEY)
    if stored is not None:
        policy, preset = parse_quotas(stored)
        return Quotas(policy, preset, "admin")
    return from_setting(default)


def from_setting(value: str) -> Quotas:
    """``JOEY_QUOTAS``'s policy; a ``JoeyError`` naming the setting when it is not valid."""
    try:
        policy, preset = parse_quotas(value)
    except ValueError as exc:
        raise JoeyError(f"bad JOEY_QUOTAS setting: {exc}") from None
    return Quotas(policy, preset, "JOEY_QUOTAS")


def set_policy(store: Store, preset: str | None, limits: Mapping[str, Any], default: str) -> Quotas:
    """Store the admin's policy (``preset``, default ``unlimited``, with ``limits`` on top) and
    return it; ``ValueError`` when it is not valid. A policy below the current use is kept: it
    refuses what would add to the use, and takes nothing away."""
    stored = {"preset": preset or DEFAULT, **limits}
    parse_quotas(stored)
    store.set_setting(SETTING_KEY, stored)
    return current(store, default)


def reset_policy(store: Store, default: str) -> Quotas:
    """Forget the admin's policy: ``JOEY_QUOTAS`` applies again."""
    store.set_setting(SETTING_KEY, None)
    return current(store, default)


# -- the use ----------------------------------------------------------------------------------


def step_count(definition: Iterable[dict[str, Any]]) -> int:
    """The steps of Wallaroo's definition JSON as the quota counts them (as the deployment spec
    has them): model steps, splits and shadow deploys, not a shadow's bookkeeping or validations."""
    kinds = (step_json.MODEL_INFERENCE, step_json.RANDOM_SPLIT, step_json.KEY_SPLIT)
    return sum(1 for step in definition if next(iter(step)) in kinds)


def _spec(row: DeploymentRow) -> DeploymentSpec:
    from joey.spec import DeploymentSpec

    return DeploymentSpec.from_json(row.spec_json)


def _cores(specs: Iterable[DeploymentSpec]) -> float:
    specs = list(specs)
    if not specs:
        return 0.0
    from joey.cluster.replicas import reserved_cpus

    return round(sum(reserved_cpus(spec) for spec in specs), 6)


def active_users(store: Store) -> int:
    return sum(1 for user in store.accounts.list_users() if user.active)


def usage(context: Context) -> QuotaUsage:
    """The installation's use now, as the checks count it."""
    store = context.store
    specs = [_spec(row) for row in store.active_deployments()]
    return QuotaUsage(users=active_users(store), deployed_pipelines=len(specs),
                      steps_per_pipeline=max((len(s.steps) for s in specs), default=0),
                      cpu_cores=_cores(specs))


def report(context: Context) -> dict[str, Any]:
    """The policy in force, its preset and source, and the use against it (``get_quotas``)."""
    return {**current(context.store, context.settings.quotas).to_json(), "usage": usage(context).to_json()}


# -- the checks -------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{round(value, 6):g}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def check_invite(store: Store, default: str) -> None:
    """One more user fits in ``max_users``."""
    quotas = current(store, default)
    allowed = quotas.policy.max_users
    if allowed is None:
        return
    users = active_users(store)
    if users + 1 > allowed:
        raise QuotaExceededError("max_users", users, allowed, _count(users, "user"), quotas.origin("max_users"))


def check_steps(quotas: Quotas, pipeline: str, steps: int) -> None:
    """The pipeline's steps fit in ``max_steps_per_pipeline``."""
    allowed = quotas.policy.max_steps_per_pipeline
    if allowed is not None and steps > allowed:
        raise QuotaExceededError("max_steps_per_pipeline", steps, allowed,
                                 f"pipeline {pipeline!r} has {_count(steps, 'step')}", quotas.origin("max_steps_per_pipeline"))


def check_version(context: Context, pipeline: str, definition: Iterable[dict[str, Any]]) -> None:
    """A version with ``definition`` may be saved (its steps fit)."""
    check_steps(current(context.store, context.settings.quotas), pipeline, step_count(definition))


def check_deploy(context: Context, pipeline_id: int, spec: DeploymentSpec) -> None:
    """Deploying ``spec`` as pipeline ``pipeline_id`` (first deploy or redeploy) stays within
    every limit: its steps, the deployed pipelines, and the CPU cores of every deployment with
    this pipeline's replaced by ``spec``'s."""
    quotas = current(context.store, context.settings.quotas)
    policy = quotas.policy
    check_steps(quotas, spec.pipeline, len(spec.steps))
    if policy.max_deployed_pipelines is None and policy.max_cpu_cores is None:
        return
    active = context.store.active_deployments()
    others = [row for row in active if row.pipeline_id != pipeline_id]
    redeploy = len(others) < len(active)
    allowed_pipelines = policy.max_deployed_pipelines
    if allowed_pipelines is not None and not redeploy and len(others) + 1 > allowed_pipelines:
        raise QuotaExceededError("max_deployed_pipelines", len(others), allowed_pipelines,
                                 f"{len(others)} deployed", quotas.origin("max_deployed_pipelines"))
    allowed_cores = policy.max_cpu_cores
    if allowed_cores is not None:
        reserved = _cores(_spec(row) for row in others)
        asked = _cores([spec])
        if reserved + asked > allowed_cores + _EPSILON:
            raise QuotaExceededError(
                "max_cpu_cores", reserved, allowed_cores,
                f"{_number(reserved)} cores reserved by other pipelines, pipeline {spec.pipeline!r} "
                f"asks {_number(asked)}", quotas.origin("max_cpu_cores"))


__all__ = [
    "LIMITS",
    "PRESETS",
    "QuotaPolicy",
    "QuotaUsage",
    "Quotas",
    "check_deploy",
    "check_invite",
    "check_steps",
    "check_version",
    "current",
    "from_setting",
    "parse_quotas",
    "report",
    "reset_policy",
    "set_policy",
    "step_count",
    "usage",
]
