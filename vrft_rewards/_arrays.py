"""Array normalisation at the public boundary.

Public functions accept numpy arrays, torch tensors and nested lists, and return the input's
array type on the input's device.  This module turns an input into a C-contiguous numpy array of
a chosen dtype (zero-copy where possible) and wraps results back.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["ArrayKind", "int64_array", "is_torch_tensor", "to_numpy", "wrap_like", "result_float_dtype"]


def is_torch_tensor(x: Any) -> bool:
    # Checked through sys.modules so that torch is never imported by us: if the caller has a
    # tensor, torch is already loaded.
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class ArrayKind:
    """Remembers what the caller passed so results can be returned in the same type."""

    __slots__ = ("torch", "device")

    def __init__(self, torch: bool = False, device: Any = None) -> None:
        self.torch = torch
        self.device = device

    @classmethod
    def of(cls, *arrays: Any) -> "ArrayKind":
        for a in arrays:
            if is_torch_tensor(a):
                return cls(True, a.device)
        return cls(False, None)


def result_float_dtype(*arrays: Any) -> np.dtype:
    """float32 when every float input is float32, else float64 (lists and ints give float64)."""
    dtypes = []
    for a in arrays:
        if is_torch_tensor(a):
            name = str(a.dtype).replace("torch.", "")
            dtypes.append(np.dtype(name) if name in ("float32", "float64", "float16") else np.dtype("float64"))
        elif isinstance(a, np.ndarray):
            dtypes.append(a.dtype)
        else:
            dtypes.append(np.dtype("float64"))
    if dtypes and all(d == np.float32 or d == np.float16 for d in dtypes):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def to_numpy(x: Any, name: str, dtype: np.dtype | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous numpy array (of ``dtype`` if given).

    Raises ``TypeError`` naming ``name`` for objects that are not arrays, tensors or sequences of
    numbers, and for CUDA tensors (callers with a CUDA path check for those first).
    """
    if is_torch_tensor(x):
        if x.device.type != "cpu":
            raise TypeError(f"{name} is a {x.device.type} tensor; this function takes CPU data")
        x = x.detach()
        if x.dtype.is_complex or str(x.dtype) == "torch.bool":
            raise TypeError(f"{name} must be a real-valued tensor, got {x.dtype}")
        if str(x.dtype) in ("torch.bfloat16",):
            x = x.float()
        arr = x.numpy()
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be an array, a tensor or a nested list of numbers: {exc}") from None
        if arr.dtype == object:
            raise TypeError(
                f"{name} must be an array, a tensor or a nested list of numbers "
                f"(ragged or non-numeric input is not accepted)"
            )
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def wrap_like(result: np.ndarray, kind: ArrayKind) -> Any:
    """Return ``result`` in the caller's array type (numpy, or a torch tensor on its device)."""
    if not kind.torch:
        return result
    import torch

    t = torch.from_numpy(result)
    if kind.device is not None and kind.device.type != "cpu":
        t = t.to(kind.device)
    return t


def int64_array(x: Any, name: str) -> np.ndarray:
    """``x`` (a numpy array or nested list of integers) as a C-contiguous int64 array.

    Integer inputs only: floats raise ``TypeError`` rather than being truncated silently; an empty
    Python list is accepted.
    """
    arr = np.asarray(x)
    if arr.size == 0 and arr.dtype == np.float64 and not isinstance(x, np.ndarray):
        arr = arr.astype(np.int64)  # an empty Python list
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers (int64 offsets), got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds values beyond the int64 range")
    return np.ascontiguousarray(arr, dtype=np.int64)
