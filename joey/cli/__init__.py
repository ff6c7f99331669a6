"""The ``joey`` command: a local Ray head, models, pipelines, inference, logs, KubeRay manifests.

Every command takes ``--help`` and ``--json`` (machine-readable JSON on stdout). Exit codes:
0 done; 1 a joey error (failed deploy, bad input, no Ray to join), its message on stderr;
2 a usage error (click's). Settings come from ``JOEY_*`` variables (``joey.config.Settings``).
Commands that need Ray join ``JOEY_RAY_ADDRESS``, else the head ``joey up`` started for
``JOEY_HOME``; never a Ray of their own, which would die with the command.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from joey.cli._common import JoeyGroup, State, emit, output_options, settings
from joey.cli.dashboard import dashboard
from joey.cli.head import start_head, stop_head
from joey.cli.models import models
from joey.cli.pipelines import infer, kuberay, logs, pipelines
from joey.cli.quotas import quotas

__all__ = ["cli", "main"]


@click.group("joey", cls=JoeyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", "-v", is_flag=True, help="Show Ray's and joey's informational logs.")
@click.version_option(package_name="joey", prog_name="joey")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """joey: serve ML pipelines on Ray Serve.

    `joey up` starts a local Ray head for the other commands (`joey down` stops it);
    with JOEY_RAY_ADDRESS set they join that cluster instead.
    """
    state = ctx.ensure_object(State)
    if state.configure_logging:
        logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
        if not verbose:
            logging.disable(logging.INFO)  # Ray's "Connecting to ...", Serve's "Started ..."


@cli.command()
@click.option("--num-cpus", type=click.IntRange(min=1), help="CPUs the head offers (default: "
              "JOEY_RAY_NUM_CPUS, else all of the machine's).")
@click.option("--dashboard-port", type=click.IntRange(1, 65535),
              help="Ray dashboard port (default 8265, or a free one when taken).")
@click.option("--port", type=click.IntRange(1, 65535), help="GCS port (default: a free one).")
@click.option("--http-port", type=click.IntRange(1, 65535),
              help="Serve's HTTP port (default JOEY_HTTP_PORT, 8000).")
@output_options
def up(num_cpus: int | None, dashboard_port: int | None, port: int | None, http_port: int | None,
       as_json: bool) -> None:
    """Start a local Ray head with Serve, in the background, for the other commands.

    Everything listens on 127.0.0.1. What it started is recorded in JOEY_HOME/ray-head.json;
    its output goes to JOEY_HOME/ray-head.log. A no-op when that head already runs.
    """
    config = settings()
    if http_port is not None:
        config = config.model_copy(update={"http_port": http_port})
    if not as_json:
        click.echo("starting a Ray head and Serve (about 20 s) ...", err=True)
    head, started = start_head(config, num_cpus, port, dashboard_port)
    if config.ray_address not in (None, "", "local"):
        click.echo(f"note: JOEY_RAY_ADDRESS={config.ray_address} is set: the other commands join "
                   "that cluster, not this head", err=True)
    data = {"started": started, **head.to_dict()}
    emit(as_json, data, lambda: "\n".join([
        f"Ray head {'started' if started else 'already running'} (pid {head.pid})",
        f"  GCS        {head.gcs_address}",
        f"  dashboard  {head.dashboard_url}",
        f"  Serve      {head.serve_url}",
        f"  log        {head.log}",
        "stop it with `joey down`",
    ]))


@cli.command()
@output_options
def down(as_json: bool) -> None:
    """Stop the Ray head `joey up` started (and everything it runs)."""
    config = settings()
    head, was_running, left = stop_head(config)
    if head is None:
        emit(as_json, {"stopped": False, "running": False},
             f"no Ray head started by `joey up` in {config.home}")
        return
    emit(as_json, {"stopped": was_running, "running": False, "pid": head.pid,
                   "gcs_address": head.gcs_address, "outlived_and_killed": left},
         f"stopped the Ray head (pid {head.pid})" if was_running else
         f"the Ray head (pid {head.pid}) was not running; removed its record")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@output_options
def service(host: str, port: int, as_json: bool) -> None:
    """Serve the control plane over REST (as ``python -m joey.service``), until interrupted."""
    from joey.service.app import serve

    url = f"http://{host}:{port}"
    emit(as_json, {"url": url, "docs": f"{url}/v1/api/docs"}, f"joey service at {url} (docs: {url}/v1/api/docs)")
    serve(settings(), host, port)


cli.add_command(models)
cli.add_command(pipelines)
cli.add_command(infer)
cli.add_command(logs)
cli.add_command(kuberay)
cli.add_command(dashboard)
cli.add_command(quotas)


def main(argv: list[str] | None = None) -> Any:
    """The console script: configures logging, runs the command, exits with its code."""
    return cli.main(args=argv, prog_name="joey", obj=State(configure_logging=True))
