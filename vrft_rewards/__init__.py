"""vrft_rewards: reward and evaluation engine for visual reinforcement fine-tuning.

See the README for an overview; ``DESIGN.md`` fixes the public names listed in ``__all__``.
"""

from __future__ import annotations

from ._ext import has_cuda
from ._threads import get_num_threads, set_num_threads
from .boxes import box_iou, convert_boxes, paired_box_iou
from .parsing import ParsedBatch, boxes_to_pixels, parse_completions
from .polygons import polygon_iou
from .matching import (
    BatchedAssignment,
    MatchResult,
    batched_linear_sum_assignment,
    linear_sum_assignment,
    match_boxes,
)

__version__ = "0.1.0"

__all__ = [
    "ParsedBatch",
    "__version__",
    "BatchedAssignment",
    "MatchResult",
    "batched_linear_sum_assignment",
    "box_iou",
    "convert_boxes",
    "boxes_to_pixels",
    "get_num_threads",
    "has_cuda",
    "linear_sum_assignment",
    "match_boxes",
    "paired_box_iou",
    "polygon_iou",
    "parse_completions",
    "set_num_threads",
]
