"""Coordinate frames by model family: which frame a Qwen-VL model writes boxes in, and the size of
the image it saw.

* **Qwen2-VL** writes a 0..1000 grid (``"norm1000"``; the Qwen2-VL paper, QwenLM/Qwen3-VL#866).
* **Qwen2.5-VL** writes absolute pixels of the image *after* its processor's ``smart_resize``
  (factor 28; QwenLM/Qwen3-VL#676, #940): converting to the original image needs that size.
* **Qwen3-VL** writes a 0..1000 grid again (factor 32; QwenLM/Qwen3-VL#1741).

The size the model saw is what the Hugging Face processor made of the original image: its
``smart_resize`` with the checkpoint's ``preprocessor_config.json`` limits.  Qwen2-VL and
Qwen2.5-VL checkpoints set ``min_pixels=3136`` (56²) and ``max_pixels=12845056`` (16384·28²),
which override the ``Qwen2VLImageProcessor`` class defaults (56², 28²·1280); Qwen3-VL checkpoints
set ``shortest_edge=65536``, ``longest_edge=16777216`` with patch 16 (factor 32).  A trainer that
passes its own ``max_pixels`` (Visual-RFT's scripts use 401408) changes the size: pass the same
``min_pixels`` / ``max_pixels`` here and to the rewards.

:func:`smart_resize` is qwen-vl-utils' rule (what its ``fetch_image`` does before the processor),
vectorised; the processor's own rule differs from it only for sides below ``factor / 2``
(qwen-vl-utils raises those to ``factor`` before the range check and may return a 0 side after
it, the processor does the opposite), and :func:`model_frame` uses the processor's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._options import MODEL_FRAMES

__all__ = ["MODEL_FRAMES", "ModelFrame", "family", "family_frame", "model_frame", "model_sizes", "smart_resize"]

#: qwen-vl-utils' limit on max(h, w) / min(h, w).
MAX_RATIO = 200

# Per family: the frame its boxes are written in, the resize factor (patch size x merge size),
# and the checkpoints' default min / max pixels.
_FAMILIES = {
    "qwen2-vl": ("norm1000", 28, 56 * 56, 16384 * 28 * 28),
    "qwen2.5-vl": ("abs", 28, 56 * 56, 16384 * 28 * 28),
    "qwen3-vl": ("norm1000", 32, 65536, 16777216),
}


# Substrings of a lower-cased checkpoint id ("_" read as "-") and the family each names, tried in
# this order.
_NAME_PATTERNS = (
    ("qwen2.5-vl", "qwen2.5-vl"),
    ("qwen2-5-vl", "qwen2.5-vl"),
    ("qwen3-vl", "qwen3-vl"),
    ("qwen2-vl", "qwen2-vl"),
)


class ModelFrame(NamedTuple):
    """The frame a model writes boxes in and the size of the image it saw (ints, or int64 arrays)."""

    frame: str
    width: Any
    height: Any


def family(model_name: str) -> str:
    """The family of a model name: a family name (``"qwen2.5-vl"``) or a checkpoint id such as
    ``"Qwen/Qwen2.5-VL-7B-Instruct"`` (case, ``_`` / ``-`` and ``2.5`` / ``2_5`` ignored)."""
    key = model_name.lower().replace("_", "-").rsplit("/", 1)[-1] if isinstance(model_name, str) else ""
    for pattern, name in _NAME_PATTERNS:
        if pattern in key:
            return name
    raise ValueError(
        f"model_name must be one of {', '.join(map(repr, MODEL_FRAMES))} or a checkpoint id naming one, "
        f"got {model_name!r}"
    )


def family_frame(model_name: str) -> str:
    """The frame a model family writes boxes in: ``"norm1000"`` or ``"abs"`` (resized pixels)."""
    return _FAMILIES[family(model_name)][0]


def _limits(factor: Any, min_pixels: Any, max_pixels: Any, default_min: Any = None, default_max: Any = None):
    """Checked (factor, min_pixels, max_pixels); the defaults are 4 * factor**2 and 16384 * factor**2
    unless given."""
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    factor = int(factor)
    lo = (4 * factor * factor if default_min is None else default_min) if min_pixels is None else min_pixels
    hi = (16384 * factor * factor if default_max is None else default_max) if max_pixels is None else max_pixels
    for name, v in (("min_pixels", lo), ("max_pixels", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    if hi < lo:
        raise ValueError(f"max_pixels ({hi}) must be >= min_pixels ({lo})")
    return factor, lo, hi


def _sides(height: Any, width: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(height) == 0 and np.ndim(width) == 0
    h, w = np.broadcast_arrays(np.asarray(height), np.asarray(width))
    for name, a in (("height", h), ("width", w)):
        if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.floor(a))):
            raise ValueError(f"{name} must be whole numbers of pixels, got dtype {a.dtype}")
        if a.size and not np.all(a >= 1):
            raise ValueError(f"{name} must be >= 1 pixel, got {a.min()!r}")
    return h.astype(np.int64), w.astype(np.int64), scalar


def _resize(h: np.ndarray, w: np.ndarray, factor: int, lo: float, hi: float, processor: bool) -> tuple:
    """The smart_resize rule on int64 arrays (every operation in the reference's order)."""
    hf, wf = h.astype(np.float64), w.astype(np.float64)
    ratio = np.maximum(hf, wf) / np.minimum(hf, wf)
    if np.any(ratio > MAX_RATIO):
        i = int(np.flatnonzero(ratio > MAX_RATIO)[0])
        index = tuple(int(k) for k in np.unravel_index(i, h.shape))
        where = "" if h.ndim == 0 else f" (index {index[0] if h.ndim == 1 else index})"
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, got {ratio.reshape(-1)[i]}{where}")
    # round(x / factor) * factor, round half to even as Python's round.
    hb = np.round(hf / factor).astype(np.int64) * factor
    wb = np.round(wf / factor).astype(np.int64) * factor
    if not processor:  # qwen-vl-utils raises small sides to `factor` first
        hb, wb = np.maximum(factor, hb), np.maximum(factor, wb)
    area = (h * w).astype(np.float64)  # exact below 2**53
    big = hb * wb > hi
    small = ~big & (hb * wb < lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta_big = np.sqrt(area / hi)
        beta_small = np.sqrt(lo / area)
        hb_big = np.floor(hf / beta_big / factor).astype(np.int64) * factor
        wb_big = np.floor(wf / beta_big / factor).astype(np.int64) * factor
        hb_small = np.ceil(hf * beta_small / factor).astype(np.int64) * factor
        wb_small = np.ceil(wf * beta_small / factor).astype(np.int64) * factor
    if processor:  # the processor keeps at least one `factor` after shrinking
        hb_big, wb_big = np.maximum(factor, hb_big), np.maximum(factor, wb_big)
    return np.where(big, hb_big, np.where(small, hb_small, hb)), np.where(big, wb_big, np.where(small, wb_small, wb))


def smart_resize(height: Any, width: Any, factor: int = 28, min_pixels: Any = None, max_pixels: Any = None):
    """qwen-vl-utils' ``smart_resize``: the size a Qwen-VL image is resized to, vectorised.

    Parameters
    ----------
    height, width : int or array_like of int
        Image sizes in pixels (>= 1); arrays broadcast against each other.
    factor : int, default 28
        Both sides become multiples of it: 28 for Qwen2-VL / Qwen2.5-VL (patch 14 x merge 2), 32
        for Qwen3-VL (patch 16 x merge 2).
    min_pixels, max_pixels : number, optional
        The pixel budget; default ``4 * factor**2`` and ``16384 * factor**2`` (qwen-vl-utils
        0.0.14's defaults; for factor 28 also what 0.0.8-0.0.11 and the Qwen2/2.5-VL
        checkpoints use).

    Returns
    -------
    (height, width)
        Python ints for scalar input, int64 arrays otherwise.  Equal to
        ``qwen_vl_utils.smart_resize`` for equal arguments (tests/test_model_frames.py, 10^5
        sizes per setting); like it, a side can come out 0 when an extreme aspect ratio meets a
        small ``max_pixels``.

    Raises
    ------
    ValueError
        An aspect ratio above 200 (qwen-vl-utils' message; for arrays the first offending index
        is named), a side below 1 pixel (qwen-vl-utils: ``ZeroDivisionError`` or garbage),
        ``max_pixels < min_pixels`` (qwen-vl-utils: ``AssertionError``), a bad ``factor``.

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> vr.smart_resize(480, 640)
    (476, 644)
    >>> vr.smart_resize([1080, 10], [1920, 10], factor=32)
    (array([1088,   64]), array([1920,   64]))
    """
    factor, lo, hi = _limits(factor, min_pixels, max_pixels)
    h, w, scalar = _sides(height, width)
    hb, wb = _resize(h, w, factor, lo, hi, processor=False)
    return (int(hb), int(wb)) if scalar else (hb, wb)


def model_sizes(model_name: str, width: Any, height: Any, *, min_pixels: Any = None, max_pixels: Any = None):
    """``(width, height)`` of the image the model saw: its processor's ``smart_resize`` of the
    original size with the family's factor and the checkpoint's limits (or those given)."""
    _, factor, lo, hi = _FAMILIES[family(model_name)]
    factor, lo, hi = _limits(factor, min_pixels, max_pixels, lo, hi)
    h, w, scalar = _sides(height, width)
    hb, wb = _resize(h, w, factor, lo, hi, processor=True)
    return (int(wb), int(hb)) if scalar else (wb, hb)


def model_frame(
    model_name: str, width: Any, height: Any, *, min_pixels: Any = None, max_pixels: Any = None
) -> ModelFrame:
    """The frame a model family writes boxes in and the size of the image it saw.

    Parameters
    ----------
    model_name : str
        ``"qwen2-vl"``, ``"qwen2.5-vl"``, ``"qwen3-vl"``, or a checkpoint id naming one
        (``"Qwen/Qwen2.5-VL-7B-Instruct"``).
    width, height : int or array_like of int
        The original image's size.
    min_pixels, max_pixels : number, optional
        The processor's limits when the trainer changed them (default: the checkpoints', see the
        module docstring).

    Returns
    -------
    ModelFrame
        ``frame``: ``"norm1000"`` (Qwen2-VL, Qwen3-VL) or ``"abs"`` (Qwen2.5-VL: pixels of the
        resized image); ``width``, ``height``: the resized image (what the model saw).  Boxes go
        to the original image's pixels with
        ``vr.boxes_to_pixels(boxes, offsets, sizes, frame, model_sizes=...)``, or directly with
        ``frame=<family>`` (e.g. ``coord_frame="qwen2.5-vl"`` in the box rewards).

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> vr.model_frame("Qwen/Qwen2.5-VL-7B-Instruct", 1920, 1080)
    ModelFrame(frame='abs', width=1932, height=1092)
    >>> vr.model_frame("qwen2-vl", 640, 480).frame
    'norm1000'
    """
    frame = _FAMILIES[family(model_name)][0]
    w, h = model_sizes(model_name, width, height, min_pixels=min_pixels, max_pixels=max_pixels)
    return ModelFrame(frame, w, h)
