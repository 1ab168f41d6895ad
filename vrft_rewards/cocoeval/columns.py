"""Flat numpy columns: per-record field extraction (errors name the record) and id lookups.

Loading is the one place where Python touches each annotation / result dict (once); everything
after works on the columns.  A missing or malformed field raises ``ValueError`` naming the list,
the record index and the field.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = [
    "MissingFieldError",
    "box_column",
    "check_finite",
    "flag_column",
    "float_column",
    "int_column",
    "positions",
]


class MissingFieldError(ValueError, KeyError):
    """A record lacks a field the evaluation reads: a ``ValueError`` naming the record, and a
    ``KeyError`` as pycocotools / lvis-api raise there (code catching either keeps working)."""

    __str__ = ValueError.__str__  # the message, not KeyError's repr of it


def _locate_missing(records: Sequence[dict], key: str, where: str) -> None:
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise TypeError(f"{where}[{i}] must be a dict, got {type(rec).__name__}")
        if key not in rec:
            raise MissingFieldError(f"{where}[{i}] has no {key!r} field")


def _values(records: Sequence[dict], key: str, where: str, default: Any = None) -> list:
    try:
        if default is None:
            return [r[key] for r in records]
        return [r.get(key, default) for r in records]
    except (KeyError, TypeError, AttributeError):
        _locate_missing(records, key, where)
        raise  # pragma: no cover - _locate_missing always raises here


def _convert(values: list, dtype, records: Sequence[dict], key: str, where: str, shape=None):
    try:
        arr = np.asarray(values, dtype=dtype)
        if shape is not None:
            arr = arr.reshape(shape)
        return arr
    except (TypeError, ValueError, OverflowError):
        for i, v in enumerate(values):
            try:
                one = np.asarray(v, dtype=dtype)
                if shape is not None:
                    one.reshape(shape[1:])
            except (TypeError, ValueError, OverflowError):
                want = "4 numbers [x, y, w, h]" if shape is not None else f"a {np.dtype(dtype).name} number"
                raise ValueError(f"{where}[{i}][{key!r}] must be {want}, got {v!r}") from None
        raise


def int_column(records: Sequence[dict], key: str, where: str, default: Any = None) -> np.ndarray:
    """``records[i][key]`` as int64 (ids).  Floats must be integral (3.0 is id 3; 3.5 is an error)."""
    values = _values(records, key, where, default)
    if not values:
        return np.zeros(0, np.int64)
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError, OverflowError):
        arr = np.asarray(values, dtype=object)
    if arr.ndim == 1 and arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.ndim == 1 and arr.dtype.kind == "f":
        ok = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 2.0**63)
        if ok.all():
            return arr.astype(np.int64)
    for i, v in enumerate(values):
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, np.integer, float, np.floating))
            or (isinstance(v, (float, np.floating)) and not (np.isfinite(v) and float(v).is_integer()))
            or not (-(2**63) <= int(v) < 2**63)
        ):
            raise ValueError(f"{where}[{i}][{key!r}] must be an integer id, got {v!r}")
    raise ValueError(f"{where}: {key!r} must hold integer ids")  # pragma: no cover


def float_column(records: Sequence[dict], key: str, where: str, default: Any = None) -> np.ndarray:
    values = _values(records, key, where, default)
    return _convert(values, np.float64, records, key, where)


def box_column(records: Sequence[dict], key: str, where: str) -> np.ndarray:
    values = _values(records, key, where)
    if not values:
        return np.zeros((0, 4), np.float64)
    return _convert(values, np.float64, records, key, where, shape=(len(values), 4))


def flag_column(records: Sequence[dict], key: str, where: str) -> np.ndarray:
    """Truthiness of ``records[i].get(key, 0)`` as uint8 (iscrowd, ignore)."""
    values = _values(records, key, where, default=0)
    try:
        return (np.asarray(values, dtype=np.float64) != 0).astype(np.uint8)
    except (TypeError, ValueError):
        return np.fromiter((bool(v) for v in values), dtype=np.uint8, count=len(values))


def check_finite(arr: np.ndarray, where: str, key: str) -> None:
    """Raise ``ValueError`` naming the first record whose ``key`` holds NaN or infinity."""
    ok = np.isfinite(arr)
    if arr.ndim > 1:
        ok = ok.all(axis=tuple(range(1, arr.ndim)))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{where}[{i}][{key!r}] must be finite, got {arr[i].tolist()!r}")


def positions(ids: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each of ``ids`` in ``table`` (first occurrence) and a mask of those found.

    Dense id ranges (the usual case) use a lookup table, O(n); others a sorted search.
    """
    ids = np.asarray(ids, dtype=np.int64)
    table = np.asarray(table, dtype=np.int64)
    if len(table) == 0:
        return np.zeros(len(ids), np.int64), np.zeros(len(ids), bool)
    lo, hi = int(table.min()), int(table.max())
    if hi - lo <= 8 * len(table) + 4096:
        lut = np.full(hi - lo + 2, -1, dtype=np.int64)  # last cell: "outside the range"
        lut[(table - lo)[::-1]] = np.arange(len(table) - 1, -1, -1)  # first occurrence wins
        off = ids - lo
        off[(off < 0) | (off > hi - lo)] = hi - lo + 1
        pos = lut[off]
        found = pos >= 0
        return np.where(found, pos, 0), found
    sorter = np.argsort(table, kind="stable")
    st = table[sorter]
    pos = np.minimum(np.searchsorted(st, ids), len(st) - 1)
    found = st[pos] == ids
    return sorter[pos].astype(np.int64), found
