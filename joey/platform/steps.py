"""Pipeline steps in Wallaroo's definition JSON (WALLAROO_REFERENCE §3.2).

These dicts are what ``pipeline.steps()`` shows and what a pipeline version stores;
``spec_builder`` reads them back into the deployment spec.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from joey.errors import PipelineConfigError

MODEL_INFERENCE = "ModelInference"
RANDOM_SPLIT = "RandomSplit"
KEY_SPLIT = "MetaValueSplit"
AUDIT = "AuditResults"
MULTI_OUT = "MultiOut"
CHECK = "Check"


def model_ref(model: Any) -> dict[str, str]:
    """How a step names a model version: ``{"name", "version", "sha"}``."""
    return {"name": model.name(), "version": model.version(), "sha": model.sha()}


def model_step(model: Any) -> dict[str, Any]:
    return {MODEL_INFERENCE: {"models": [model_ref(model)]}}


def multi_model_step(models: Iterable[Any]) -> dict[str, Any]:
    refs = [model_ref(m) for m in models]
    if not refs:
        raise PipelineConfigError("a multi-model step needs at least one model")
    return {MODEL_INFERENCE: {"models": refs}}


def random_split(weighted: Iterable[tuple[float, Any]], hash_key: str | None) -> dict[str, Any]:
    pairs = list(weighted)
    numbers = [weight for weight, _ in pairs]
    if not pairs:
        raise PipelineConfigError("a random split needs at least one (weight, model) pair")
    if any(not isinstance(w, int | float) or w < 0 for w in numbers) or not sum(numbers) > 0:
        raise PipelineConfigError(f"random split weights must be non-negative numbers with a positive "
                                  f"sum, got {numbers}")
    weights = [{"model": model_ref(model), "weight": weight} for weight, model in pairs]
    return {RANDOM_SPLIT: {"hash_key": hash_key, "weights": weights}}


def key_split(default: Any, meta_key: str, options: Mapping[str, Any]) -> dict[str, Any]:
    return {KEY_SPLIT: {"split_key": meta_key, "control": model_ref(default),
                        "routes": {str(value): model_ref(model) for value, model in options.items()}}}


def shadow_deploy(champion: Any, challengers: Iterable[Any]) -> list[dict[str, Any]]:
    """Three steps, as Wallaroo's: every model at once, then the audit and multi-out markers."""
    return [multi_model_step([champion, *challengers]), {AUDIT: {"from": 1, "to": None}}, {MULTI_OUT: {}}]


def validations(expressions: Mapping[str, Any]) -> dict[str, Any] | None:
    """One ``Check`` step holding each named polars expression in polars' JSON form.

    A validation named ``count`` is dropped with Wallaroo's warning (it would collide with
    ``anomaly.count``).
    """
    trees = []
    for name, expression in expressions.items():
        if name == "count":
            warnings.warn("'count' is not a valid name for a validation", UserWarning, stacklevel=3)
            continue
        alias = getattr(expression, "alias", None)
        if alias is None:
            raise PipelineConfigError(f"validation {name!r} must be a polars expression, "
                                      f"got {type(expression).__name__}")
        trees.append(alias(name).meta.serialize(format="json"))
    return {CHECK: {"tree": trees}} if trees else None


def is_shadow_at(steps: list[dict[str, Any]], index: int) -> bool:
    """Whether ``steps[index]`` opens a shadow deploy (multi-model, then audit and multi-out)."""
    return (index + 2 < len(steps) and MODEL_INFERENCE in steps[index]
            and AUDIT in steps[index + 1] and MULTI_OUT in steps[index + 2])


def model_names(step: dict[str, Any]) -> list[str]:
    """The names of the models a step runs, whatever its kind."""
    (kind, body), = step.items()
    if kind == MODEL_INFERENCE:
        return [m["name"] for m in body["models"]]
    if kind == RANDOM_SPLIT:
        return [w["model"]["name"] for w in body["weights"]]
    if kind == KEY_SPLIT:
        return [body["control"]["name"], *(m["name"] for m in body["routes"].values())]
    return []
