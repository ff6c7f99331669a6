"""Where each model of a pipeline runs: inside the ingress replicas, or in a deployment of its own.

The composing ingress is a role, not necessarily a deployment of its own. A request pays one
Serve hop per deployment it passes through (~1-4 ms here, see benchmarks/README.md), so by
default (``fuse_steps`` unset):

- the ingress runs inside the first step's replicas when that step is one model in the
  platform's environment: HTTP arrives where the first model computes, and the ingress
  takes that step's resources, replicas and autoscaling;
- a native model that asks for nothing of its own (the engine's resources and replicas, no
  dynamic batching, no isolated environment) runs in the ingress too, as Wallaroo's engine
  runs native steps in one process;
- everything else keeps a deployment of its own: models in an isolated environment, models
  with their own settings, shadow challengers (a slow one must not hold the champion back).

``fuse_steps(True)`` puts every model in the ingress (native chains only); ``fuse_steps(False)``
gives every model its own deployment behind a separate ingress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from joey.autoscaling.config import DeploymentConfig
from joey.autoscaling.serve_options import engine_options, ingress_options
from joey.errors import PipelineConfigError
from joey.spec import ModelStep, ServeOptions, Step

HOSTED_MIN_ONGOING = 64
"""Concurrent requests an ingress that also runs models accepts (unless configured): it
answers HTTP itself, so a low limit would queue clients in front of an idle model."""


def isolated(branch: ModelStep) -> bool:
    """The model runs with its own environment's Python (a requirements.txt of its own)."""
    return branch.model.environment is not None


def place(steps: Sequence[Step], config: DeploymentConfig,
          native: Callable[[ModelStep], bool]) -> tuple[tuple[Step, ...], ServeOptions, int | None]:
    """The steps with ``in_ingress`` decided for every model, the ingress's options, and how
    many requests an ingress replica takes at once before it answers 503 (None: no limit).

    An ingress that runs models answers HTTP itself (straight from HAProxy), so a step's
    ``max_queued_requests`` becomes that limit, counted by joey's ingress: Serve's own
    rejection at the replica would answer in plain text, without the contract's JSON body.
    """
    if config.fuse_steps is False:
        return tuple(steps), ingress_options(config), None
    engine = engine_options(config)
    if config.fuse_steps:
        _check_fusable(steps, native)
        hosted = {id(b) for s in steps for b in s.branches}
        host = engine
    else:
        first = steps[0]
        if first.kind == "model" and not isolated(first):
            host = first.options
            hosted = {id(first)}
        else:
            host = engine
            hosted = set()
        if host == engine:
            hosted |= {id(b) for s in steps for i, b in enumerate(s.branches)
                       if native(b) and not isolated(b) and b.options == engine
                       and not (s.kind == "shadow" and i > 0)}
    if not hosted:
        return tuple(steps), ingress_options(config), None
    placed = tuple(_with_placement(s, hosted) for s in steps)
    ongoing = host.max_ongoing_requests if config.max_ongoing_requests else max(host.max_ongoing_requests,
                                                                                  HOSTED_MIN_ONGOING)
    if host.max_queued_requests < 0:
        return placed, host.model_copy(update={"max_ongoing_requests": ongoing}), None
    limit = ongoing + host.max_queued_requests
    # Serve lets more than the limit into the replica, so the ones past it reach joey's
    # count and are refused at once instead of waiting in Serve's queue.
    serve_limit = limit + HOSTED_MIN_ONGOING
    return placed, host.model_copy(update={"max_ongoing_requests": serve_limit, "max_queued_requests": -1}), limit


def _check_fusable(steps: Sequence[Step], native: Callable[[ModelStep], bool]) -> None:
    """``fuse_steps(True)`` runs chains of single native models only."""
    composed = [s.kind for s in steps if s.kind != "model"]
    if composed:
        raise PipelineConfigError(f"fuse_steps runs chains of single models only; found {composed}")
    apart = [b.model.name for s in steps for b in s.branches if not native(b)]
    if apart:
        raise PipelineConfigError(f"fuse_steps runs native steps only; {apart} are not native")


def _with_placement(step: Step, hosted: set[int]) -> Step:
    if step.kind == "model":
        return step.model_copy(update={"in_ingress": id(step) in hosted})
    branches = tuple(b.model_copy(update={"in_ingress": id(b) in hosted}) for b in step.branches)
    return step.model_copy(update={"branches": branches})
