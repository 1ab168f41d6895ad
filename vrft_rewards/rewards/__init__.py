"""GRPO reward functions and the machinery shared by every trainer integration.

Reward functions follow TRL's contract ``f(completions, **kwargs) -> list[float | None]``.
:class:`RewardSet` applies several of them, with weights, to one batch; task presets are looked up
by name through :func:`resolve_reward_set` (register more with :func:`register_preset`).
"""

from __future__ import annotations

from .combine import RewardSet, RewardSetResult, reward_name
from .registry import available_presets, register_preset, resolve_reward_set, unregister_preset

__all__ = [
    "RewardSet",
    "RewardSetResult",
    "available_presets",
    "register_preset",
    "resolve_reward_set",
    "reward_name",
    "unregister_preset",
]
