"""vrft_rewards: reward and evaluation engine for visual reinforcement fine-tuning.

Top level: geometry, assignment / matching, parsing and frames (by model family too).  Rewards live in
:mod:`vrft_rewards.rewards`, trainer adapters and the HTTP server in
:mod:`vrft_rewards.integrations`, the COCO / LVIS engine in :mod:`vrft_rewards.cocoeval`, and the
evaluation of model outputs in :mod:`vrft_rewards.eval` (which re-exports the engine).  Imports
point one way, from those packages down to the primitives (``tests/test_layout.py``).
``DESIGN.md`` (team docs) fixes the public names listed in ``__all__``.
"""

from __future__ import annotations

from ._ext import has_cuda
from ._threads import get_num_threads, set_num_threads
from .boxes import box_iou, convert_boxes, paired_box_iou
from .frames import boxes_to_pixels
from .matching import (
    BatchedAssignment,
    MatchResult,
    batched_linear_sum_assignment,
    linear_sum_assignment,
    match_boxes,
)
from .model_frames import ModelFrame, model_frame, smart_resize
from .parsing import ParsedBatch, parse_completions
from .polygons import polygon_iou

__version__ = "0.1.0"

__all__ = [
    "BatchedAssignment",
    "MatchResult",
    "ModelFrame",
    "ParsedBatch",
    "__version__",
    "batched_linear_sum_assignment",
    "box_iou",
    "boxes_to_pixels",
    "convert_boxes",
    "get_num_threads",
    "has_cuda",
    "linear_sum_assignment",
    "match_boxes",
    "model_frame",
    "paired_box_iou",
    "parse_completions",
    "polygon_iou",
    "set_num_threads",
    "smart_resize",
]
