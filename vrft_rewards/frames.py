"""Coordinate frames of model outputs: boxes as written -> pixels of the original images.

Frames (``docs/parsing.md``): ``"abs"`` (pixels), ``"norm1000"`` (Qwen2-VL's 0..1000 grid),
``"norm1"`` (0..1), or a model family (``"qwen2-vl"``, ``"qwen2.5-vl"``, ``"qwen3-vl"``: the
frame that family writes, see :mod:`vrft_rewards.model_frames`).  Converting needs the image size,
which comes from dataset columns or the GT json, never from opening image files.

Every conversion is ``x / d * s`` per axis (:func:`frame_factors`): ``norm1000`` divides by 1000
and scales by the image side, ``norm1`` divides by 1, ``abs`` from a resized image divides by the
resized side; dividing or multiplying by 1 is exact, so the one formula gives each frame's bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._options import FRAMES, MODEL_FRAMES, check_option
from .model_frames import family_frame
from .model_frames import model_sizes as model_sizes_of

__all__ = ["FRAMES", "apply_frame_factors", "boxes_to_pixels", "frame_factors"]


def boxes_to_pixels(
    boxes: Any, offsets: Any, image_sizes: Any, frame: str = "norm1000", *, model_sizes: Any = None
) -> np.ndarray:
    """Convert parsed boxes to absolute pixel coordinates of the original images.

    Parameters
    ----------
    boxes : array_like, shape (total, 4)
        Boxes as parsed (``ParsedBatch.boxes``), ``x1, y1, x2, y2``.
    offsets : array_like of int, shape (B + 1,)
        ``ParsedBatch.offsets``: boxes of image ``i`` are ``boxes[offsets[i]:offsets[i + 1]]``.
    image_sizes : array_like, shape (B, 2)
        ``(width, height)`` of each completion's original image.
    frame : {"norm1000", "norm1", "abs", "qwen2-vl", "qwen2.5-vl", "qwen3-vl"}, default "norm1000"
        The frame the model wrote: Qwen2-VL's 0..1000 grid, 0..1, pixels, or a model family's
        frame (:func:`vrft_rewards.model_frame`: Qwen2.5-VL writes pixels of the image after its
        processor's ``smart_resize``, whose size is computed from ``image_sizes``).
    model_sizes : array_like, shape (B, 2), optional
        With ``frame="abs"`` or ``"qwen2.5-vl"``: ``(width, height)`` of the image the model saw
        (e.g. after ``smart_resize`` with a trainer's own ``max_pixels``); boxes are rescaled from
        it to ``image_sizes``.

    Returns
    -------
    numpy.ndarray, float64, shape (total, 4)

    Raises
    ------
    ValueError
        On unknown ``frame``, wrong shapes, or offsets that do not describe ``boxes``.

    Notes
    -----
    ``norm1000``: ``x / 1000 * W`` (in this order, as Visual-RFT's evaluation scripts compute
    it, so values agree bit for bit); ``norm1``: ``x * W``; ``abs`` with ``model_sizes``:
    ``x / w_model * W``.  ``y`` uses the height the same way.

    Examples
    --------
    >>> import numpy as np, vrft_rewards as vr
    >>> vr.boxes_to_pixels(np.array([[100., 200., 500., 1000.]]), [0, 1], [[640, 480]]).tolist()
    [[64.0, 96.0, 320.0, 480.0]]
    """
    check_option(frame, FRAMES, "frame")
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 0:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (total, 4), got {b.shape}")
    off = np.asarray(offsets)
    if off.ndim != 1 or off.shape[0] < 1 or not np.issubdtype(off.dtype, np.integer):
        raise ValueError(f"offsets must be a 1-D integer array of length B + 1, got {off.dtype} {off.shape}")
    off = off.astype(np.int64, copy=False)
    if off[0] != 0 or off[-1] != b.shape[0] or np.any(np.diff(off) < 0):
        raise ValueError(f"offsets must start at 0, be non-decreasing and end at len(boxes) ({b.shape[0]})")
    factors = frame_factors(frame, image_sizes, off.shape[0] - 1, model_sizes=model_sizes)
    return b.copy() if factors is None else apply_frame_factors(b, off, factors)


def apply_frame_factors(boxes: np.ndarray, offsets: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``x / dx * sx`` and ``y / dy * sy`` for every box, with the factors of its image
    (``factors``: ``(B, 4)`` from :func:`frame_factors`; ``offsets`` checked by the caller)."""
    per_box = np.repeat(factors, np.diff(offsets), axis=0)  # (total, 4): dx, dy, sx, sy
    d = np.concatenate([per_box[:, :2], per_box[:, :2]], axis=1)
    s = np.concatenate([per_box[:, 2:], per_box[:, 2:]], axis=1)
    return boxes / d * s


def frame_factors(frame: str, image_sizes: Any, n: int, *, model_sizes: Any = None) -> Any:
    """``(n, 4)`` float64 ``dx, dy, sx, sy`` per image: a box of ``frame`` goes to pixels as
    ``x / dx * sx``, ``y / dy * sy``; ``None`` when the boxes already are pixels of the image.

    Raises ``ValueError`` on an unknown frame or sizes that are not ``(n, 2)`` finite and positive.
    """
    check_option(frame, FRAMES, "frame")
    sizes = _sizes(image_sizes, n, "image_sizes")
    if frame in MODEL_FRAMES:
        base = family_frame(frame)
        if base == "abs" and model_sizes is None:
            model_sizes = np.stack(model_sizes_of(frame, sizes[:, 0], sizes[:, 1]), axis=1)
        frame = base
    if frame == "abs":
        if model_sizes is None:
            return None
        return np.concatenate([_sizes(model_sizes, n, "model_sizes"), sizes], axis=1)
    divisor = 1000.0 if frame == "norm1000" else 1.0
    return np.concatenate([np.full((n, 2), divisor), sizes], axis=1)


def _sizes(x: Any, n: int, name: str) -> np.ndarray:
    s = np.asarray(x, dtype=np.float64)
    if s.ndim == 1 and s.shape[0] == 0 and n == 0:
        s = s.reshape(0, 2)
    if s.shape != (n, 2):
        raise ValueError(f"{name} must have shape ({n}, 2) (width, height per completion), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name} must be finite and positive")
    return s
