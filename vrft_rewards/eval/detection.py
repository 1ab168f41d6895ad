"""Detection evaluation from model completions (Visual-RFT's COCO / LVIS protocol).

Records -> one native parse -> pixels with the GT image sizes -> category ids -> one COCO / LVIS
evaluation restricted to the evaluated categories -> the paper's number (mean of per-category AP
over a category set).  Python loops over records only to read their fields; boxes stay in flat
numpy arrays from :class:`~vrft_rewards.ParsedBatch` to the (N, 7) detection array.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from ..parsing import boxes_to_pixels, parse_completions
from ..cocoeval.ground_truth import GroundTruth, as_ground_truth
from .categories import CATEGORY_SETS, CategoryMapper, resolve_category_set
from .parse_stats import status_statistics
from .records import RecordError, SkipLog, load_json_file, load_records
from .report import EvalReport

__all__ = ["DetectionBatch", "detections_from_records", "evaluate_detection", "convert_chunk",
           "prepare_records"]

FRAMES = ("norm1000", "norm1", "abs")


@dataclass
class RecordTable:
    """Validated detection records as columns (R records)."""

    completions: list          # R completions (str or chat messages)
    where: Any                 # R locations "file:line" (Locations, built on access)
    image_id: np.ndarray       # (R,) int64
    category_id: np.ndarray    # (R,) int64, -1: categories come from the boxes' labels
    sizes: np.ndarray          # (R, 2) float64 (width, height); NaN when the GT lacks them
    queried: Optional[set]     # category ids the records queried, None when some record does not say


@dataclass
class DetectionBatch:
    """Detections built from completions.

    Attributes
    ----------
    dets : ndarray of float64, shape (N, 7)
        ``[image_id, x, y, w, h, score, category_id]`` in pixels (the input of
        :func:`evaluate_coco` / :func:`evaluate_lvis`), in record order then answer order.
    det_record : ndarray of int64, shape (N,)
        Index (into the kept records) of the record each detection comes from.
    status, n_dropped : ndarray, shape (R,)
        Parse status code and dropped-box count of each kept record.
    image_id, category_id : ndarray of int64, shape (R,)
        Per kept record (category -1 for labelled-box records).
    label_stats : dict
        How box labels mapped to categories (labelled-box records only).
    counts : dict
        ``boxes_parsed``, ``no_confidence`` (score fallback used), ``duplicates_removed``,
        ``unlabelled_or_unmatched`` (boxes dropped for lack of a category), ``no_size``.
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


def _image_sizes(gt: GroundTruth) -> dict:
    """``{image id: (width, height)}`` from the GT images (NaN where a size is absent)."""
    sizes = {}
    for im in gt.dataset["images"]:
        w, h = im.get("width"), im.get("height")
        sizes[int(im["id"])] = (float("nan") if w is None else float(w),
                                float("nan") if h is None else float(h))
    return sizes


class Locations:
    """``"file:line"`` of each kept record, built only when one is read (reports show a few)."""

    def __init__(self, source: str, lines: np.ndarray) -> None:
        self.source, self.lines = source, lines

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, i: int) -> str:
        return f"{self.source}:{int(self.lines[i])}"


def prepare_records(records: Sequence[Any], gt: GroundTruth, mapper: CategoryMapper, skips: SkipLog,
                    *, source: str = "records", lines: Optional[Sequence[int]] = None) -> RecordTable:
    """Check each record's fields and turn them into columns; bad records go to ``skips``.

    A record needs ``image_id`` (an image of ``gt``) and ``completion`` (a str or chat messages);
    ``category_id`` (an id of ``gt``) or ``category`` (a name, mapped like box labels) is
    optional: without it the boxes' own labels give the categories.  An optional ``categories``
    list names the categories a labelled-box prompt asked for.
    """
    sizes_of = _image_sizes(gt)
    known_cats = set(gt.cat_ids.tolist())
    name_cache: dict = {}

    def cat_of(name: Any) -> int:
        key = str(name)
        cid = name_cache.get(key)
        if cid is None:
            cid = name_cache[key] = mapper.lookup(key)[0]
        return cid

    comps, kept, img, cat = [], [], [], []
    queried: set = set()
    any_unknown_query = False
    for i, rec in enumerate(records):  # one pass over the JSON records (their fields are Python objects)
        if not isinstance(rec, dict):
            skips.skip(source, lines[i] if lines is not None else i, "record is not a JSON object",
                       type(rec).__name__)
            continue
        image_id = rec.get("image_id")
        c = rec.get("completion")
        if image_id is None or c is None or type(image_id) is not int or image_id not in sizes_of or not (
                type(c) is str or isinstance(c, (str, list))):
            reason = _record_problem(rec, sizes_of)
            if reason is not None:
                skips.skip(source, lines[i] if lines is not None else i, *reason)
                continue
            image_id = int(image_id)
        cid = -1
        v = rec.get("category_id")
        if v is not None:
            if type(v) is not int or v not in known_cats:
                skips.skip(source, lines[i] if lines is not None else i, "category_id not in the ground truth",
                           repr(v)[:40])
                continue
            cid = v
        else:
            name = rec.get("category")
            if name is not None:
                cid = cat_of(name)
                if cid < 0:
                    skips.skip(source, lines[i] if lines is not None else i, "category not in the ground truth",
                               repr(name)[:60])
                    continue
        if cid >= 0:
            queried.add(cid)
        elif isinstance(rec.get("categories"), list):
            for n in rec["categories"]:
                q = n if type(n) is int else cat_of(n)
                if q in known_cats:
                    queried.add(q)
        else:
            any_unknown_query = True
        comps.append(c)
        kept.append(i)
        img.append(image_id)
        cat.append(cid)
    kept_a = np.asarray(kept, dtype=np.int64)
    line_nos = kept_a if lines is None else np.asarray(lines, dtype=np.int64)[kept_a] if len(kept_a) else kept_a
    img_a = np.asarray(img, dtype=np.int64)
    sizes = np.array([sizes_of[i] for i in img], dtype=np.float64).reshape(-1, 2)
    return RecordTable(comps, Locations(source, line_nos), img_a, np.asarray(cat, dtype=np.int64), sizes,
                       None if any_unknown_query else queried)


def _record_problem(rec: dict, sizes_of: dict) -> Optional[tuple]:
    """Why a record with an unusual image_id / completion cannot be used (None: it can)."""
    if "image_id" not in rec:
        return ("record has no 'image_id'",)
    if "completion" not in rec:
        return ("record has no 'completion'",)
    c = rec["completion"]
    if not isinstance(c, (str, list)):
        return ("'completion' must be a string or a list of chat messages", f"got {type(c).__name__}")
    image_id = rec["image_id"]
    if isinstance(image_id, bool) or not isinstance(image_id, (int, float, str)):
        return ("'image_id' must be an integer", repr(image_id)[:40])
    try:
        iid = int(image_id)
    except ValueError:
        return ("'image_id' must be an integer", repr(image_id)[:40])
    if iid != image_id and not isinstance(image_id, str):
        return ("'image_id' must be an integer", repr(image_id)[:40])
    if iid not in sizes_of:
        return ("image_id not in the ground truth", str(iid))
    return None


def _dedupe_mask(owner: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """True for the first occurrence of each exact (completion, x1, y1, x2, y2) box.

    Visual-RFT's ``remove_duplicates`` keeps the first box of each identical ``Position`` tuple
    within one answer (Python ``==`` on floats, so -0.0 equals 0.0, as ``==`` does here).
    """
    n = len(owner)
    if n < 2:
        return np.ones(n, dtype=bool)
    order = np.lexsort((np.arange(n), boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], owner))
    so, sb = owner[order], boxes[order]
    same = np.ones(n, dtype=bool)
    same[0] = False
    same[1:] = (so[1:] == so[:-1]) & np.all(sb[1:] == sb[:-1], axis=1)
    keep = np.empty(n, dtype=bool)
    keep[order] = ~same
    return keep


def convert_chunk(completions: Sequence[Any], image_id: np.ndarray, category_id: np.ndarray,
                  sizes: np.ndarray, *, frame: str, default_score: Optional[float], dedupe: bool,
                  require_tags: bool, schema: str, mapper: CategoryMapper) -> dict:
    """Parse and convert one chunk of records (the unit of work of a Ray task).

    Returns a dict of flat arrays: ``dets`` (n, 7), ``det_record`` (local record index),
    ``status``, ``n_dropped``, ``label_stats``, ``counts``.  Every step is per completion or per
    box, so converting chunks and concatenating equals converting everything at once.
    """
    parsed = parse_completions(list(completions), schema=schema, require_tags=require_tags,
                               invalid="empty")
    boxes, owner = parsed.boxes, parsed.box_owner
    conf = parsed.confidences
    counts = {"boxes_parsed": int(len(owner)), "no_confidence": 0, "duplicates_removed": 0,
              "unlabelled_or_unmatched": 0, "no_size": 0}
    keep = np.ones(len(owner), dtype=bool)
    if dedupe:
        keep = _dedupe_mask(owner, boxes)
        counts["duplicates_removed"] = int((~keep).sum())
    # Category of every box: the record's (per-prompt records) or the box label (labelled boxes).
    box_cat = category_id[owner]
    label_stats = {"exact": 0, "normalized": 0, "synonym": 0, "unmatched": 0, "missing": 0,
                   "unmatched_names": {}}
    need = np.flatnonzero(box_cat < 0)
    if len(need):
        labels = parsed.labels
        ids, label_stats = mapper.map_names([labels[i] for i in need.tolist()])
        box_cat = box_cat.copy()
        box_cat[need] = ids
    no_cat = keep & (box_cat < 0)
    counts["unlabelled_or_unmatched"] = int(no_cat.sum())
    keep &= box_cat >= 0
    no_conf = np.isnan(conf)
    counts["no_confidence"] = int((keep & no_conf).sum())
    if default_score is None:
        keep &= ~no_conf
        score = conf
    else:
        score = np.where(no_conf, float(default_score), conf)
    if frame == "abs":
        px = np.asarray(boxes, dtype=np.float64)
    else:
        no_size = ~np.isfinite(sizes[owner]).all(axis=1)
        counts["no_size"] = int((keep & no_size).sum())
        keep &= ~no_size
        safe = np.where(np.isfinite(sizes), sizes, 1.0)
        px = boxes_to_pixels(boxes, parsed.offsets, safe, frame)
    k = np.flatnonzero(keep)
    px = px[k]
    dets = np.column_stack([image_id[owner[k]].astype(np.float64), px[:, 0], px[:, 1],
                            px[:, 2] - px[:, 0], px[:, 3] - px[:, 1], score[k],
                            box_cat[k].astype(np.float64)]) if len(k) else np.zeros((0, 7))
    return {"dets": dets, "det_record": owner[k], "status": np.asarray(parsed.status),
            "n_dropped": np.asarray(parsed.n_dropped), "label_stats": label_stats, "counts": counts}


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
        "det_record": np.concatenate([p["det_record"] + s for p, s in zip(parts, starts)])
        if parts else np.zeros(0, np.int64),
        "status": np.concatenate([p["status"] for p in parts]) if parts else np.zeros(0, np.int8),
        "n_dropped": np.concatenate([p["n_dropped"] for p in parts]) if parts else np.zeros(0, np.int32),
        "label_stats": label_stats, "counts": counts,
    }


def _check_options(frame: str, default_score: Any, kind: str, images: str) -> None:
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(map(repr, FRAMES))}, got {frame!r}")
    if kind not in ("coco", "lvis"):
        raise ValueError(f"kind must be 'coco' or 'lvis', got {kind!r}")
    if images not in ("all", "queried"):
        raise ValueError(f"images must be 'all' (the paper's protocol) or 'queried', got {images!r}")
    if default_score is not None and not np.isfinite(float(default_score)):
        raise ValueError(f"default_score must be a finite number or None, got {default_score!r}")


def _load_gt(gt: Any) -> GroundTruth:
    if isinstance(gt, (str, os.PathLike)):
        data = load_json_file(gt)
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise RecordError(os.fspath(gt), None, "ground truth must be a COCO-format JSON object with "
                              "'images', 'annotations' and 'categories'")
        return as_ground_truth(data)
    return as_ground_truth(gt)


def detections_from_records(records: Any, gt: Any, *, frame: str = "norm1000",
                            default_score: Optional[float] = 1.0,
                            synonyms: Optional[Mapping[str, Any]] = None, dedupe: bool = True,
                            require_tags: bool = True, schema: str = "auto", strict: bool = False,
                            skips: Optional[SkipLog] = None, source: Optional[str] = None,
                            lines: Optional[Sequence[int]] = None, ray: bool = False,
                            num_shards: Optional[int] = None,
                            show_progress: Optional[bool] = False) -> DetectionBatch:
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
        Parse and convert in Ray tasks (:func:`vrft_rewards.eval.sharded.convert_records_ray`);
        the detections are identical.
    num_shards : int, optional
        Ray tasks (default: the cluster's CPU count).
    show_progress : bool or None, default False

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
    _check_options(frame, default_score, "coco", "all")
    skips = SkipLog(strict=strict) if skips is None else skips
    gt_index = _load_gt(gt)
    recs, nums, src = load_records(records, skips=skips, lines=lines, source=source,
                                    show_progress=show_progress)
    mapper = CategoryMapper(gt_index.cat_ids.tolist(), gt_index.cat_names, synonyms)
    table = prepare_records(recs, gt_index, mapper, skips, source=src, lines=nums)
    opts = dict(frame=frame, default_score=default_score, dedupe=bool(dedupe),
                require_tags=bool(require_tags), schema=schema, mapper=mapper)
    if ray:
        from .sharded import convert_records_ray

        merged = convert_records_ray(table, opts, num_shards=num_shards, show_progress=show_progress)
    else:
        merged = merge_chunks([convert_chunk(table.completions, table.image_id, table.category_id,
                                             table.sizes, **opts)], [0])
    return DetectionBatch(merged["dets"], merged["det_record"], merged["status"], merged["n_dropped"],
                          table.image_id, table.category_id, merged["label_stats"], merged["counts"], table)


def _gt_counts(gt: GroundTruth, cat_ids: Sequence[int], img_ids: Optional[np.ndarray]) -> dict:
    sel = np.isin(gt.ann_category_id, np.asarray(cat_ids, dtype=np.int64))
    if img_ids is not None:
        sel &= np.isin(gt.ann_image_id, img_ids)
    sel &= gt.ann_iscrowd == 0
    ids, n = np.unique(gt.ann_category_id[sel], return_counts=True)
    return dict(zip(ids.tolist(), n.tolist()))


def record_iou_rewards(batch: DetectionBatch, gt: GroundTruth) -> np.ndarray:
    """Visual-RFT's IoU reward of every per-prompt record, against the GT of its (image, category).

    ``min(1, sum of matched IoU / max(N_gt, N_pred))`` with greedy matching by confidence and
    ``IoU > 0.5`` (``sort_and_calculate_iou``), on the converted pixel boxes; a record with
    neither GT nor predictions scores 1.  One native ``match_boxes`` call for all records.
    Returns NaN for labelled-box records (no single category).
    """
    from ..matching import match_boxes

    r = len(batch.image_id)
    out = np.full(r, np.nan)
    rows = np.flatnonzero(batch.category_id >= 0)
    if len(rows) == 0:
        return out
    crowd = gt.ann_iscrowd != 0
    span = int(max(gt.cat_ids.max(initial=0), batch.category_id.max(initial=0))) + 1
    gkey = gt.ann_image_id[~crowd] * span + gt.ann_category_id[~crowd]
    gbox = gt.ann_box[~crowd]
    order = np.argsort(gkey, kind="stable")
    gkey, gbox = gkey[order], gbox[order]
    rkey = batch.image_id[rows] * span + batch.category_id[rows]
    lo = np.searchsorted(gkey, rkey, side="left")
    hi = np.searchsorted(gkey, rkey, side="right")
    g_counts = hi - lo
    g_off = np.concatenate([[0], np.cumsum(g_counts)])
    take = np.repeat(lo - g_off[:-1], g_counts) + np.arange(g_off[-1])
    g = gbox[take]
    g = np.column_stack([g[:, 0], g[:, 1], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]])
    # Detections are in record order; keep those of per-prompt records.
    in_rows = batch.category_id[batch.det_record] >= 0
    d = batch.dets[in_rows]
    d_rec = batch.det_record[in_rows]
    pos = np.searchsorted(rows, d_rec)
    p_counts = np.bincount(pos, minlength=len(rows))
    p_off = np.concatenate([[0], np.cumsum(p_counts)])
    p = np.column_stack([d[:, 1], d[:, 2], d[:, 1] + d[:, 3], d[:, 2] + d[:, 4]])
    inverted = (p[:, 2] < p[:, 0]) | (p[:, 3] < p[:, 1])
    p[inverted, 2:] = p[inverted, :2]  # an inverted box overlaps nothing but still counts
    m = match_boxes(p, g, pred_offsets=p_off, gt_offsets=g_off, scores=d[:, 5], method="greedy",
                    iou_threshold=0.5, strict=True)
    denom = np.maximum(g_counts, p_counts)
    vals = np.where(denom > 0, np.minimum(1.0, np.asarray(m.sum_matched_iou) / np.maximum(denom, 1)), 1.0)
    out[rows] = vals
    return out


def evaluate_detection(gt: Any, records: Any, *, kind: str = "coco", categories: Any = None,
                       frame: str = "norm1000", default_score: Optional[float] = 1.0,
                       synonyms: Optional[Mapping[str, Any]] = None, dedupe: bool = True,
                       require_tags: bool = True, schema: str = "auto", images: str = "all",
                       strict: bool = False, source: Optional[str] = None,
                       lines: Optional[Sequence[int]] = None, ray: bool = False,
                       num_shards: Optional[int] = None, show_progress: Optional[bool] = False,
                       **eval_params: Any) -> EvalReport:
    """COCO / LVIS evaluation of model completions, with the paper's per-category-set mean.

    Parameters
    ----------
    gt, records, frame, default_score, synonyms, dedupe, require_tags, schema, strict, source,
    lines, show_progress
        As for :func:`detections_from_records`.
    ray : bool, default False
        Parse and convert the records in Ray tasks and run the per-image matching of the
        evaluation in Ray tasks over ranges of images (``evaluate_coco(..., ray=True)``); both
        merges are exact, so the report is bit-identical to the one-process run.
    num_shards : int, optional
        Ray tasks per stage (default: the cluster's CPU count).
    kind : {"coco", "lvis"}, default "coco"
        :func:`evaluate_coco` (12 stats) or :func:`evaluate_lvis` (13 stats).
    categories : str or sequence, optional
        The category set: a name of :data:`CATEGORY_SETS` (``"coco_fewshot_8"``,
        ``"ov_coco_novel_15"``, ``"lvis_fewshot_6"``, ``"lvis_ov_rare_13"``), a comma-separated
        string, or a list of names / ids.  Default: the categories the records queried (their
        ``category`` / ``category_id`` / ``categories``), or every GT category when the records
        do not say.
    images : {"all", "queried"}, default "all"
        Evaluate on every GT image (Visual-RFT's protocol: missed objects on images that were
        not queried count) or only on images that appear in the records.
    **eval_params
        Passed to :func:`evaluate_coco` / :func:`evaluate_lvis` (``max_dets``, ``iou_thrs``, ...).

    Returns
    -------
    EvalReport
        ``metrics``: ``category_set`` (``ids``, ``names``, ``mean_AP``, ``mean_AP50``, ``n``,
        ``no_gt``, ``not_queried``, ``unknown``), ``stats`` (the engine's 12 / 13 summary stats
        over the evaluated categories), ``per_category``, ``detections``, ``labels``;
        ``result`` is the :class:`EvalResult`.

    Raises
    ------
    RecordError
        Unreadable files; with ``strict``, a bad record, a category of the set that is unknown
        or was never queried.
    ValueError
        Bad options, or nothing left to evaluate.

    Notes
    -----
    The reported number of the paper is the mean over the set of per-category AP,
    :math:`\\frac{1}{|S|}\\sum_{k \\in S} \\mathrm{mean}(p[:, :, k, 0, -1] > -1)` (IoU .50:.95,
    area all, the last maxDets), not ``stats[0]`` over all categories.  Categories of the set
    that were never queried are excluded from the evaluation and listed (``not_queried``);
    categories without GT in the evaluated images have AP -1 and are excluded from the mean
    and listed (``no_gt``).  Nothing is averaged silently.
    """
    from ..cocoeval import evaluate_coco, evaluate_lvis

    _check_options(frame, default_score, kind, images)
    skips = SkipLog(strict=strict)
    gt_index = _load_gt(gt)
    batch = detections_from_records(
        records, gt_index, frame=frame, default_score=default_score, synonyms=synonyms,
        dedupe=dedupe, require_tags=require_tags, schema=schema, strict=strict, skips=skips,
        source=source, lines=lines, ray=ray, num_shards=num_shards, show_progress=show_progress)
    table = batch.table
    if len(table.image_id) == 0:
        where = os.fspath(records) if isinstance(records, (str, os.PathLike)) else source or "records"
        raise ValueError(f"{where}: no valid detection record to evaluate ({skips.total} skipped)")
    mapper = CategoryMapper(gt_index.cat_ids.tolist(), gt_index.cat_names, synonyms)
    name_of = dict(zip(gt_index.cat_ids.tolist(), gt_index.cat_names))
    notes: list = []
    queried: Optional[set] = None
    if table.queried is not None:
        queried = set(table.queried)
    if categories is None:
        if queried is None:
            eval_ids = sorted(gt_index.cat_ids.tolist())
            notes.append(f"the records do not say which categories were queried; evaluating all "
                         f"{len(eval_ids)} ground-truth categories")
            set_name = "all"
        else:
            eval_ids = sorted(queried)
            set_name = "queried"
        unknown: list = []
    else:
        eval_ids, unknown = resolve_category_set(categories, mapper)
        set_name = categories if isinstance(categories, str) and categories in CATEGORY_SETS else "custom"
        if unknown:
            msg = f"categories not in the ground truth: {', '.join(unknown)}"
            if strict:
                raise RecordError("--categories", None, msg)
            notes.append(msg + " (ignored)")
    not_queried: list = []
    if queried is not None and categories is not None:
        not_queried = [c for c in eval_ids if c not in queried]
        if not_queried:
            names = ", ".join(name_of[c] for c in not_queried)
            if strict:
                raise RecordError("--categories", None, f"categories of the set were never queried: {names}")
            notes.append(f"categories of the set never queried by any record, excluded from the "
                         f"evaluation and the mean: {names}")
            eval_ids = [c for c in eval_ids if c not in not_queried]
    if not eval_ids:
        raise ValueError("no category left to evaluate (check --categories and the records' categories)")
    img_ids = None
    if images == "queried":
        img_ids = np.unique(table.image_id)
        if len(img_ids) == 0:
            raise ValueError("no valid record: nothing to evaluate")
    evaluate = evaluate_coco if kind == "coco" else evaluate_lvis
    result = evaluate(gt_index, batch.dets, cat_ids=eval_ids,
                      img_ids=None if img_ids is None else img_ids.tolist(), ray=ray,
                      num_shards=num_shards if ray else None, **eval_params)
    rows = {r["category_id"]: r for r in result.per_category}
    gt_n = _gt_counts(gt_index, eval_ids, img_ids)
    det_n = dict(zip(*[a.tolist() for a in np.unique(batch.dets[:, 6].astype(np.int64), return_counts=True)])) \
        if len(batch.dets) else {}
    with_gt = [c for c in eval_ids if rows[c]["AP"] > -1]
    no_gt = [c for c in eval_ids if rows[c]["AP"] <= -1]
    if no_gt:
        notes.append("categories without ground truth in the evaluated images (AP -1, excluded from "
                     "the mean): " + ", ".join(name_of[c] for c in no_gt))
    mean_ap = float(np.mean([rows[c]["AP"] for c in with_gt])) if with_gt else float("nan")
    mean_ap50 = float(np.mean([rows[c]["AP50"] for c in with_gt if rows[c]["AP50"] > -1])) \
        if with_gt else float("nan")
    ls = batch.label_stats
    if ls["unmatched"] or ls["missing"]:
        top = ", ".join(f"{k!r} x{v}" for k, v in list(ls["unmatched_names"].items())[:10])
        notes.append(f"{ls['unmatched']} boxes with labels matching no category ({top})"
                     + (f", {ls['missing']} boxes without a label" if ls["missing"] else "")
                     + "; dropped (add --synonyms)")
    if batch.counts.get("no_confidence"):
        fb = "dropped" if default_score is None else f"scored {default_score}"
        notes.append(f"{batch.counts['no_confidence']} boxes without a confidence, {fb}")
    if batch.counts.get("no_size"):
        notes.append(f"{batch.counts['no_size']} boxes dropped: their image has no width/height in "
                     f"the ground truth (needed for frame {frame!r})")
    stats = result.to_dict()["stats"]
    record_iou = record_iou_rewards(batch, gt_index)
    category_set = {"name": set_name, "ids": list(eval_ids), "names": [name_of[c] for c in eval_ids],
                    "n": len(with_gt), "mean_AP": mean_ap, "mean_AP50": mean_ap50,
                    "no_gt": [name_of[c] for c in no_gt],
                    "not_queried": [name_of[c] for c in not_queried], "unknown": unknown}
    per_cat = [dict(rows[c], n_gt=int(gt_n.get(c, 0)), n_det=int(det_n.get(c, 0))) for c in eval_ids]
    metrics = {"kind": kind, "frame": frame, "images": images, "category_set": category_set,
               "stats": stats, "per_category": per_cat,
               "detections": dict(batch.counts, n=int(len(batch.dets)), records=int(len(table.image_id))),
               "labels": ls,
               "iou_reward": {"mean": float(np.nanmean(record_iou)) if np.isfinite(record_iou).any()
                              else float("nan"), "n": int(np.isfinite(record_iou).sum())}}
    parse = status_statistics(batch.status, batch.n_dropped, batch.counts.get("boxes_parsed", 0),
                              table.completions, where=table.where)
    head = [["mean AP over the set", mean_ap], ["mean AP50 over the set", mean_ap50],
            ["categories averaged", len(with_gt)]] + [[k, v] for k, v in stats.items()]
    tables = [
        (f"{kind.upper()} detection, category set '{set_name}'", ["metric", "value"], head),
        ("Per category", ["category", "id", "AP", "AP50", "AP75", "AR", "GT", "dets"],
         [[r["name"], r["category_id"], r["AP"], r["AP50"], r["AP75"], r["AR"], r["n_gt"], r["n_det"]]
          for r in per_cat]),
    ]
    return EvalReport(task=kind, metrics=metrics, tables=tables, parse=parse, skipped=skips,
                      notes=notes, result=result,
                      arrays={"scores": batch.dets[:, 5].copy(), "per_category": per_cat,
                              "record_iou": record_iou[np.isfinite(record_iou)],
                              "precision": result.precision,
                              "rec_thrs": np.asarray(result.params["rec_thrs"]),
                              "iou_thrs": np.asarray(result.params["iou_thrs"]),
                              "cat_ids": list(np.asarray(result.params["cat_ids"]).tolist()),
                              "cat_names": [name_of[int(c)] for c in np.asarray(result.params["cat_ids"])]})
