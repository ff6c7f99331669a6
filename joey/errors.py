"""Every public joey error, one hierarchy.

Each error carries its HTTP status and structured fields. Fields are passed
positionally to ``Exception.__init__`` and the message is built in ``__str__``,
so an error survives pickling across Ray actors unchanged.

    JoeyError                          500
    ├── InvalidNameError               400  a workspace/model/pipeline name breaks the rule
    ├── EntityNotFoundError            404  missing workspace, model, version or pipeline
    ├── ModelUploadError               400  the artifact cannot be uploaded or loaded
    ├── ModelConfigError               400  configure() asked for what the model cannot take
    ├── FrameworkNotInstalledError     500  the framework's extra is not installed
    ├── PipelineConfigError            400  steps that cannot be deployed as given
    ├── DeploymentError                500  deploy failed; carries the replica's error text
    ├── RayConnectionError             503  the Ray cluster to join does not answer
    ├── RequiredAttributeMissing       500  a record lacks an attribute joey needs (Wallaroo's name)
    ├── InferenceError                 500  anything that failed while answering
    │   ├── InvalidInputError          400  bad request data; names column, expected, actual
    │   ├── UnsupportedMediaTypeError  415  content type neither JSON records nor Arrow
    │   ├── UnknownPathError           404  a path below a pipeline's URL
    │   ├── MethodNotAllowedError      405  anything but POST to a pipeline's URL
    │   ├── ModelError                 500  the model raised, or returned a bad output
    │   ├── ValidationFailedError      500  a validation expression failed on the result
    │   ├── OverCapacityError          503  queues are full; retry after a while
    │   └── InferenceTimeoutError      504  no answer within the timeout
    ├── PipelineNotDeployedError       409  inference on a pipeline that is not deployed
    ├── AuthenticationError            401  no, an unknown, an expired or a revoked token or password
    ├── PermissionDeniedError          403  the caller's role does not allow the action
    ├── QuotaExceededError             403  over an installation quota; names limit, use, allowed
    ├── InvalidRequestError            400  a request about users or roles that cannot be done as asked
    └── ConflictError                  409  a user or workspace of that name exists already
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DeploymentError",
    "EntityNotFoundError",
    "FrameworkNotInstalledError",
    "InferenceError",
    "InferenceTimeoutError",
    "InvalidInputError",
    "InvalidNameError",
    "InvalidRequestError",
    "JoeyError",
    "MethodNotAllowedError",
    "ModelConfigError",
    "ModelError",
    "ModelUploadError",
    "NotSupportedRemotelyError",
    "OverCapacityError",
    "PermissionDeniedError",
    "PipelineConfigError",
    "PipelineNotDeployedError",
    "QuotaExceededError",
    "RayConnectionError",
    "RequiredAttributeMissing",
    "UnknownPathError",
    "UnsupportedMediaTypeError",
    "ValidationFailedError",
    "error_from_body",
]


class JoeyError(Exception):
    """Base of every joey error. ``status`` is the HTTP status it answers with."""

    status: ClassVar[int] = 500
    source: ClassVar[str] = "platform"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)

    def _format(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        text = self.__dict__.get("_text")
        return text if text is not None else self._format()

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__, so errors rebuilt from an HTTP body pickle too.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    @classmethod
    def _args_from_body(cls, body: dict[str, Any]) -> tuple[Any, ...] | None:  # noqa: ARG003 - a hook
        """The structured fields an HTTP error body carries, for ``error_from_body``; None: only
        the message (most errors)."""
        return None

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of the HTTP contract."""
        return {
            "code": self.status,
            "status": "error",
            "error": str(self),
            "source": self.source,
            "kind": type(self).__name__,
        }


class InvalidNameError(JoeyError):
    """A workspace, model or pipeline name breaks the naming rule."""

    status = 400
    RULE: ClassVar[str] = (
        "lowercase letters, digits and '-', starting with a letter, at most 63 characters"
    )

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(kind, name)

    @property
    def kind(self) -> str:
        return str(self.args[0])

    @property
    def name(self) -> str:
        return str(self.args[1])

    def _format(self) -> str:
        return f"invalid {self.kind} name {self.name!r}: use {self.RULE}"


class EntityNotFoundError(JoeyError):
    """A workspace, model, model version or pipeline does not exist."""

    status = 404

    def __init__(self, kind: str, name: str, detail: str = "") -> None:
        super().__init__(kind, name, detail)

    @property
    def kind(self) -> str:
        return str(self.args[0])

    @property
    def name(self) -> str:
        return str(self.args[1])

    def _format(self) -> str:
        detail = f" {self.args[2]}" if self.args[2] else ""
        return f"{self.kind} {self.name!r} does not exist{detail}"


class ModelUploadError(JoeyError):
    """The uploaded artifact cannot be stored or loaded by its runtime."""

    status = 400


class FrameworkNotInstalledError(JoeyError):
    """A runtime's framework is missing; the message names the extra to install."""

    def __init__(self, runtime: str, extra: str) -> None:
        super().__init__(runtime, extra)

    def _format(self) -> str:
        return (
            f"the {self.args[0]!r} runtime needs its framework: "
            f"pip install 'joey[{self.args[1]}]'"
        )


class ModelConfigError(JoeyError):
    """A model version's configuration is not valid for its model."""

    status = 400


class PipelineConfigError(JoeyError):
    """The pipeline's steps cannot be deployed as given."""

    status = 400


class DeploymentError(JoeyError):
    """A deployment failed to start; the message carries the replica's error text."""

    def __init__(self, pipeline: str, detail: str) -> None:
        super().__init__(pipeline, detail)

    def _format(self) -> str:
        return f"deployment of pipeline {self.args[0]!r} failed: {self.args[1]}"


class RayConnectionError(JoeyError):
    """The Ray cluster named by ``JOEY_RAY_ADDRESS`` did not answer in time."""

    status = 503

    def __init__(self, address: str, detail: str) -> None:
        super().__init__(address, detail)

    @property
    def address(self) -> str:
        return str(self.args[0])

    def _format(self) -> str:
        return f"cannot reach the Ray cluster at {self.args[0]!r}: {self.args[1]}"


class RequiredAttributeMissing(JoeyError):
    """A stored record or response lacks an attribute joey needs (``wallaroo.object``'s name)."""

    def __init__(self, class_name: str, attribute: str) -> None:
        super().__init__(class_name, attribute)

    def _format(self) -> str:
        return f"{self.args[0]} is missing required attribute {self.args[1]!r}"


class InferenceError(JoeyError):
    """An inference failed."""

    source = "engine"


class InvalidInputError(InferenceError):
    """Request data does not fit the pipeline's input schema."""

    status = 400

    def __init__(self, column: str | None, expected: str, actual: str) -> None:
        super().__init__(column, expected, actual)

    @property
    def column(self) -> str | None:
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def expected(self) -> str:
        return str(self.args[1])

    @property
    def actual(self) -> str:
        return str(self.args[2])

    def _format(self) -> str:
        where = f"column {self.column!r}" if self.column is not None else "request body"
        return f"{where}: expected {self.expected}, got {self.actual}"


class UnsupportedMediaTypeError(InferenceError):
    """The request's content type is neither pandas-records JSON nor an Arrow file."""

    status = 415

    def __init__(self, content_type: str, supported: tuple[str, ...]) -> None:
        super().__init__(content_type, supported)

    def _format(self) -> str:
        choices = ", ".join(self.args[1])
        return f"unsupported content type {self.args[0]!r}: send one of {choices}"


class UnknownPathError(InferenceError):
    """A request to a path below a pipeline's URL: the pipeline answers at its URL only."""

    status = 404

    def __init__(self, path: str) -> None:
        super().__init__(path)

    def _format(self) -> str:
        return f"no pipeline answers at {self.args[0]!r}: POST to the pipeline's URL"


class MethodNotAllowedError(InferenceError):
    """A request to a pipeline's URL with another method than POST."""

    status = 405

    def __init__(self, method: str) -> None:
        super().__init__(method)

    def _format(self) -> str:
        return f"method {self.args[0]} is not allowed: POST a body to the pipeline's URL"


class ModelError(InferenceError):
    """The model raised, or returned outputs that break its schema."""

    status = 500

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(model, detail)

    @property
    def model(self) -> str:
        return str(self.args[0])

    def _format(self) -> str:
        return f"model {self.args[0]!r} failed: {self.args[1]}"


class ValidationFailedError(InferenceError):
    """A pipeline validation could not be evaluated on a result (names the validation)."""

    status = 500

    def __init__(self, validation: str, detail: str) -> None:
        super().__init__(validation, detail)

    def _format(self) -> str:
        return f"validation {self.args[0]!r} failed: {self.args[1]}"


class OverCapacityError(InferenceError):
    """Every replica's queue is full; retry after ``retry_after_s`` seconds."""

    status = 503

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail, retry_after_s)

    @property
    def retry_after_s(self) -> int:
        return int(self.args[1])

    def _format(self) -> str:
        return (
            "The resources required to run this request are not available "
            f"({self.args[0]}); retry after {self.args[1]}s"
        )


class InferenceTimeoutError(InferenceError):
    """No answer within the timeout."""

    status = 504

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout_s)

    def _format(self) -> str:
        return (
            f"Inference did not return within {self.args[0]}s. "
            "Adjust the timeout if necessary."
        )


class PipelineNotDeployedError(JoeyError):
    """Inference was asked of a pipeline that is not deployed."""

    status = 409

    def __init__(self, pipeline: str) -> None:
        super().__init__(pipeline)

    def _format(self) -> str:
        return f"pipeline {self.args[0]!r} is not deployed: call deploy() first"


class AuthenticationError(JoeyError):
    """The request carries no credentials joey accepts (Wallaroo answers "Jwt is missing")."""

    status = 401

    def __init__(self, reason: str = "Jwt is missing") -> None:
        super().__init__(reason)


class PermissionDeniedError(JoeyError):
    """The caller is known but its role does not allow the action."""

    status = 403

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(action, reason)

    def _format(self) -> str:
        return f"not allowed to {self.args[0]}: {self.args[1]}"


class InvalidRequestError(JoeyError):
    """A request about users or roles that cannot be done as asked: a malformed email, a short
    password, an unknown role, a workspace's last owner."""

    status = 400


class ConflictError(JoeyError):
    """A user or workspace of that name exists already."""

    status = 409


class QuotaExceededError(JoeyError):
    """The action would go over one of the installation's quotas (``joey.platform.quotas``); it
    was refused before anything was created. Names the limit, the use and the allowed value."""

    status = 403

    def __init__(self, limit: str, current: float, allowed: float, use: str, policy: str) -> None:
        super().__init__(limit, current, allowed, use, policy)

    @property
    def limit(self) -> str:
        """The quota's name: ``max_users``, ``max_deployed_pipelines``, ``max_steps_per_pipeline``
        or ``max_cpu_cores``."""
        return str(self.args[0])

    @property
    def current(self) -> float:
        """The use the limit is compared with (for steps: the pipeline's)."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def allowed(self) -> float:
        return self.args[2]  # type: ignore[no-any-return]

    def _format(self) -> str:
        return f"quota {self.args[0]!r} exceeded: {self.args[3]}, {self.args[2]:g} allowed ({self.args[4]})"

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), "quota": {"limit": self.args[0], "current": self.args[1],
                                               "allowed": self.args[2], "use": self.args[3],
                                               "policy": self.args[4]}}

    @classmethod
    def _args_from_body(cls, body: dict[str, Any]) -> tuple[Any, ...] | None:
        quota = body.get("quota")
        if not isinstance(quota, dict):
            return None
        try:
            return (str(quota["limit"]), quota["current"], quota["allowed"], str(quota["use"]),
                    str(quota["policy"]))
        except KeyError:
            return None


class NotSupportedRemotelyError(JoeyError):
    """An SDK method that works in embedded mode but has no endpoint in the service yet."""

    status = 501

    def __init__(self, method: str) -> None:
        super().__init__(method)

    def _format(self) -> str:
        return (f"{self.args[0]} works in embedded mode only; the joey service has no endpoint for it yet "
                "(use the embedded SDK on the service's machine)")


def _rebuild(cls: type[JoeyError], args: tuple[Any, ...], state: dict[str, Any]) -> JoeyError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _public_classes() -> dict[str, type[JoeyError]]:
    return {
        name: cls
        for name, cls in globals().items()
        if isinstance(cls, type) and issubclass(cls, JoeyError)
    }


def error_from_body(body: dict[str, Any]) -> JoeyError:
    """Rebuild the typed error from an HTTP error body (the SDK side of the handler)."""
    cls = _public_classes().get(str(body.get("kind", "")), None)
    message = str(body.get("error", ""))
    if cls is None:
        return InferenceError(message) if body.get("source") == "engine" else JoeyError(message)
    # The rebuilt error keeps its class (so callers catch it) and the server's text.
    error = cls.__new__(cls)
    Exception.__init__(error, *(cls._args_from_body(body) or (message,)))
    error.__dict__["_text"] = message
    return error
