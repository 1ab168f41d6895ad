"""GRPO reward functions and the machinery shared by every trainer integration.

Reward functions follow TRL's contract ``f(completions, **kwargs) -> list[float | None]``: each
is a picklable callable with a stable ``__name__`` that scores the whole batch with one (cached)
native parse and vectorised matching, or, for a tiny batch (a trainer calling one sample at a
time), with one fused native call per completion and the same values (``_tiny.py``).  ``get_*``
factories return configured instances.
:class:`RewardSet` applies several of them, with weights, to one batch; task presets are looked up
by name through :func:`resolve_reward_set` (``"detection"``, ``"classification"``,
``"grounding"``, ``"visual_rft/<task>"``; register more with :func:`register_preset`).
"""

from __future__ import annotations

from ._base import BatchReward, MissingColumnsError
from ._cache import clear_parse_cache
from .box_rewards import (
    APReward,
    ConfidenceReward,
    F1Reward,
    IoUReward,
    ap_reward,
    confidence_reward,
    f1_reward,
    get_ap_reward,
    get_confidence_reward,
    get_f1_reward,
    get_iou_reward,
    iou_reward,
)
from .classification_rewards import (
    ClassificationReward,
    classification_reward,
    get_classification_reward,
)
from .combine import RewardSet, RewardSetResult, reward_name
from .format_rewards import FormatReward, format_reward, get_format_reward
from .grounding_rewards import GroundingReward, get_grounding_reward, grounding_reward
from .presets import get_preset, visual_rft_rewards
from .registry import available_presets, register_preset, resolve_reward_set, unregister_preset

__all__ = [
    "APReward",
    "BatchReward",
    "ClassificationReward",
    "ConfidenceReward",
    "F1Reward",
    "FormatReward",
    "GroundingReward",
    "IoUReward",
    "MissingColumnsError",
    "RewardSet",
    "RewardSetResult",
    "ap_reward",
    "available_presets",
    "classification_reward",
    "clear_parse_cache",
    "confidence_reward",
    "f1_reward",
    "format_reward",
    "get_ap_reward",
    "get_classification_reward",
    "get_confidence_reward",
    "get_f1_reward",
    "get_format_reward",
    "get_grounding_reward",
    "get_iou_reward",
    "get_preset",
    "grounding_reward",
    "iou_reward",
    "register_preset",
    "resolve_reward_set",
    "reward_name",
    "unregister_preset",
    "visual_rft_rewards",
]
