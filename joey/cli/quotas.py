"""``joey quotas``: the installation's quotas and what is used of them."""

from __future__ import annotations

from typing import Any

import click

from joey.cli._common import JoeyGroup, client, emit, output_options, settings

_ROWS = (
    ("users", "max_users", "users"),
    ("deployed pipelines", "max_deployed_pipelines", "deployed_pipelines"),
    ("steps per pipeline", "max_steps_per_pipeline", "steps_per_pipeline"),
    ("CPU cores", "max_cpu_cores", "cpu_cores"),
)


@click.group(cls=JoeyGroup)
def quotas() -> None:
    """The installation's quotas (JOEY_QUOTAS, or the policy an admin set)."""


@quotas.command()
@output_options
def show(as_json: bool) -> None:
    """The quota policy in force and the use against each limit.

    Steps per pipeline are the most steps a deployed pipeline has; CPU cores are what the
    deployed pipelines' Serve deployments reserve at their most replicas.
    """
    report = client(settings(), as_json).get_quotas()
    emit(as_json, report, lambda: _text(report))


def _text(report: dict[str, Any]) -> str:
    where = f"preset {report['preset']}" if report["preset"] else "custom limits"
    lines = [f"quotas: {where} (from {report['source']})"]
    for label, limit, use in _ROWS:
        allowed = report["policy"][limit]
        used = report["usage"][use]
        lines.append(f"  {label:<20} {used:>8g} / {'unlimited' if allowed is None else format(allowed, 'g')}")
    return "\n".join(lines)
