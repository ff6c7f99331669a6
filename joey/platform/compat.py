"""Wallaroo arguments joey accepts but does not act on: each warns once per process.

Wallaroo code passes them (``deploy(pipeline_name=...)``, ``upload_model(convert_wait=False)``);
failing would break code that runs fine, and silently dropping them would hide that
joey behaves differently. The warning says what joey does instead.
"""

from __future__ import annotations

import warnings


class IgnoredArgumentWarning(UserWarning):
    """A Wallaroo argument was accepted and ignored; the message says what joey does instead."""


_WARNED: set[tuple[str, str]] = set()


def ignored_argument(where: str, argument: str, why: str) -> None:
    """Warn (once per ``where``/``argument``) that ``argument`` is accepted and ignored."""
    key = (where, argument)
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(f"{where}: {argument}= is accepted for Wallaroo code and ignored: {why}",
                  IgnoredArgumentWarning, stacklevel=3)
