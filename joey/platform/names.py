"""The naming rule: names become Ray application names and Kubernetes names."""

from __future__ import annotations

import re

from joey.errors import InvalidNameError

_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}")


def validate_name(kind: str, name: str) -> str:
    """``name`` if it is lowercase letters, digits and '-', starts with a letter, <= 63 chars."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError(kind, str(name))
    return name
