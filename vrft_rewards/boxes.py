"""Box geometry: pairwise and paired IoU family, format conversion.

Thin facade over the native core (``csrc/geometry``): normalise the inputs, check the contract,
make one core call, wrap the result.  Formulas, edge-case rules and the differences from
torchvision are documented in ``docs/geometry.md``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ._arrays import ArrayKind, is_torch_tensor, to_numpy, wrap_like
from ._ext import _C
from ._options import BOX_FORMATS, IOU_KINDS, check_option

__all__ = ["MAX_COORDINATE", "box_iou", "convert_boxes", "paired_box_iou"]

#: The largest coordinate magnitude the geometry accepts (2**510 ~ 3.4e153: beyond it float64
#: areas and squared distances overflow; csrc/geometry/iou.h, max_safe_coordinate).  The parser
#: drops boxes beyond it; rewards and evaluations treat a box pushed past it like an unreadable one.
MAX_COORDINATE = 2.0**510

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


# ---- argument checks ------------------------------------------------------------------------


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def _input_dtype(x: Any, name: str) -> np.dtype | None:
    """The dtype ``x`` arrives with (None for lists and other sequences)."""
    if is_torch_tensor(x):
        text = str(x.dtype).replace("torch.", "")
        if text in ("float32", "float16", "bfloat16"):
            return _F32  # computed in float32 (see Notes of box_iou)
        if text == "float64":
            return _F64
        if text == "bool" or x.dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got a torch.{text} tensor")
        return _F64  # integer tensors
    if isinstance(x, np.ndarray):
        dt = x.dtype if x.dtype.isnative else x.dtype.newbyteorder("=")  # big-endian: converted
        if dt == np.float32 or dt == np.float16:
            return _F32
        if dt == np.float64:
            return _F64
        if dt.kind in "iu":
            return _F64
        raise TypeError(f"{name} must hold real numbers (float or integer), got dtype {x.dtype}")
    return None


def _result_dtype(*arrays: tuple[Any, str]) -> np.dtype:
    """float32 when every input is a float32 (or float16/bfloat16) array, else float64.

    Lists, integer arrays and any float64 input make the computation float64: mixing float32 and
    float64 never silently loses the float64 input's precision.
    """
    dtypes = [_input_dtype(x, name) for x, name in arrays]
    return _F32 if all(d == _F32 for d in dtypes) else _F64


def _boxes(x: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """``x`` as a C-contiguous ``(N, 4)`` array of ``dtype`` (zero-copy when it already is one)."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an (N, 4) array, tensor or nested list of numbers, got {type(x).__name__}")
    if isinstance(x, np.ndarray) and x.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (float or integer), got dtype {x.dtype}")
    if isinstance(x, (list, tuple)) and len(x) == 0:
        return np.empty((0, 4), dtype=dtype)
    arr = to_numpy(x, name)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (float or integer), got dtype {arr.dtype}")
    if arr.ndim == 1 and arr.shape[0] == 0:
        arr = arr.reshape(0, 4)  # an empty 1-D array (e.g. one empty slice) means no boxes
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(arr.shape)}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _is_cuda(x: Any) -> bool:
    return is_torch_tensor(x) and x.device.type == "cuda"


def _cuda_path(op: str, *args: Any, **kwargs: Any) -> Any:
    """The CUDA branch of every geometry function; the one place the CUDA kernels plug in.

    ``op`` is ``"box_iou"``, ``"paired_box_iou"`` or ``"convert_boxes"`` and ``args`` /
    ``kwargs`` are the public function's arguments, untouched.  The kernels and their contract
    (devices, dtypes, streams, synchronisations) are in ``vrft_rewards/_cuda.py`` and
    ``docs/cuda.md``.
    """
    from ._cuda import convert_cuda, overlap_cuda

    if op == "convert_boxes":
        return convert_cuda(*args, **kwargs)
    return overlap_cuda(op, *args, **kwargs)


def _check_out(out: Any, shape: tuple, dtype: np.dtype, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    """The numpy view of a caller's ``out`` buffer, after checking type, dtype, shape, layout."""
    if is_torch_tensor(out):
        if out.device.type != "cpu":
            raise TypeError(f"out is a {out.device.type} tensor; CPU inputs need a CPU out tensor")
        text = str(out.dtype).replace("torch.", "")
        if text != dtype.name:
            raise TypeError(f"out must have dtype {dtype.name} (the result dtype of the inputs), got torch.{text}")
        if out.requires_grad:
            raise ValueError("out must not require grad")
        if not out.is_contiguous():
            raise ValueError("out must be C-contiguous")
        arr = out.detach().numpy()
    elif isinstance(out, np.ndarray):
        if out.dtype != dtype and out.dtype.newbyteorder("=") == dtype:
            raise TypeError(f"out must have dtype {dtype.name} in native byte order, got {out.dtype} (big-endian)")
        if out.dtype != dtype:
            raise TypeError(f"out must have dtype {dtype.name} (the result dtype of the inputs), got {out.dtype}")
        arr = out
    else:
        raise TypeError(f"out must be a numpy array or a torch CPU tensor, got {type(out).__name__}")
    if tuple(arr.shape) != shape:
        raise ValueError(f"out must have shape {shape}, got {tuple(arr.shape)}")
    if not arr.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not arr.flags.writeable:
        raise ValueError("out must be writeable")
    if not arr.flags.aligned:
        raise ValueError("out must be aligned to its dtype (a view at an odd byte offset cannot be written in place)")
    for x in inputs:
        if arr.size and x.size and np.may_share_memory(arr, x):
            raise ValueError("out must not share memory with boxes1 or boxes2")
    return arr


def _overlap(op: str, boxes1: Any, boxes2: Any, fmt: str, kind: str, clamp: Any, out: Any, paired: bool) -> Any:
    check_option(fmt, BOX_FORMATS, "fmt")
    check_option(kind, IOU_KINDS, "kind")
    clamp = _check_flag(clamp, "clamp")
    if _is_cuda(boxes1) or _is_cuda(boxes2) or _is_cuda(out):
        return _cuda_path(op, boxes1, boxes2, fmt=fmt, kind=kind, clamp=clamp, out=out)
    like = ArrayKind.of(boxes1, boxes2)
    dtype = _result_dtype((boxes1, "boxes1"), (boxes2, "boxes2"))
    a = _boxes(boxes1, "boxes1", dtype)
    b = _boxes(boxes2, "boxes2", dtype)
    if paired:
        if a.shape[0] != b.shape[0]:
            raise ValueError(f"boxes1 and boxes2 must have the same length, got {a.shape[0]} and {b.shape[0]}")
        shape: tuple = (a.shape[0],)
        fn: Callable = _C.paired_iou_f32 if dtype == _F32 else _C.paired_iou_f64
    else:
        shape = (a.shape[0], b.shape[0])
        fn = _C.pairwise_iou_f32 if dtype == _F32 else _C.pairwise_iou_f64
    if out is None:
        result = np.empty(shape, dtype=dtype)
        fn(a, b, fmt, kind, result, clamp)
        return wrap_like(result, like)
    fn(a, b, fmt, kind, _check_out(out, shape, dtype, (a, b)), clamp)
    return out


# ---- public functions -----------------------------------------------------------------------


def box_iou(
    boxes1: Any, boxes2: Any, *, fmt: str = "xyxy", kind: str = "iou", clamp: bool = False, out: Any = None
) -> Any:
    """Pairwise overlap of two sets of boxes: IoU, GIoU, DIoU or CIoU.

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4)
        First set of boxes: a numpy array, a torch tensor or a nested list of numbers
        (float32, float64 or integer; see Notes for the computation dtype).  torch CUDA tensors
        (float32 or float64, both inputs on one device and of one dtype) run the CUDA kernels on
        the current stream and give a CUDA tensor (``docs/cuda.md``).
    boxes2 : array_like, shape (M, 4)
        Second set of boxes, same conventions.
    fmt : {"xyxy", "xywh", "cxcywh"}, default "xyxy"
        Layout of both sets: corners ``(x1, y1, x2, y2)``, COCO ``(x, y, w, h)`` or centre
        ``(cx, cy, w, h)``. Other layouts are converted to xyxy exactly as
        ``torchvision.ops.box_convert`` does.
    kind : {"iou", "giou", "diou", "ciou"}, default "iou"
        The measure: torchvision's ``box_iou``, ``generalized_box_iou``, ``distance_box_iou``
        or ``complete_box_iou`` (``eps=1e-7``).
    clamp : bool, default False
        Accept inverted boxes (``x2 < x1`` or ``y2 < y1``; negative ``w``/``h``) and clamp them
        to zero size (``x2 := max(x2, x1)``, ``y2 := max(y2, y1)``; ``w := max(w, 0)``) instead
        of raising.
    out : ndarray or torch.Tensor, shape (N, M), optional
        Buffer to write the result into: C-contiguous, writeable, of the result dtype, not
        overlapping the inputs. It is returned as given.

    Returns
    -------
    ndarray or torch.Tensor, shape (N, M)
        ``result[i, j] = kind(boxes1[i], boxes2[j])``, float32 or float64 (Notes), as a torch
        tensor when either input is one, else as a numpy array (or ``out``).

    Raises
    ------
    TypeError
        If an input is not an array, tensor or list of real numbers (strings, booleans, complex),
        or if ``out`` has the wrong type or dtype.
    ValueError
        If a shape is not ``(N, 4)``, ``fmt``/``kind`` is not one of its names (a non-string
        included), ``out`` has the wrong shape or
        layout, or a box is invalid: ``"boxes1[3] is invalid: inverted box (x2 < x1 or y2 < y1)"``;
        invalid means a NaN/inf coordinate, an inverted box (unless ``clamp=True``), or a
        coordinate beyond ``2**62`` (float32) / ``2**510`` (float64), where the arithmetic could
        overflow.
    RuntimeError
        For CUDA tensors when vrft_rewards was built without its CUDA module or sees no device,
        and with CUDA's message when a kernel launch fails.

    Notes
    -----
    With :math:`I` the intersection area, :math:`U` the union area, :math:`C` the area of the
    smallest enclosing box, :math:`\\rho^2` the squared distance between the box centres,
    :math:`c^2` the squared diagonal of the enclosing box and :math:`\\epsilon = 10^{-7}`:

    .. math::

        \\mathrm{IoU} = I / U, \\qquad
        \\mathrm{GIoU} = \\mathrm{IoU} - (C - U) / C, \\qquad
        \\mathrm{DIoU} = \\mathrm{IoU} - \\rho^2 / (c^2 + \\epsilon),

        \\mathrm{CIoU} = \\mathrm{DIoU} - \\alpha v, \\quad
        v = \\tfrac{4}{\\pi^2}\\left(\\arctan\\tfrac{w_1}{h_1} - \\arctan\\tfrac{w_2}{h_2}\\right)^2,
        \\quad \\alpha = v / (1 - \\mathrm{IoU} + v + \\epsilon).

    Each value is computed with torchvision's operations in torchvision's order, so it equals
    the torchvision formula to the last bit for IoU/GIoU/DIoU (and within an ulp or so for CIoU,
    whose ``atan`` differs between math libraries). Edge cases where torchvision returns NaN
    follow fixed rules instead: zero union gives IoU 0; a zero-area enclosing box gives GIoU 0;
    a point box (``w = h = 0``) has no CIoU aspect term (``v = 0``); ``h = 0 < w`` gives
    ``atan(inf) = pi/2``, as in torchvision. See ``docs/geometry.md``.

    The computation dtype is float32 when every input is float32 (float16 and bfloat16 are
    computed as float32), and float64 otherwise (float64, integer or list input). The matrix is
    written once by a vectorised loop split over the native thread pool, with the GIL released.

    Examples
    --------
    >>> import numpy as np
    >>> import vrft_rewards as vr
    >>> a = np.array([[0.0, 0.0, 2.0, 2.0]])
    >>> b = np.array([[1.0, 1.0, 3.0, 3.0], [4.0, 4.0, 5.0, 5.0]])
    >>> vr.box_iou(a, b)
    array([[0.14285714, 0.        ]])
    >>> vr.box_iou(a, b, kind="giou").round(4)
    array([[-0.0794, -0.8   ]])
    >>> vr.box_iou([[0, 0, 2, 2]], [[1, 1, 2, 2]], fmt="xywh")
    array([[0.14285714]])
    """
    return _overlap("box_iou", boxes1, boxes2, fmt, kind, clamp, out, paired=False)


def paired_box_iou(
    boxes1: Any, boxes2: Any, *, fmt: str = "xyxy", kind: str = "iou", clamp: bool = False, out: Any = None
) -> Any:
    """Overlap of matching rows of two sets of boxes: ``result[i] = kind(boxes1[i], boxes2[i])``.

    Parameters
    ----------
    boxes1, boxes2 : array_like, shape (N, 4)
        The two sets, same length; numpy arrays, torch tensors (CPU or CUDA, as
        :func:`box_iou`) or nested lists.
    fmt : {"xyxy", "xywh", "cxcywh"}, default "xyxy"
        Layout of both sets (see :func:`box_iou`).
    kind : {"iou", "giou", "diou", "ciou"}, default "iou"
        The measure (see :func:`box_iou`).
    clamp : bool, default False
        Clamp inverted boxes to zero size instead of raising (see :func:`box_iou`).
    out : ndarray or torch.Tensor, shape (N,), optional
        Buffer for the result (C-contiguous, writeable, result dtype); returned as given.

    Returns
    -------
    ndarray or torch.Tensor, shape (N,)
        The diagonal of ``box_iou(boxes1, boxes2)``, bit for bit, without computing the matrix.

    Raises
    ------
    TypeError, ValueError, RuntimeError
        As :func:`box_iou`; also ``ValueError`` when the lengths differ.

    Notes
    -----
    Formulas, dtype rules and edge cases are those of :func:`box_iou`.

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> vr.paired_box_iou([[0, 0, 2, 2], [0, 0, 1, 1]], [[1, 1, 3, 3], [0, 0, 1, 1]])
    array([0.14285714, 1.        ])
    """
    return _overlap("paired_box_iou", boxes1, boxes2, fmt, kind, clamp, out, paired=True)


def convert_boxes(boxes: Any, src: str, dst: str) -> Any:
    """Convert boxes between the ``xyxy``, ``xywh`` and ``cxcywh`` layouts.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
        Boxes in layout ``src``: numpy array, torch tensor or nested list.  A float32/float64
        CUDA tensor is converted on its device (torch elementwise ops, same bits).
    src, dst : {"xyxy", "xywh", "cxcywh"}
        Source and destination layouts.

    Returns
    -------
    ndarray or torch.Tensor, shape (N, 4)
        A new array (also when ``src == dst``) of the input's array type; float32 for float32
        (float16, bfloat16) input, else float64.

    Raises
    ------
    TypeError
        If ``boxes`` is not an array of real numbers.
    ValueError
        If the shape is not ``(N, 4)``, ``src``/``dst`` is not one of the layouts (a non-string
        included), or a coordinate is NaN/inf
        (``"boxes[2] is invalid: non-finite coordinate (NaN or inf)"``).
    RuntimeError
        For CUDA tensors when vrft_rewards was built without its CUDA module.

    Notes
    -----
    The arithmetic is ``torchvision.ops.box_convert``'s, bit for bit:
    ``xywh -> xyxy``: :math:`(x, y, x + w, y + h)`;
    ``cxcywh -> xyxy``: :math:`(c_x - 0.5 w, c_y - 0.5 h, c_x + 0.5 w, c_y + 0.5 h)`;
    ``xyxy -> xywh``: :math:`(x_1, y_1, x_2 - x_1, y_2 - y_1)`;
    ``xyxy -> cxcywh``: :math:`((x_1 + x_2) / 2, (y_1 + y_2) / 2, x_2 - x_1, y_2 - y_1)`;
    ``xywh <-> cxcywh`` go through ``xyxy``. Inverted boxes are converted as they are (no
    check, no clamp).

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> vr.convert_boxes([[10, 20, 30, 40]], "xywh", "xyxy")
    array([[10., 20., 40., 60.]])
    >>> vr.convert_boxes([[10, 20, 40, 60]], "xyxy", "cxcywh")
    array([[25., 40., 30., 40.]])
    """
    check_option(src, BOX_FORMATS, "src")
    check_option(dst, BOX_FORMATS, "dst")
    if _is_cuda(boxes):
        return _cuda_path("convert_boxes", boxes, src, dst)
    like = ArrayKind.of(boxes)
    dtype = _result_dtype((boxes, "boxes"))
    arr = _boxes(boxes, "boxes", dtype)
    result = np.empty(arr.shape, dtype=dtype)
    fn = _C.convert_boxes_f32 if dtype == _F32 else _C.convert_boxes_f64
    fn(arr, src, dst, result)
    return wrap_like(result, like)
