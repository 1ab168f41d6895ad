"""The COCO / LVIS evaluation engine (boxes, masks, keypoints), bit-identical to pycocotools and lvis-api.

:func:`evaluate_coco` / :func:`evaluate_lvis` return an :class:`EvalResult`; :class:`COCOeval` /
:class:`LVISeval` are drop-in replacements for pycocotools' ``COCOeval`` and lvis-api's
``LVISEval``.  :class:`GroundTruth` is the reusable ground-truth index and :class:`Detections`
the results as columns.

Modules, bottom up: :mod:`.params` (thresholds, area ranges, max-dets, ``Params``),
:mod:`.columns` (record fields -> numpy columns), :mod:`.ground_truth`, :mod:`.detections`,
:mod:`.engine` (evaluate + accumulate through the native core), :mod:`.sharding` (per-image
matching split into image shards, in process or on Ray, merged exactly), :mod:`.summary`,
:mod:`.result`, the front ends :mod:`.coco` and :mod:`.lvis`, the results reader with
pycocotools' ``loadRes`` rules (:mod:`.loadres`), masks and keypoints (:mod:`.shapes`), the
drop-in classes (:mod:`.coco_dropin`, :mod:`.lvis_dropin`) with their lazily built per-cell
views (:mod:`.views`, :mod:`.eval_imgs`), :func:`patch_pycocotools` (:mod:`.patch`), and
:mod:`.streaming` (batch by batch for training loops, merged across processes).  The engine
imports nothing
from the model-output pipeline (:mod:`vrft_rewards.eval`), the rewards or the integrations;
:mod:`vrft_rewards.eval` re-exports its public names.
"""

from __future__ import annotations

from .coco import COCOeval, evaluate_coco
from .detections import Detections
from .ground_truth import GroundTruth
from .lvis import LVISeval, evaluate_lvis
from .params import LVISParams, Params
from .patch import patch_pycocotools, patched_pycocotools
from .result import EvalResult
from .streaming import StreamingEvaluator, gather_evaluator

__all__ = [
    "COCOeval",
    "Detections",
    "EvalResult",
    "GroundTruth",
    "LVISParams",
    "LVISeval",
    "Params",
    "StreamingEvaluator",
    "evaluate_coco",
    "evaluate_lvis",
    "gather_evaluator",
    "patch_pycocotools",
    "patched_pycocotools",
]
