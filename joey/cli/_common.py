"""What every command shares: settings, ``--json`` output, names, the SDK client, errors."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from joey.config import Settings
from joey.errors import EntityNotFoundError, JoeyError

if TYPE_CHECKING:
    from joey.platform.client import Client
    from joey.platform.pipeline import Pipeline

F = TypeVar("F", bound=Callable[..., Any])

# Where the command's own output goes while the SDK's prints go to stderr (see stdout_guard).
_STDOUT: ContextVar[TextIO | None] = ContextVar("joey_cli_stdout", default=None)


@dataclass
class State:
    """The root command's state (``ctx.obj``)."""

    configure_logging: bool = False
    """Only ``main()`` (the console script) configures logging; tests invoking the group do not."""
    settings: Settings | None = None


def output_options(function: F) -> F:
    """Every command's ``--json``; and its stdout kept for its own output (:func:`stdout_guard`)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print machine-readable JSON on stdout instead of text.")(
        stdout_guard(function))


def workspace_option(function: F) -> F:
    return click.option("--workspace", "-w", metavar="WORKSPACE",
                        help="Workspace (default: the SDK's default workspace, `default`).")(function)


def settings() -> Settings:
    """Settings from ``JOEY_*`` variables, built once per command."""
    state = click.get_current_context().find_object(State)
    if state is not None and state.settings is not None:
        return state.settings
    try:
        built = Settings()
    except ValueError as exc:  # pydantic's ValidationError
        raise click.ClickException(f"bad JOEY_* setting: {exc}") from exc
    if state is not None:
        state.settings = built
    return built


def client(config: Settings, as_json: bool) -> Client:
    """The SDK; its progress lines (upload, deploy) only for a person, never in ``--json``."""
    from joey.platform.client import Client

    return Client(settings=config, interactive=not as_json)


def plain(value: Any) -> Any:
    """JSON-ready data (datetimes as ISO 8601, paths as strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def stdout_guard(function: F) -> F:
    """Keep stdout for the command's own output (``echo``/``emit``): what the SDK prints while
    the command runs (upload and deploy progress, log warnings) goes to stderr."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        token = _STDOUT.set(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return function(*args, **kwargs)
        finally:
            _STDOUT.reset(token)

    return guarded  # type: ignore[return-value]


def echo(text: str) -> None:
    """A line of the command's output, on stdout."""
    click.echo(text, file=_STDOUT.get())


def emit(as_json: bool, data: Any, text: str | Callable[[], str]) -> None:
    """``data`` as JSON, or ``text`` for a person."""
    if as_json:
        echo(json.dumps(plain(data), indent=2, default=str))
    else:
        echo(text() if callable(text) else text)


# -- names ----------------------------------------------------------------------------------


def split_pipeline(value: str, workspace: str | None) -> tuple[str | None, str]:
    """``WORKSPACE/PIPELINE`` or ``PIPELINE`` (in ``--workspace``, else the default workspace)."""
    if "/" not in value:
        return workspace, value
    named, _, pipeline = value.partition("/")
    if not named or not pipeline or "/" in pipeline:
        raise click.BadParameter(f"{value!r}: use WORKSPACE/PIPELINE or PIPELINE",
                                 param_hint="PIPELINE")
    if workspace is not None and workspace != named:
        raise click.UsageError(f"{value!r} names workspace {named!r} but --workspace says "
                               f"{workspace!r}")
    return named, pipeline


def use_workspace(sdk: Client, workspace: str | None, create: bool = False) -> str:
    """Make ``workspace`` (default: the SDK's default) the client's current one; its name."""
    if workspace is None:
        return sdk.get_current_workspace().name()
    try:
        found = sdk.get_workspace(workspace, create_if_not_exist=create)
    except EntityNotFoundError as exc:
        raise EntityNotFoundError("workspace", workspace) from exc
    return sdk.set_current_workspace(found).name()


def get_pipeline(sdk: Client, workspace: str | None, name: str) -> tuple[str, Pipeline]:
    """The pipeline ``name`` of ``workspace``; a clear error when either does not exist."""
    workspace_name = use_workspace(sdk, workspace)
    try:
        return workspace_name, sdk.get_pipeline(name)
    except EntityNotFoundError as exc:
        raise EntityNotFoundError("pipeline", name, f"in workspace {workspace_name!r}") from exc


# -- errors ---------------------------------------------------------------------------------


class JoeyGroup(click.Group):
    """A group whose joey errors end the command with their message and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except JoeyError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # a file that cannot be read or written
            raise click.ClickException(str(exc)) from exc
