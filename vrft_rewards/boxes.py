"""Box geometry: pairwise and paired IoU family, format conversion.

Thin facade: normalise the inputs, check the contract, make one core call, wrap the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import ArrayKind, result_float_dtype, to_numpy, wrap_like
from ._ext import _C

__all__ = ["box_iou", "paired_box_iou"]

_FORMATS = ("xyxy", "xywh", "cxcywh")
_KINDS = ("iou", "giou", "diou", "ciou")


def _check_option(value: str, allowed: tuple, name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _boxes(x: Any, name: str, dtype: np.dtype) -> np.ndarray:
    arr = to_numpy(x, name, dtype)
    if arr.ndim == 1 and arr.shape[0] == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(arr.shape)}")
    return arr


def box_iou(boxes1: Any, boxes2: Any, *, fmt: str = "xyxy", kind: str = "iou") -> Any:
    """Pairwise overlap between two sets of boxes: ``(N, 4), (M, 4) -> (N, M)``."""
    _check_option(fmt, _FORMATS, "fmt")
    _check_option(kind, _KINDS, "kind")
    like = ArrayKind.of(boxes1, boxes2)
    dtype = result_float_dtype(boxes1, boxes2)
    a = _boxes(boxes1, "boxes1", dtype)
    b = _boxes(boxes2, "boxes2", dtype)
    out = np.empty((a.shape[0], b.shape[0]), dtype=dtype)
    fn = _C.pairwise_iou_f32 if dtype == np.float32 else _C.pairwise_iou_f64
    fn(a, b, fmt, kind, out)
    return wrap_like(out, like)


def paired_box_iou(boxes1: Any, boxes2: Any, *, fmt: str = "xyxy", kind: str = "iou") -> Any:
    """Elementwise overlap of matching rows: ``(N, 4), (N, 4) -> (N,)``."""
    _check_option(fmt, _FORMATS, "fmt")
    _check_option(kind, _KINDS, "kind")
    like = ArrayKind.of(boxes1, boxes2)
    dtype = result_float_dtype(boxes1, boxes2)
    a = _boxes(boxes1, "boxes1", dtype)
    b = _boxes(boxes2, "boxes2", dtype)
    out = np.empty((a.shape[0],), dtype=dtype)
    fn = _C.paired_iou_f32 if dtype == np.float32 else _C.paired_iou_f64
    fn(a, b, fmt, kind, out)
    return wrap_like(out, like)
