"""``joey dashboard``: the web dashboard of the embedded default, on 127.0.0.1."""

from __future__ import annotations

import click

from joey.cli._common import emit, output_options, settings
from joey.cli.head import available_ray

DEFAULT_PORT = 8090


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (127.0.0.1 only).")
@output_options
def dashboard(port: int, as_json: bool) -> None:
    """Serve the web dashboard of the embedded default on 127.0.0.1, until interrupted.

    Embedded mode has no users: each run makes a random token and prints the URL that signs
    in with it (as Jupyter does); anyone without it gets the login page. Pipeline status comes
    from the Ray `joey up` started (or JOEY_RAY_ADDRESS); without one, deployed pipelines show
    `Unknown`. A service (`joey service`) serves its own dashboard at /dashboard/, signing in
    with its users and tokens.
    """
    import uvicorn

    from joey.platform.context import Context
    from joey.service.dashboard import PREFIX, embedded_app

    config = settings()
    ray = available_ray(config)
    app, gate = embedded_app(Context(ray or config, interactive=False), live=ray is not None)
    base = f"http://127.0.0.1:{port}{PREFIX}/"
    login = f"http://127.0.0.1:{port}{PREFIX}/login?token={gate.token}"
    if config.url and not as_json:
        click.echo(f"note: JOEY_URL={config.url} is set: this dashboard shows the embedded store "
                   f"({config.home}); the service's own is at {config.url.rstrip('/')}{PREFIX}/", err=True)
    emit(as_json, {"url": base, "login_url": login, "token": gate.token, "home": str(config.home),
                   "live_status": ray is not None},
         "\n".join([f"joey dashboard at {base}", f"  sign in: {login}",
                    "  (the token is this run's; stop with Ctrl-C)"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
