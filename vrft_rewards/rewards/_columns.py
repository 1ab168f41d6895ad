"""Image sizes from dataset columns, and the frame factors the box rewards convert boxes with.

The size of each row's original image comes from an ``image_size`` column, ``width`` + ``height``
columns, or the images themselves: TRL passes the dataset's ``image`` (or ``images``) column of
PIL images to every reward, and a PIL image knows its size without decoding its pixels.  Both the
batch path (``_problems.box_problems``) and the tiny-batch path (``_tiny``) convert with the
factors computed here, so both give the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._options import MODEL_FRAMES, TRAINER_KWARGS
from ..frames import frame_factors
from ..model_frames import family_frame, model_sizes
from ._base import MissingColumnsError

__all__ = ["conversion_factors", "image_sizes_from_columns"]


def image_sizes_from_columns(columns: dict, n: int, reward: str) -> np.ndarray:
    """``(B, 2)`` (width, height) from an ``image_size`` column, ``width`` + ``height``, or the
    images themselves (an ``image`` or ``images`` column of PIL images, as TRL passes them)."""
    if columns.get("image_size") is not None:
        sizes = np.asarray(columns["image_size"], dtype=np.float64)
    elif columns.get("width") is not None and columns.get("height") is not None:
        sizes = np.stack(
            [np.asarray(columns["width"], dtype=np.float64), np.asarray(columns["height"], dtype=np.float64)], axis=1
        )
    elif columns.get("image") is not None or columns.get("images") is not None:
        name = "image" if columns.get("image") is not None else "images"
        sizes = _sizes_of_images(columns[name], n, reward, name)
    else:
        given = sorted(k for k in columns if k not in TRAINER_KWARGS)
        raise MissingColumnsError(
            f"{reward} converts between coordinate frames and needs the image size: pass an "
            f"'image_size' column of (width, height), 'width' and 'height' columns, or an 'image' / "
            f"'images' column of PIL images; got {given}"
        )
    if sizes.shape != (n, 2):
        raise ValueError(
            f"{reward}: image sizes must give (width, height) for each of the {n} rows, got shape {sizes.shape}"
        )
    return sizes


def _sizes_of_images(rows: Any, n: int, reward: str, name: str) -> np.ndarray:
    """(width, height) of each row's image: a PIL image (anything with int ``width`` and
    ``height``), or a list holding exactly one."""
    if len(rows) != n:
        raise ValueError(f"{reward}: {name} has {len(rows)} rows for {n} completions")
    out = np.empty((n, 2), dtype=np.float64)
    for i, img in enumerate(rows):  # the column arrives as per-row Python objects
        if isinstance(img, (list, tuple)):
            if len(img) != 1:
                raise ValueError(
                    f"{reward}: {name}[{i}] holds {len(img)} images; pass an 'image_size' column to say "
                    "which image the boxes refer to"
                )
            img = img[0]
        w, h = getattr(img, "width", None), getattr(img, "height", None)
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or not isinstance(h, (int, np.integer)):
            raise TypeError(
                f"{reward}: {name}[{i}] must be an image with int width and height (PIL), got {type(img).__name__}"
            )
        out[i] = (w, h)
    return out


def conversion_factors(
    columns: dict, n: int, reward: str, coord_frame: str, gt_frame: str, pixels: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 4)`` frame factors (``vrft_rewards.frames.frame_factors``: ``x / dx * sx``) of the
    predictions and of the ground truth, from the rows' image sizes; ``pixels`` is the
    processor's (min_pixels, max_pixels) of a model family's frame when the trainer changed them."""
    sizes = image_sizes_from_columns(columns, n, reward)
    return _factors(coord_frame, sizes, n, pixels), _factors(gt_frame, sizes, n, pixels)


def _factors(frame: str, sizes: np.ndarray, n: int, pixels: tuple) -> np.ndarray:
    model = None
    if frame in MODEL_FRAMES and family_frame(frame) == "abs" and pixels != (None, None):
        w, h = model_sizes(frame, sizes[:, 0], sizes[:, 1], min_pixels=pixels[0], max_pixels=pixels[1])
        model = np.stack([w, h], axis=1)
    factors = frame_factors(frame, sizes, n, model_sizes=model)
    return np.ones((n, 4)) if factors is None else factors  # pixels already: x / 1 * 1 == x
