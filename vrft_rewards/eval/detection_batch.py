"""Detection batch: the record table's completions parsed, converted to pixels and labelled.

The second stage of the detection pipeline: one native parse of every completion, exact
duplicates dropped, box labels mapped to categories, boxes converted from the model's frame to
pixels with the GT image sizes.  Boxes stay ``x1, y1, x2, y2`` pixels (:attr:`DetectionBatch.boxes`)
and are written as COCO's ``x, y, w, h`` only for the detection array the evaluation reads.
Python loops over records only to read their fields; boxes stay in flat numpy arrays from
:class:`~vrft_rewards.ParsedBatch` to the (N, 7) detection array.

With Ray, contiguous chunks of records are converted in Ray tasks and concatenated in order
(:func:`convert_records_ray`): every step is per completion or per box, so the detections are
identical, row for row and bit for bit, to the one-process ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .._options import FRAMES, check_option
from .._ray import cluster_cpus, import_ray, map_tasks, shard_bounds, started_ray
from ..cocoeval.ground_truth import GroundTruth
from ..parsing import parse_completions
from .categories import CategoryMapper
from .detection_boxes import read_protocol_boxes
from .detection_table import RecordTable, load_ground_truth, prepare_records
from .protocols import get_protocol
from .records import SkipLog, load_records, progress
from .visual_rft_answers import rank_non_finite_scores

__all__ = [
    "DetectionBatch",
    "build_detection_batch",
    "check_detection_options",
    "convert_chunk",
    "convert_records_ray",
    "detections_from_records",
    "merge_chunks",
]


@dataclass
class DetectionBatch:
    """Detections built from completions.

    Attributes
    ----------
    dets : ndarray of float64, shape (N, 7)
        ``[image_id, x, y, w, h, score, category_id]`` in pixels (the input of
        :func:`evaluate_coco` / :func:`evaluate_lvis`), in record order then answer order.
    boxes : ndarray of float64, shape (N, 4)
        The same boxes as converted, ``x1, y1, x2, y2`` pixels (``dets`` holds them as COCO's
        ``x, y, w, h``); what the record IoU is computed on, with no conversion back.
    det_record : ndarray of int64, shape (N,)
        Index (into the kept records) of the record each detection comes from.
    status, n_dropped : ndarray, shape (R,)
        Parse status code and dropped-box count of each kept record.
    image_id, category_id : ndarray of int64, shape (R,)
        Per kept record (category -1 for labelled-box records).
    label_stats : dict
        How box labels mapped to categories (labelled-box records only).
    counts : dict
        ``boxes_parsed`` (boxes the answers hold, before any drop), ``no_confidence`` (score
        fallback used), ``duplicates_removed``, ``unlabelled_or_unmatched`` (boxes dropped for
        lack of a category), ``no_size``; with ``protocol="visual_rft"`` also the policy counts
        of :class:`~vrft_rewards.eval.visual_rft_answers.VisualRFTAnswers`.
    protocol : str
        The protocol whose rules read the answers (:mod:`vrft_rewards.eval.protocols`).
    rule : ndarray of int8, shape (R,) or None
        ``protocol="visual_rft"``: the :data:`~vrft_rewards.eval.visual_rft_answers.RULES` code
        of each record (why its answer may be read differently from the default).
    other : DetectionBatch or None
        The same records read by the other protocol (``compare=True``), for the report's
        comparison.
    stated : ndarray of bool, shape (N,)
        True where a detection's score is the model's own confidence (not ``default_score``, not
        a re-ranked NaN / Infinity).
    """

    dets: np.ndarray
    det_record: np.ndarray
    status: np.ndarray
    n_dropped: np.ndarray
    image_id: np.ndarray
    category_id: np.ndarray
    label_stats: dict
    counts: dict
    table: RecordTable
    boxes: np.ndarray
    protocol: str = "default"
    rule: Optional[np.ndarray] = None
    other: Optional["DetectionBatch"] = None
    stated: Optional[np.ndarray] = None


def convert_chunk(
    completions: Sequence[Any],
    image_id: np.ndarray,
    category_id: np.ndarray,
    sizes: np.ndarray,
    *,
    frame: str,
    default_score: Optional[float],
    dedupe: bool,
    require_tags: bool,
    schema: str,
    mapper: CategoryMapper,
    protocol: str = "default",
    compare: bool = False,
) -> dict:
    """Parse and convert one chunk of records (the unit of work of a Ray task).

    Returns a dict of flat arrays: ``dets`` (n, 7), ``boxes`` (n, 4) xyxy pixels, ``det_record``
    (local record index), ``status``, ``n_dropped``, ``label_stats``, ``counts``, ``rule``
    (``protocol="visual_rft"``, else None) and, with ``compare``, ``other``: the same for the
    other protocol, from the same native parse.  Every step is per completion or per box, so
    converting chunks and concatenating equals converting everything at once.
    """
    parsed = parse_completions(list(completions), schema=schema, require_tags=require_tags, invalid="empty")
    names = [get_protocol(protocol).name]
    if compare:
        names.append("default" if names[0] == "visual_rft" else "visual_rft")
    parts = []
    for name in names:
        part = read_protocol_boxes(
            get_protocol(name), completions, parsed, image_id, category_id, sizes, frame, default_score, dedupe, mapper
        )
        part["status"], part["n_dropped"] = np.asarray(parsed.status), np.asarray(parsed.n_dropped)
        parts.append(part)
    if compare:
        parts[0]["other"] = parts[1]
    return parts[0]


def merge_chunks(parts: Sequence[dict], starts: Sequence[int]) -> dict:
    """Concatenate :func:`convert_chunk` outputs of consecutive record chunks, in order."""
    label_stats = {"exact": 0, "normalized": 0, "synonym": 0, "unmatched": 0, "missing": 0}
    names: dict = {}
    counts: dict = {}
    for p in parts:
        for key in label_stats:
            label_stats[key] += p["label_stats"][key]
        for name, n in p["label_stats"]["unmatched_names"].items():
            names[name] = names.get(name, 0) + n
        for key, n in p["counts"].items():
            counts[key] = counts.get(key, 0) + n
    label_stats["unmatched_names"] = dict(sorted(names.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "dets": np.concatenate([p["dets"] for p in parts]) if parts else np.zeros((0, 7)),
        "boxes": np.concatenate([p["boxes"] for p in parts]) if parts else np.zeros((0, 4)),
        "det_record": np.concatenate([p["det_record"] + s for p, s in zip(parts, starts)])
        if parts
        else np.zeros(0, np.int64),
        "stated": np.concatenate([p["stated"] for p in parts]) if parts else np.zeros(0, bool),
        "status": np.concatenate([p["status"] for p in parts]) if parts else np.zeros(0, np.int8),
        "n_dropped": np.concatenate([p["n_dropped"] for p in parts]) if parts else np.zeros(0, np.int32),
        "label_stats": label_stats,
        "counts": counts,
        "rule": np.concatenate([p["rule"] for p in parts]) if parts and parts[0].get("rule") is not None else None,
        "other": merge_chunks([p["other"] for p in parts], starts) if parts and "other" in parts[0] else None,
    }


def _convert(opts: dict, chunk: tuple) -> dict:
    return convert_chunk(*chunk, **opts)


def convert_records_ray(
    table: RecordTable, opts: dict, *, num_shards: Optional[int] = None, show_progress: Optional[bool] = False
) -> dict:
    """:func:`convert_chunk` over contiguous shards of ``table`` in Ray tasks, merged in order.

    Parameters
    ----------
    table : RecordTable
        Validated records (:func:`vrft_rewards.eval.detection_table.prepare_records`).
    opts : dict
        Keyword options of :func:`convert_chunk` (frame, default_score, dedupe, require_tags,
        schema, mapper); shipped once with ``ray.put``.
    num_shards : int, optional
        Number of tasks (default: the cluster's CPU count).

    Returns
    -------
    dict
        As :func:`merge_chunks`: identical to converting in one process.

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
    chunks = [
        (table.completions[a:b], table.image_id[a:b], table.category_id[a:b], table.sizes[a:b]) for a, b in bounds
    ]
    parts = map_tasks(
        _convert,
        chunks,
        shared=opts,
        progress=lambda refs: progress(refs, total=len(refs), desc="ray shards", enabled=show_progress),
    )
    return merge_chunks(parts, [a for a, _ in bounds])


def check_detection_options(
    frame: str,
    default_score: Any,
    *,
    protocol: str = "default",
    dedupe: bool = True,
    require_tags: bool = True,
    schema: str = "auto",
) -> str:
    """Validate the options of the detection batch (checked once per public call); returns the
    protocol's name.  Visual-RFT's protocol fixes how answers are read, so it refuses the options
    that would change that (a frame other than its 0..1000 grid, a score for boxes without
    ``Confidence``, keeping duplicates, untagged reading, a forced schema)."""
    check_option(frame, FRAMES, "frame")
    if default_score is not None and not np.isfinite(float(default_score)):
        raise ValueError(f"default_score must be a finite number or None, got {default_score!r}")
    name = get_protocol(protocol).name
    if name == "visual_rft":
        conflicts = [
            what
            for what, bad in (
                (f"frame={frame!r} (Visual-RFT's answers are on the 0..1000 grid: 'norm1000')", frame != "norm1000"),
                ("default_score (a box without Confidence ends Visual-RFT's answer)", default_score != 1.0),
                ("dedupe=False (Visual-RFT removes duplicate positions)", not dedupe),
                ("require_tags=False (Visual-RFT reads the whole text when there is no block)", not require_tags),
                (f"schema={schema!r} (Visual-RFT reads its own format)", schema != "auto"),
            )
            if bad
        ]
        if conflicts:
            raise ValueError("protocol='visual_rft' reads answers by Visual-RFT's rules; drop " + "; ".join(conflicts))
    return name


def build_detection_batch(
    records: Any,
    gt: GroundTruth,
    mapper: CategoryMapper,
    skips: SkipLog,
    *,
    frame: str,
    default_score: Optional[float],
    dedupe: bool,
    require_tags: bool,
    schema: str,
    source: Optional[str],
    lines: Optional[Sequence[int]],
    ray: bool,
    num_shards: Optional[int],
    show_progress: Optional[bool],
    protocol: str = "default",
    compare: bool = False,
) -> DetectionBatch:
    """:func:`detections_from_records` on a loaded ground truth and its category mapper, options
    already checked (:func:`vrft_rewards.eval.evaluate_detection` builds both once).  With
    ``compare``, ``.other`` holds the same records read by the other protocol."""
    recs, nums, src = load_records(records, skips=skips, lines=lines, source=source, show_progress=show_progress)
    table = prepare_records(recs, gt, mapper, skips, source=src, lines=nums)
    opts = dict(
        frame=frame,
        default_score=default_score,
        dedupe=bool(dedupe),
        require_tags=bool(require_tags),
        schema=schema,
        mapper=mapper,
        protocol=get_protocol(protocol).name,
        compare=bool(compare),
    )
    if ray:
        merged = convert_records_ray(table, opts, num_shards=num_shards, show_progress=show_progress)
    else:
        merged = merge_chunks(
            [convert_chunk(table.completions, table.image_id, table.category_id, table.sizes, **opts)], [0]
        )
    batch = _batch(merged, table, opts["protocol"])
    if merged.get("other") is not None:
        batch.other = _batch(merged["other"], table, "default" if opts["protocol"] == "visual_rft" else "visual_rft")
    return batch


def _batch(merged: dict, table: RecordTable, protocol: str) -> DetectionBatch:
    dets = merged["dets"]
    if protocol == "visual_rft" and len(dets) and not np.isfinite(dets[:, 5]).all():
        dets = dets.copy()
        dets[:, 5] = rank_non_finite_scores(dets[:, 5])  # the whole evaluation's scores: after the merge
    return DetectionBatch(
        dets=dets,
        det_record=merged["det_record"],
        status=merged["status"],
        n_dropped=merged["n_dropped"],
        image_id=table.image_id,
        category_id=table.category_id,
        label_stats=merged["label_stats"],
        counts=merged["counts"],
        table=table,
        boxes=merged["boxes"],
        protocol=protocol,
        rule=merged.get("rule"),
        stated=merged["stated"],
    )


def detections_from_records(
    records: Any,
    gt: Any,
    *,
    frame: str = "norm1000",
    default_score: Optional[float] = 1.0,
    synonyms: Optional[Mapping[str, Any]] = None,
    dedupe: bool = True,
    require_tags: bool = True,
    schema: str = "auto",
    strict: bool = False,
    skips: Optional[SkipLog] = None,
    source: Optional[str] = None,
    lines: Optional[Sequence[int]] = None,
    ray: bool = False,
    num_shards: Optional[int] = None,
    show_progress: Optional[bool] = False,
    protocol: str = "default",
) -> DetectionBatch:
    """Detections ``[image_id, x, y, w, h, score, category_id]`` (pixels) from model completions.

    Parameters
    ----------
    records : str, os.PathLike or list of dict
        A JSONL path or records.  Per-prompt records (Visual-RFT: one completion per image x
        category prompt): ``{"image_id", "category_id" | "category", "completion"}``.
        Labelled-box records (Qwen2.5-VL JSON): ``{"image_id", "completion"}`` whose boxes carry
        ``label``s (optionally ``"categories": [...]``, the categories the prompt asked for).
    gt : str, os.PathLike, dict, pycocotools COCO or GroundTruth
        COCO / LVIS ground truth; its ``images`` give the sizes (``width``, ``height``).
    frame : {"norm1000", "norm1", "abs"}, default "norm1000"
        The model's coordinate frame: Qwen2-VL's 0..1000 grid, 0..1, or pixels.
    default_score : float or None, default 1.0
        Score of a box without a confidence; None drops such boxes (counted).
    synonyms : mapping, optional
        Extra names for categories (see :class:`CategoryMapper`).
    dedupe : bool, default True
        Drop exact duplicate boxes within an answer, as Visual-RFT's evaluation does.
    require_tags : bool, default True
        Read the answer only inside ``<answer>`` tags (False: also untagged Qwen2.5-VL outputs).
    schema : str, default "auto"
        Parser schema (``docs/parsing.md``).
    strict : bool, default False
        Raise :class:`RecordError` on the first bad record instead of skipping it.
    skips : SkipLog, optional
        Collects skipped records (default: a new one, available as ``.table``'s caller).
    source, lines : optional
        Name and line numbers used in messages for in-memory records.
    ray : bool, default False
        Parse and convert in Ray tasks (:func:`convert_records_ray`);
        the detections are identical.
    num_shards : int, optional
        Ray tasks (default: the cluster's CPU count).
    show_progress : bool or None, default False
    protocol : {"default", "visual_rft"}, default "default"
        How answers are read: our parser and options above, or Visual-RFT's inference scripts
        rule for rule (:mod:`vrft_rewards.eval.visual_rft_answers`; it fixes ``frame``,
        ``default_score``, ``dedupe``, ``require_tags`` and ``schema``).

    Returns
    -------
    DetectionBatch

    Raises
    ------
    RecordError
        Unreadable files; with ``strict``, the first bad record.
    ValueError, TypeError
        Bad options.

    Examples
    --------
    >>> gt = {"images": [{"id": 7, "width": 200, "height": 100}], "annotations": [],
    ...       "categories": [{"id": 1, "name": "dog"}]}
    >>> recs = [{"image_id": 7, "category": "dog",
    ...          "completion": "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 0.9}]</answer>"}]
    >>> detections_from_records(recs, gt).dets.tolist()
    [[7.0, 20.0, 10.0, 80.0, 40.0, 0.9, 1.0]]
    """
    protocol = check_detection_options(
        frame, default_score, protocol=protocol, dedupe=dedupe, require_tags=require_tags, schema=schema
    )
    skips = SkipLog(strict=strict) if skips is None else skips
    gt_index = load_ground_truth(gt)
    mapper = CategoryMapper(gt_index.cat_ids.tolist(), gt_index.cat_names, synonyms)
    return build_detection_batch(
        records,
        gt_index,
        mapper,
        skips,
        frame=frame,
        default_score=default_score,
        dedupe=dedupe,
        require_tags=require_tags,
        schema=schema,
        source=source,
        lines=lines,
        ray=ray,
        num_shards=num_shards,
        show_progress=show_progress,
        protocol=protocol,
    )
