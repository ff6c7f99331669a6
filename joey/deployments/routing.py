"""Which rows go to which model of a split, and putting their answers back in order.

All vectorized over Arrow buffers and numpy (no Python loop over rows): a 10,000-row
request is routed in well under a millisecond.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joey.tables import InferenceData

_PRIME = np.uint64(1099511628211)  # FNV's 64-bit prime: odd, so every power is invertible


def _as_strings(column: pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """The column's values as text (``42``, ``1.5``, ``abc``); nulls as the empty string."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    text = pc.cast(array, pa.large_string())
    return pc.fill_null(text, "") if text.null_count else text


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads nearby hashes over the whole 64-bit range."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_INVERSE = np.uint64(pow(int(_PRIME), -1, 2**64))
_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers_upto(count: int) -> tuple[np.ndarray, np.ndarray]:
    """PRIME**i and PRIME**-i modulo 2^64 for i < count (kept, grown by doubling)."""
    global _powers
    if len(_powers[0]) < count:
        size = max(count, 2 * len(_powers[0]))
        with np.errstate(over="ignore"):
            up = np.concatenate([np.ones(1, dtype=np.uint64),
                                 np.cumprod(np.full(size - 1, _PRIME, dtype=np.uint64), dtype=np.uint64)])
            down = np.concatenate([np.ones(1, dtype=np.uint64),
                                   np.cumprod(np.full(size - 1, _INVERSE, dtype=np.uint64), dtype=np.uint64)])
        _powers = (up, down)
    return _powers


def stable_hash(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each value's text, the same in every process and release of joey."""
    text = _as_strings(column)
    rows = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset:text.offset + rows + 1]
    first, last = int(offsets[0]), int(offsets[-1])
    data_buffer = text.buffers()[2]
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[first:last] if data_buffer is not None
            else np.zeros(0, dtype=np.uint8))
    starts = offsets[:-1] - first
    ends = offsets[1:] - first
    lengths = ends - starts
    # h = sum over a value's bytes of (byte + 1) * PRIME^(position in the value), mod 2^64,
    # from one running sum over all bytes: PRIME^(g - start) = PRIME^g * PRIME^-start.
    up, down = _powers_upto(len(data) + 1)
    with np.errstate(over="ignore"):
        weighted = (data.astype(np.uint64) + np.uint64(1)) * up[:len(data)]
        running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(weighted, dtype=np.uint64)])
        sums = (running[ends] - running[starts]) * down[starts]
        return _mix(sums ^ (lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))


def hash_branches(column: pa.Array | pa.ChunkedArray, weights: Sequence[float]) -> np.ndarray:
    """Branch index of each row: its key's hash, placed on the weights' cumulative shares."""
    unit = (stable_hash(column) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    bounds = np.cumsum(np.asarray(weights, dtype=np.float64))
    bounds /= bounds[-1]
    return np.minimum(np.searchsorted(bounds, unit, side="right"), len(weights) - 1)


def key_branches(column: pa.Array | pa.ChunkedArray, routes: Mapping[str, int]) -> np.ndarray:
    """Branch index of each row: the route its value names, else 0 (the default)."""
    if not routes:
        return np.zeros(len(column), dtype=np.int64)
    values = pa.array(list(routes), pa.large_string())
    found = pc.index_in(_as_strings(column), value_set=values)
    position = found.fill_null(-1).to_numpy(zero_copy_only=False)
    targets = np.asarray(list(routes.values()), dtype=np.int64)
    return np.where(position >= 0, targets[np.maximum(position, 0)], 0)


def draw_branch(weights: Sequence[float], rng: random.Random) -> int:
    """One branch for a whole request, drawn by weight."""
    return rng.choices(range(len(weights)), weights=weights)[0]


def partition(branch: np.ndarray, branches: int) -> list[np.ndarray]:
    """Row indexes of each branch, in request order."""
    order = np.argsort(branch, kind="stable")
    counts = np.bincount(branch, minlength=branches)
    return np.split(order, np.cumsum(counts)[:-1])


def take_rows(data: InferenceData, rows: np.ndarray) -> InferenceData:
    return {name: values[rows] for name, values in data.items()}


def merge_rows(parts: Sequence[tuple[np.ndarray, InferenceData]], rows: int) -> InferenceData:
    """Each branch's answers put back at its rows' places in the request."""
    merged: InferenceData = {}
    for name in parts[0][1]:
        arrays = [answer[name] for _, answer in parts]
        dtype = np.result_type(*arrays)
        shape = (rows, *arrays[0].shape[1:])
        out = np.empty(shape, dtype=dtype)
        for (indexes, _), array in zip(parts, arrays, strict=True):
            out[indexes] = array
        merged[name] = out
    return merged
