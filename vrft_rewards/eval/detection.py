"""Detection evaluation from model completions (Visual-RFT's COCO / LVIS protocol).

The pipeline's stages: records (:mod:`.records`) -> record table (:mod:`.detection_table`) ->
detection batch (:mod:`.detection_batch`: one native parse, pixels with the GT image sizes,
category ids) -> one COCO / LVIS evaluation restricted to the evaluated categories
(:mod:`vrft_rewards.cocoeval`) -> the report (:class:`~vrft_rewards.eval.EvalReport`) with the
paper's number, the mean of per-category AP over a category set.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .._options import DETECTION_IMAGES, DETECTION_KINDS, check_option
from ..cocoeval import EvalResult, evaluate_coco, evaluate_lvis
from ..cocoeval.ground_truth import GroundTruth
from ..rewards.box_rewards import matched_iou_reward
from .categories import CATEGORY_SETS, CategoryMapper, resolve_category_set
from .detection_batch import (
    DetectionBatch,
    build_detection_batch,
    check_detection_options,
    convert_chunk,
    detections_from_records,
)
from .detection_metrics import model_output_metrics
from .detection_report import detection_report
from .detection_table import load_ground_truth, prepare_records
from .protocol_comparison import compare_protocols as compare_protocols_
from .protocols import Protocol, get_protocol, set_summary
from .records import RecordError, SkipLog
from .report import EvalReport

__all__ = [
    "DetectionBatch",
    "convert_chunk",
    "detections_from_records",
    "evaluate_detection",
    "evaluate_detection_ray",
    "prepare_records",
    "record_iou_rewards",
]


def evaluate_detection(
    gt: Any,
    records: Any,
    *,
    kind: str = "coco",
    categories: Any = None,
    frame: str = "norm1000",
    default_score: Optional[float] = 1.0,
    synonyms: Optional[Mapping[str, Any]] = None,
    dedupe: bool = True,
    require_tags: bool = True,
    schema: str = "auto",
    images: str = "all",
    strict: bool = False,
    source: Optional[str] = None,
    lines: Optional[Sequence[int]] = None,
    ray: bool = False,
    num_shards: Optional[int] = None,
    show_progress: Optional[bool] = False,
    protocol: str = "default",
    compare_protocols: bool = True,
    model_metrics: bool = True,
    n_draws: int = 200,
    seed: int = 0,
    **eval_params: Any,
) -> EvalReport:
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
    protocol : {"default", "visual_rft"}, default "default"
        ``"visual_rft"`` follows Visual-RFT's evaluation scripts rule for rule
        (:mod:`vrft_rewards.eval.protocols`): its reading of the answers (first ``<answer>``
        block, strict JSON, a box without ``Confidence`` ends the answer, ...), the LVIS
        per-category AP pooled over the four area ranges, every category of the set evaluated
        (never queried: AP 0) and the mean divided by the size of the set (a category without
        GT makes it NaN).  It fixes ``frame``, ``default_score``, ``dedupe``, ``require_tags``
        and ``schema``.  ``"visual-rft"`` is accepted too.
    compare_protocols : bool, default True
        Also evaluate the records by the other protocol and report by how much and why the two
        differ (``metrics["protocol_comparison"]``, a table and a note).
    model_metrics : bool, default True
        Also compute the metrics of model outputs (:mod:`vrft_rewards.eval.detection_metrics`):
        ``metrics["ap_tie_range"]`` (AP's range over the orders of tied scores, and its
        expectation over ``n_draws`` random orders), ``metrics["f1_at_50"]`` (order-free
        precision / recall / F1 at IoU 0.5), ``metrics["calibration"]`` (ECE of the stated
        confidence) and ``metrics["errors"]`` (TIDE's error breakdown: ``cls``, ``loc``,
        ``both``, ``dupe``, ``bkg``, ``missed``).
    n_draws, seed : int, default 200, 0
        Monte Carlo draws (and their seed) of the expected AP over random tie orders.
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

    ``metrics["iou_reward"]`` is the mean of Visual-RFT's IoU reward over the per-prompt records
    (:class:`~vrft_rewards.rewards.IoUReward`'s formula and matching: greedy by score, ``IoU >
    0.5``), on the converted pixel boxes against the GT of the record's (image, category).

    Examples
    --------
    >>> gt = {"images": [{"id": 7, "width": 200, "height": 100}], "categories": [{"id": 1, "name": "dog"}],
    ...       "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [20, 10, 80, 40],
    ...                        "area": 3200, "iscrowd": 0}]}
    >>> recs = [{"image_id": 7, "category": "dog",
    ...          "completion": "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 0.9}]</answer>"}]
    >>> report = evaluate_detection(gt, recs)
    >>> report.metrics["category_set"]["mean_AP"], report.metrics["iou_reward"]
    (0.9999999999999998, {'mean': 1.0, 'n': 1})
    """
    check_option(kind, DETECTION_KINDS, "kind")
    check_option(images, DETECTION_IMAGES, "images")
    proto = get_protocol(
        check_detection_options(
            frame, default_score, protocol=protocol, dedupe=dedupe, require_tags=require_tags, schema=schema
        )
    )
    skips = SkipLog(strict=strict)
    gt_index = load_ground_truth(gt)
    mapper = CategoryMapper(gt_index.cat_ids.tolist(), gt_index.cat_names, synonyms)
    batch = build_detection_batch(
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
        protocol=proto.name,
        compare=bool(compare_protocols),
    )
    if len(batch.image_id) == 0:
        where = os.fspath(records) if isinstance(records, (str, os.PathLike)) else source or "records"
        raise ValueError(f"{where}: no valid detection record to evaluate ({skips.total} skipped)")
    notes: list = []
    chosen = _category_set(categories, batch.table.queried, gt_index, mapper, strict, notes, proto)
    img_ids = None
    if images == "queried":
        img_ids = np.unique(batch.image_id)
    engine = evaluate_coco if kind == "coco" else evaluate_lvis

    def evaluate(dets: np.ndarray, cat_ids: Sequence[int]) -> EvalResult:
        return engine(
            gt_index,
            dets,
            cat_ids=cat_ids,
            img_ids=None if img_ids is None else img_ids.tolist(),
            ray=ray,
            num_shards=num_shards if ray else None,
            **eval_params,
        )

    result = evaluate(batch.dets, chosen["ids"])
    name_of = dict(zip(gt_index.cat_ids.tolist(), gt_index.cat_names))
    summary = set_summary(proto, kind, result.precision, result.params["iou_thrs"], result.params["cat_ids"], chosen)
    comparison = None
    if compare_protocols:
        other = get_protocol("default" if proto.name == "visual_rft" else "visual_rft")
        chosen_other = _category_set(categories, batch.table.queried, gt_index, mapper, False, [], other, check=False)
        comparison = compare_protocols_(kind, batch, proto, chosen, chosen_other, summary, result, evaluate, name_of)
    extra = None
    if model_metrics:
        extra = model_output_metrics(
            kind, proto, gt_index, batch, chosen, img_ids, eval_params, summary, n_draws=int(n_draws), seed=int(seed)
        )
    return detection_report(
        kind,
        frame,
        images,
        default_score,
        gt_index,
        batch,
        result,
        chosen,
        img_ids,
        skips,
        notes,
        proto,
        summary,
        comparison,
        record_iou_rewards(batch, gt_index),
        extra,
    )


def evaluate_detection_ray(gt: Any, records: Any, *, num_shards: Optional[int] = None, **kwargs: Any) -> EvalReport:
    """:func:`evaluate_detection` with ``ray=True``: same report, same numbers.

    Examples
    --------
    >>> # ray.init(num_cpus=2, include_dashboard=False)
    >>> # report = evaluate_detection_ray("instances_val2017.json", "outputs.jsonl",
    >>> #                                 categories="ov_coco_novel_15")
    """
    return evaluate_detection(gt, records, ray=True, num_shards=num_shards, **kwargs)


def _category_set(
    categories: Any,
    queried: Optional[set],
    gt: GroundTruth,
    mapper: CategoryMapper,
    strict: bool,
    notes: list,
    protocol: Protocol,
    check: bool = True,
) -> dict:
    """The categories to evaluate: ``{"name", "ids", "unknown", "not_queried"}``; what is left out
    goes to ``notes`` (with ``strict``, an unknown or never-queried category raises).

    The default protocol leaves a category of the set that no record queried out of the
    evaluation and the mean; Visual-RFT's evaluates it (AP 0 when it has GT).
    """
    name_of = dict(zip(gt.cat_ids.tolist(), gt.cat_names))
    unknown: list = []
    if categories is None:
        if queried is None:
            eval_ids = sorted(gt.cat_ids.tolist())
            notes.append(
                f"the records do not say which categories were queried; evaluating all "
                f"{len(eval_ids)} ground-truth categories"
            )
            set_name = "all"
        else:
            eval_ids = sorted(queried)
            set_name = "queried"
    else:
        eval_ids, unknown = resolve_category_set(categories, mapper)
        set_name = categories if isinstance(categories, str) and categories in CATEGORY_SETS else "custom"
        if unknown:
            msg = f"categories not in the ground truth: {', '.join(unknown)}"
            if strict:
                raise RecordError("--categories", None, msg)
            notes.append(
                msg
                + (" (each counts in Visual-RFT's divisor with AP 0)" if protocol.divide_by_selected else " (ignored)")
            )
    not_queried: list = []
    if queried is not None and categories is not None:
        not_queried = [c for c in eval_ids if c not in queried]
        if not_queried:
            names = ", ".join(name_of[c] for c in not_queried)
            if protocol.evaluate_never_queried:
                notes.append(
                    "categories of the set never queried by any record, evaluated with no detections "
                    f"(AP 0 where they have GT) and averaged, as Visual-RFT's evaluation does: {names}"
                )
            else:
                if strict:
                    raise RecordError("--categories", None, f"categories of the set were never queried: {names}")
                notes.append(
                    "categories of the set never queried by any record, excluded from the evaluation and the "
                    f"mean: {names}"
                )
                eval_ids = [c for c in eval_ids if c not in not_queried]
    if not eval_ids and check:
        raise ValueError("no category left to evaluate (check --categories and the records' categories)")
    return {"name": set_name, "ids": eval_ids, "unknown": unknown, "not_queried": not_queried}


def record_iou_rewards(batch: DetectionBatch, gt: GroundTruth) -> np.ndarray:
    """Visual-RFT's IoU reward of every per-prompt record, against the GT of its (image, category).

    :func:`vrft_rewards.rewards.box_rewards.matched_iou_reward` (the IoU reward's own formula,
    ``min(1, sum of matched IoU / max(N_gt, N_pred))``, greedy matching by score with ``IoU >
    0.5`` as ``sort_and_calculate_iou``) on the converted xyxy pixel boxes; a record with neither
    GT nor predictions scores 1.  One native matching call for all records.  Returns NaN for
    labelled-box records (no single category).
    """
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
    g = np.column_stack([g[:, 0], g[:, 1], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]])  # COCO's xywh GT
    # Detections are in record order; keep those of per-prompt records.
    in_rows = batch.category_id[batch.det_record] >= 0
    p = batch.boxes[in_rows]
    scores = batch.dets[in_rows, 5]
    pos = np.searchsorted(rows, batch.det_record[in_rows])
    p_off = np.concatenate([[0], np.cumsum(np.bincount(pos, minlength=len(rows)))])
    inverted = (p[:, 2] < p[:, 0]) | (p[:, 3] < p[:, 1])
    p[inverted, 2:] = p[inverted, :2]  # an inverted box overlaps nothing but still counts
    out[rows] = matched_iou_reward(p, p_off, g, g_off, scores, method="greedy", iou_threshold=0.5, strict=True)
    return out
