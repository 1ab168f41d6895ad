"""COCO and LVIS evaluation on the native engine, bit-identical to pycocotools and lvis-api.

Functions :func:`evaluate_coco` / :func:`evaluate_lvis` return an :class:`EvalResult`;
:class:`COCOeval` / :class:`LVISeval` are drop-in replacements for pycocotools' ``COCOeval`` and
lvis-api's ``LVISEval``.  :class:`GroundTruth` is the reusable ground-truth index.
"""

from __future__ import annotations

from ._gt import GroundTruth
from ._result import EvalResult
from ._results import Detections
from .coco import COCOeval, evaluate_coco
from .lvis import LVISeval, evaluate_lvis

__all__ = [
    "COCOeval",
    "Detections",
    "EvalResult",
    "GroundTruth",
    "LVISeval",
    "evaluate_coco",
    "evaluate_lvis",
]
