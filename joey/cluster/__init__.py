"""Connect to Ray and run, inspect and delete Serve applications. No product logic.

Names are imported on first use, so importing ``joey.cluster`` imports no Ray:
``ensure_ray`` must run before ray is imported to keep a local Ray on loopback
(see ``joey.cluster.ray_connect``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "ensure_ray": "joey.cluster.ray_connect",
    "ensure_serve": "joey.cluster.ray_connect",
    **{name: "joey.cluster.serve_apps" for name in __all__ if not name.startswith("ensure_")},
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
