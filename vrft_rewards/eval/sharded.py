"""Scale-out of the detection pipeline with Ray: sharded parsing and matching, exact merges.

Two stages are sharded:

1. Parsing and conversion: the records are cut into contiguous chunks; each Ray task parses its
   chunk's completions natively, de-duplicates, maps labels and converts the boxes to pixels
   (:func:`vrft_rewards.eval.detection.convert_chunk`).  The chunks come back in order and are
   concatenated, so the (N, 7) detection array is identical, row for row and bit for bit, to the
   one-process array.
2. Per-image matching: the evaluation's prepared GT / detection columns are cut into ranges of
   images; each Ray task runs the native per-(image, category) evaluation of its range and sends
   its state back; the states are merged in (category, image) order
   (:class:`vrft_rewards.eval._shards.ShardedMatcher`) and accumulated once, so precision,
   recall, scores and every summary number equal the one-process run bit for bit.

Ray is optional (``pip install "vrft-rewards[ray]"``) and imported only here.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._ray import cluster_cpus, import_ray, map_tasks, shard_bounds, started_ray
from ..cocoeval.sharding import ray_matcher
from .detection import RecordTable, convert_chunk, merge_chunks
from .records import progress

__all__ = ["convert_records_ray", "evaluate_detection_ray", "ray_matcher"]


def _convert(opts: dict, chunk: tuple) -> dict:
    return convert_chunk(*chunk, **opts)


def convert_records_ray(table: RecordTable, opts: dict, *, num_shards: Optional[int] = None,
                        show_progress: Optional[bool] = False) -> dict:
    """:func:`convert_chunk` over contiguous shards of ``table`` in Ray tasks, merged in order.

    Parameters
    ----------
    table : RecordTable
        Validated records (:func:`vrft_rewards.eval.detection.prepare_records`).
    opts : dict
        Keyword options of :func:`convert_chunk` (frame, default_score, dedupe, require_tags,
        schema, mapper); shipped once with ``ray.put``.
    num_shards : int, optional
        Number of tasks (default: the cluster's CPU count).

    Returns
    -------
    dict
        As :func:`vrft_rewards.eval.detection.merge_chunks`: identical to converting in one
        process.

    Raises
    ------
    ImportError
        If ray is not installed.
    """
    import_ray()
    n = len(table.completions)
    if n == 0:
        return merge_chunks([convert_chunk([], table.image_id, table.category_id, table.sizes, **opts)], [0])
    if num_shards is None:
        num_shards = cluster_cpus(started_ray())
    bounds = shard_bounds(n, int(num_shards))
    chunks = [(table.completions[a:b], table.image_id[a:b], table.category_id[a:b], table.sizes[a:b])
              for a, b in bounds]
    parts = map_tasks(_convert, chunks, shared=opts,
                      progress=lambda refs: progress(refs, total=len(refs), desc="ray shards",
                                                     enabled=show_progress))
    return merge_chunks(parts, [a for a, _ in bounds])


def evaluate_detection_ray(gt: Any, records: Any, *, num_shards: Optional[int] = None, **kwargs: Any):
    """:func:`vrft_rewards.eval.evaluate_detection` with ``ray=True``: same report, same numbers.

    Examples
    --------
    >>> # ray.init(num_cpus=2, include_dashboard=False)
    >>> # report = evaluate_detection_ray("instances_val2017.json", "outputs.jsonl",
    >>> #                                 categories="ov_coco_novel_15")
    """
    from .detection import evaluate_detection

    return evaluate_detection(gt, records, ray=True, num_shards=num_shards, **kwargs)
