"""Compatibility path: COCO evaluation lives in :mod:`vrft_rewards.cocoeval.coco`."""

from __future__ import annotations

from ..cocoeval.coco import COCOeval, Params, evaluate_coco

__all__ = ["COCOeval", "Params", "evaluate_coco"]
