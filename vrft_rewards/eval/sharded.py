"""Compatibility path: the pipeline's Ray sharding lives in :mod:`.detection_batch`
(:func:`convert_records_ray`) and :mod:`.detection` (:func:`evaluate_detection_ray`), the engine's
Ray matcher in :mod:`vrft_rewards.cocoeval.sharding` (:func:`ray_matcher`)."""

from __future__ import annotations

from ..cocoeval.sharding import ray_matcher
from .detection import evaluate_detection_ray
from .detection_batch import convert_records_ray

__all__ = ["convert_records_ray", "evaluate_detection_ray", "ray_matcher"]
