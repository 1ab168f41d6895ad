"""Coordinate frames of model outputs: boxes as written -> pixels of the original images.

Frames (``docs/parsing.md``): ``"abs"`` (pixels), ``"norm1000"`` (Qwen2-VL's 0..1000 grid),
``"norm1"`` (0..1).  Converting needs the image size, which comes from dataset columns or the GT
json, never from opening image files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._options import FRAMES, check_option

__all__ = ["FRAMES", "boxes_to_pixels"]


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
    frame : {"norm1000", "norm1", "abs"}, default "norm1000"
        The frame the model wrote: Qwen2-VL's 0..1000 grid, 0..1, or pixels.
    model_sizes : array_like, shape (B, 2), optional
        Only with ``frame="abs"``: ``(width, height)`` of the image the model saw (e.g. Qwen2.5-VL
        after ``smart_resize``); boxes are rescaled from it to ``image_sizes``.

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
    n_img = off.shape[0] - 1
    sizes = _sizes(image_sizes, n_img, "image_sizes")
    counts = np.diff(off)
    wh = np.repeat(sizes, counts, axis=0)  # (total, 2): W, H per box
    scale = np.concatenate([wh, wh], axis=1)  # (total, 4): W, H, W, H
    if frame == "norm1000":
        return b / 1000.0 * scale
    if frame == "norm1":
        return b * scale
    if model_sizes is None:
        return b.copy()
    model = np.repeat(_sizes(model_sizes, n_img, "model_sizes"), counts, axis=0)
    return b / np.concatenate([model, model], axis=1) * scale


def _sizes(x: Any, n: int, name: str) -> np.ndarray:
    s = np.asarray(x, dtype=np.float64)
    if s.ndim == 1 and s.shape[0] == 0 and n == 0:
        s = s.reshape(0, 2)
    if s.shape != (n, 2):
        raise ValueError(f"{name} must have shape ({n}, 2) (width, height per completion), got {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"{name} must be finite and positive")
    return s
