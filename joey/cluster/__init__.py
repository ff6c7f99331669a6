"""Connect to Ray and run, inspect and delete Serve applications. No product logic."""

from joey.cluster.ray_connect import ensure_ray, ensure_serve
from joey.cluster.serve_apps import (
    AppState,
    app_handle,
    app_state,
    call_app,
    call_handle,
    delete_app,
    run_app,
)

__all__ = [
    "AppState",
    "app_handle",
    "app_state",
    "call_app",
    "call_handle",
    "delete_app",
    "ensure_ray",
    "ensure_serve",
    "run_app",
]
