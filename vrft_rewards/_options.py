"""The option vocabulary: the allowed values of every string option shared across the package,
written once, with one checker and one error type; and the keyword names trainers pass.

Contract of every option (geometry, matching, parsing, frames, rewards, the pipeline): a value that
is not one of the option's names, a non-string included (``kind=1``), raises ``ValueError`` naming
the argument, the allowed names and the value given:
``"kind must be one of 'iou', 'giou', 'diou', 'ciou', got 1"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ANSWER_BLOCKS",
    "BOX_FORMATS",
    "CLASSIFICATION_MODES",
    "DETECTION_IMAGES",
    "DETECTION_KINDS",
    "EVAL_PROTOCOLS",
    "FRAMES",
    "INVALID_ENTRIES",
    "IOU_KINDS",
    "MATCH_METHODS",
    "MODEL_FRAMES",
    "PARSE_SCHEMAS",
    "RESERVED_COLUMNS",
    "TRAINER_KWARGS",
    "UNDERSCORE_RULES",
    "WHITESPACE_RULES",
    "check_option",
]

#: Box layouts: corners, COCO's ``x, y, w, h``, centre ``cx, cy, w, h``.
BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
#: Overlap measures (torchvision's ``box_iou``, ``generalized_``, ``distance_``, ``complete_box_iou``).
IOU_KINDS = ("iou", "giou", "diou", "ciou")
#: One-to-one matching: maximum total value, or COCO / Visual-RFT greedy by score.
MATCH_METHODS = ("hungarian", "greedy")
#: Model families whose box frame is known (vrft_rewards/model_frames.py): Qwen2-VL and Qwen3-VL write
#: a 0..1000 grid, Qwen2.5-VL pixels of the image after its processor's smart_resize.
MODEL_FRAMES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
#: Coordinate frames of model outputs: pixels, Qwen2-VL's 0..1000 grid, 0..1, or a model family.
FRAMES = ("abs", "norm1000", "norm1") + MODEL_FRAMES
#: Parser schemas: detected per completion, or one forced (the parser's format codes 1..6).
PARSE_SCHEMAS = ("auto", "visual_rft", "qwen_json", "qwen_tuple", "boxes", "text", "number")
#: Which complete ``<answer>`` block is the answer.
ANSWER_BLOCKS = ("last", "first")
#: What the parser does with entries that are not text.
INVALID_ENTRIES = ("raise", "empty")
#: Answer normalisation: what happens to ``_`` and to whitespace.
UNDERSCORE_RULES = ("space", "drop", "keep")
WHITESPACE_RULES = ("collapse", "drop", "keep")
#: Classification correctness rules (reward and evaluation).
CLASSIFICATION_MODES = ("exact", "substring", "choice")
#: Detection evaluation: the protocol, and the images evaluated.
DETECTION_KINDS = ("coco", "lvis")
DETECTION_IMAGES = ("all", "queried")
#: Evaluation protocols: ours, or Visual-RFT's evaluation scripts rule for rule.
EVAL_PROTOCOLS = ("default", "visual_rft")

#: Keyword names trainers pass to reward functions that are not dataset columns (TRL's
#: ``GRPOTrainer`` passes all of them; the adapters pass some).
TRAINER_KWARGS = frozenset(
    {"completions", "prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)
#: Those a dataset column can never be named: the completions themselves and the trainer's
#: callbacks / state (the per-sample ones, ``prompts``, ``completion_ids``, ``environments``, may
#: arrive as columns: the OpenRLHF adapter passes its prompts so).
RESERVED_COLUMNS = TRAINER_KWARGS - {"prompts", "completion_ids", "environments"}


def check_option(value: Any, allowed: Sequence[str], name: str) -> str:
    """Return ``value`` when it is one of the ``allowed`` names, else raise ``ValueError`` naming
    ``name`` (the argument), the allowed names and the value given."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
