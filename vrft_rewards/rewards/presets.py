"""Task presets: the reward functions of a task, by name.

``visual_rft_rewards(task)`` reproduces Visual-RFT's reward functions (Liu et al.,
arXiv:2503.01785; code ``Liuziyu77/Visual-RFT``); ``get_preset(task)`` gives this package's
recommended rewards for a task.  Both return lists of TRL reward callables.  Trainer adapters,
the HTTP server and the CLI resolve task names here (``vrft_rewards.rewards.registry``).

Where the Visual-RFT presets differ from the original functions (all on malformed or unusual
answers; on well-formed answers the values are identical) is listed in docs/rewards.md.
"""

from __future__ import annotations

from typing import Any

from .box_rewards import ConfidenceReward, IoUReward
from .classification_rewards import ClassificationReward
from .format_rewards import FormatReward
from .grounding_rewards import GroundingReward

__all__ = ["TASKS", "available_presets", "get_preset", "visual_rft_rewards"]

TASKS = ("detection", "classification", "grounding")


def visual_rft_rewards(task: str) -> list:
    """Visual-RFT's reward functions for ``task``, in the order its scripts register them.

    Parameters
    ----------
    task : {"detection", "classification", "grounding"}
        ``"detection"``: ``accuracy_reward_iou`` (greedy matching by confidence, IoU > 0.5,
        exact-duplicate boxes removed, sum of IoU / max(N_gt, N_pred), capped at 1),
        ``accuracy_reward_confidence`` and ``format_reward`` (``grpo.py``);
        ``"classification"``: ``accuracy_reward`` (substring rule after removing spaces and
        underscores) and ``format_reward`` (``grpo_classification.py``);
        ``"grounding"``: LISA's ``accuracy_reward`` (GIoU + 1 on coordinates / 1000, 2.0 for an
        answer identical to the ground truth) and ``format_reward`` (``grpo_lisa.py``).

    Returns
    -------
    list of reward callables
        Named as the original functions, so TRL logs ``rewards/accuracy_reward_iou/mean`` etc.

    Raises
    ------
    ValueError
        For an unknown task.

    Notes
    -----
    The ``math_verify`` pre-check of every original accuracy reward is left out: it never fires
    on box or class answers and costs about 1 ms per completion.  Empty predictions score 0
    against any ground truth, as in the original (``empty_score=0``).

    Examples
    --------
    >>> from vrft_rewards.rewards import visual_rft_rewards
    >>> [f.__name__ for f in visual_rft_rewards("detection")]
    ['accuracy_reward_iou', 'accuracy_reward_confidence', 'format_reward']
    """
    match = dict(method="greedy", iou_threshold=0.5, strict=True, dedupe=True, empty_score=0.0)
    if task == "detection":
        return [
            IoUReward(name="accuracy_reward_iou", **match),
            ConfidenceReward(name="accuracy_reward_confidence", **match),
            FormatReward(name="format_reward"),
        ]
    if task == "classification":
        return [
            ClassificationReward(name="accuracy_reward", mode="substring", require_tags=False),
            FormatReward(name="format_reward"),
        ]
    if task == "grounding":
        return [
            GroundingReward(name="accuracy_reward", variant="giou_plus_one", scale=1000.0, exact_match_score=2.0),
            FormatReward(name="format_reward"),
        ]
    raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}, got {task!r}")


def _recommended(task: str, **options: Any) -> list:
    frame = options.pop("coord_frame", "same")
    if task == "detection":
        box = dict(coord_frame=frame, **options)
        return [FormatReward(), IoUReward(**box), ConfidenceReward(**box)]
    if task == "classification":
        return [FormatReward(), ClassificationReward(**options)]
    if task == "grounding":
        return [FormatReward(), GroundingReward(coord_frame=frame, **options)]
    # KeyError: the registry (resolve_reward_set) turns it into an error listing every preset.
    raise KeyError(task)


def get_preset(task: str, **options: Any) -> list:
    """Reward functions for a task name.

    ``"detection"``, ``"classification"``, ``"grounding"``: this package's defaults (strict
    format + Hungarian IoU + confidence; exact-match classification; IoU grounding), with
    ``options`` passed to the accuracy rewards (e.g. ``coord_frame="norm1000"``).
    ``"visual_rft/<task>"`` (or ``"visual_rft_<task>"``): :func:`visual_rft_rewards`.

    Raises
    ------
    KeyError
        For an unknown task name (``vrft_rewards.rewards.resolve_reward_set`` reports it with
        the list of known presets).
    """
    for prefix in ("visual_rft/", "visual_rft_", "visual-rft/"):
        if task.startswith(prefix):
            if options:
                raise ValueError(f"the Visual-RFT presets take no options, got {sorted(options)}")
            return visual_rft_rewards(task[len(prefix) :])
    return _recommended(task, **options)


def available_presets() -> list:
    """Names accepted by :func:`get_preset`."""
    return list(TASKS) + [f"visual_rft/{t}" for t in TASKS]
