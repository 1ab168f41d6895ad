"""Per-image matching split into shards by image and merged exactly (the scale-out of the engine).

The native evaluation treats every (category, image) group on its own, so the images can be
evaluated in separate processes.  Here the prepared GT / detection columns are cut into
contiguous ranges of image positions (balanced by row count), each shard is evaluated with the
*global* image and category positions, and ``_C.eval_merge`` puts the groups back in
(category, image) order with the shard-local rows translated to the caller's rows.  Each shard's
rows are an order-preserving subset of the caller's, so the merged state equals the one-process
state array for array, and the accumulation on it is bit-identical.

How the shards run is the caller's choice: ``map_fn`` is the builtin ``map`` (in process, used by
the tests), or Ray tasks (:func:`ray_matcher`; ``evaluate_coco(..., ray=True)``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import numpy as np

from .._ext import _C
from .._ray import cluster_cpus, import_ray, map_tasks, started_ray
from .engine import evaluate_columns

__all__ = ["ShardedMatcher", "evaluate_job", "matcher_for", "ray_matcher", "split_rows_by_image", "take_columns"]


def evaluate_job(job: tuple):
    """:func:`evaluate_columns` of one argument tuple (a module-level function: picklable)."""
    return evaluate_columns(*job)


def split_rows_by_image(
    gt_image: np.ndarray, dt_image: np.ndarray, num_images: int, num_shards: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """GT and detection rows of at most ``num_shards`` contiguous ranges of image positions.

    Ranges are balanced by the number of rows (GT + detections) per image; rows keep their
    order inside a shard.  Shards without rows are left out.

    Returns
    -------
    list of (gt_rows, dt_rows), int64 arrays
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    gt_image = np.asarray(gt_image, dtype=np.int64)
    dt_image = np.asarray(dt_image, dtype=np.int64)
    load = np.bincount(gt_image, minlength=num_images) + np.bincount(dt_image, minlength=num_images)
    total = int(load.sum())
    if total == 0:
        return []
    before = np.cumsum(load) - load  # rows of the images before each image
    shard_of_image = np.minimum(before * num_shards // total, num_shards - 1)

    def rows_per_shard(image: np.ndarray) -> list[np.ndarray]:
        shard = shard_of_image[image]
        order = np.argsort(shard, kind="stable")  # stable: rows stay in order within a shard
        bounds = np.searchsorted(shard[order], np.arange(num_shards + 1))
        return [order[bounds[s] : bounds[s + 1]] for s in range(num_shards)]

    gt_parts, dt_parts = rows_per_shard(gt_image), rows_per_shard(dt_image)
    return [(g, d) for g, d in zip(gt_parts, dt_parts) if len(g) or len(d)]


def take_columns(cols: dict, rows: np.ndarray) -> dict:
    """The rows ``rows`` of every column (contiguous copies, as the native call needs)."""
    return {k: np.ascontiguousarray(v[rows]) for k, v in cols.items()}


class ShardedMatcher:
    """A matcher (``run_coco`` / ``run_lvis`` ``matcher=``) that evaluates image shards and merges.

    Parameters
    ----------
    num_shards : int
        Number of image ranges.
    map_fn : callable, default :func:`map`
        ``map_fn(function, jobs)`` returning the results in order; each job is the argument tuple
        of :func:`evaluate_columns`.  Ray's version submits one task per job.
    """

    def __init__(
        self, num_shards: int, map_fn: Optional[Callable[[Callable, Iterable[tuple]], Iterable[Any]]] = None
    ) -> None:
        if int(num_shards) < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        self.num_shards = int(num_shards)
        self.map_fn = map if map_fn is None else map_fn

    def __call__(
        self,
        gt_cols: dict,
        dt_cols: dict,
        num_images: int,
        num_categories: int,
        iou_thrs: np.ndarray,
        area_rng: np.ndarray,
        cap: int,
        source=None,
    ):
        parts = split_rows_by_image(gt_cols["image"], dt_cols["image"], num_images, self.num_shards)
        if len(parts) <= 1:  # nothing to split: one evaluation, here
            return evaluate_columns(gt_cols, dt_cols, num_images, num_categories, iou_thrs, area_rng, cap, source)
        # Every column is per row (masks travel as arena indices, `source` holds the arenas).
        jobs = [
            (
                take_columns(gt_cols, g),
                take_columns(dt_cols, d),
                num_images,
                num_categories,
                iou_thrs,
                area_rng,
                cap,
                source,
            )
            for g, d in parts
        ]
        states = list(self.map_fn(evaluate_job, jobs))
        return _C.eval_merge(states, [g for g, _ in parts], [d for _, d in parts])


def ray_matcher(num_shards: Optional[int] = None) -> ShardedMatcher:
    """A matcher that evaluates ranges of images in Ray tasks and merges their states exactly.

    Parameters
    ----------
    num_shards : int, optional
        Number of image ranges (default: the cluster's CPU count; starts Ray if needed).

    Returns
    -------
    ShardedMatcher
        For ``run_coco`` / ``run_lvis``; used by ``evaluate_coco(..., ray=True)``,
        ``evaluate_lvis(..., ray=True)`` and ``vrft-rewards eval ... --ray``.

    Raises
    ------
    ImportError
        If ray is not installed.
    """
    if num_shards is None:
        num_shards = cluster_cpus(started_ray())
    else:
        import_ray()  # fail early, with the install hint, when ray is missing
    return ShardedMatcher(int(num_shards), map_fn=map_tasks)


def matcher_for(ray: bool, num_shards: Optional[int]):
    """The matcher of the public ``ray`` / ``num_shards`` options (None: the one native call)."""
    if not ray:
        if num_shards is not None:
            raise ValueError("num_shards needs ray=True")
        return None
    return ray_matcher(num_shards)
