"""Evaluation: the COCO / LVIS engine's public names and the pipeline from model outputs to tables.

The engine lives in :mod:`vrft_rewards.cocoeval` and is re-exported here: :func:`evaluate_coco` /
:func:`evaluate_lvis` return an :class:`EvalResult`; :class:`COCOeval` / :class:`LVISeval` are
drop-in replacements for pycocotools' ``COCOeval`` and lvis-api's ``LVISEval``;
:class:`GroundTruth` is the reusable ground-truth index.

From model outputs to the paper's tables (``docs/evaluation_pipeline.md``):
:func:`evaluate_detection` (completions -> COCO / LVIS metrics and the mean of per-category AP
over a category set, :data:`CATEGORY_SETS`), :func:`evaluate_classification`,
:func:`evaluate_grounding`, each returning an :class:`EvalReport` that :func:`write_report`
writes as ``metrics.json``, Markdown and plots; :func:`evaluate_detection_ray` shards the parsing
over Ray with identical results.
"""

from __future__ import annotations

from ..cocoeval import (
    COCOeval,
    Detections,
    EvalResult,
    GroundTruth,
    LVISeval,
    Params,
    StreamingEvaluator,
    evaluate_coco,
    evaluate_lvis,
    gather_evaluator,
    patch_pycocotools,
    patched_pycocotools,
)
from .categories import CATEGORY_SETS, CategoryMapper, normalize_category_name
from .classification import evaluate_classification
from .detection import evaluate_detection, evaluate_detection_ray
from .detection_batch import DetectionBatch, detections_from_records
from .grounding import evaluate_grounding
from .parse_stats import parse_statistics
from .records import RecordError, SkipLog
from .report import EvalReport, write_report

__all__ = [
    "CATEGORY_SETS",
    "COCOeval",
    "CategoryMapper",
    "DetectionBatch",
    "EvalReport",
    "RecordError",
    "SkipLog",
    "detections_from_records",
    "evaluate_classification",
    "evaluate_detection",
    "evaluate_detection_ray",
    "evaluate_grounding",
    "normalize_category_name",
    "parse_statistics",
    "write_report",
    "Detections",
    "EvalResult",
    "GroundTruth",
    "LVISeval",
    "evaluate_coco",
    "evaluate_lvis",
    "Params",
    "patch_pycocotools",
    "patched_pycocotools",
    "StreamingEvaluator",
    "gather_evaluator",
]
