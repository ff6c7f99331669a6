"""The process tree under a pid, read from ``/proc`` (Linux): a local Ray's GCS, raylet
and workers all descend from the driver that started it."""

from __future__ import annotations

import contextlib
from pathlib import Path


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    return children


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (``root`` itself not included)."""
    children = _children_by_parent()
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found
