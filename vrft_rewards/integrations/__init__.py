"""Adapters from :class:`~vrft_rewards.rewards.RewardSet` to RL trainers.

One module per trainer, each loadable on its own (verl, EasyR1 and OpenRLHF load reward files
by path):

* :mod:`.trl` - ``trl_reward_funcs`` / ``trl_reward_weights`` for ``GRPOTrainer``;
* :mod:`.verl` - ``compute_score`` (per-sample and batch forms) and ``compute_score_async``;
* :mod:`.easyr1` - batch ``compute_score`` with ``REWARD_TYPE = "batch"``;
* :mod:`.openrlhf` - ``reward_func(queries, prompts, labels)`` and ``make_reward_func``;
* :mod:`.server` - the HTTP reward server (OpenRLHF's ``/get_reward`` and a JSON ``/score``),
  public as :mod:`vrft_rewards.serve`.

Ray scoring (:mod:`vrft_rewards.distributed`) lives beside this package. ``docs/integrations.md``
has a copy-paste example for each.
"""

from __future__ import annotations

from .easyr1 import compute_score as easyr1_compute_score
from .openrlhf import OpenRLHFRewardFunc, completions_from_queries
from .openrlhf import make_reward_func as make_openrlhf_reward_func
from .trl import AsyncNamedReward, NamedReward, trl_reward_funcs, trl_reward_weights
from .verl import compute_score as verl_compute_score
from .verl import compute_score_async as verl_compute_score_async

__all__ = [
    "AsyncNamedReward",
    "NamedReward",
    "OpenRLHFRewardFunc",
    "completions_from_queries",
    "easyr1_compute_score",
    "make_openrlhf_reward_func",
    "trl_reward_funcs",
    "trl_reward_weights",
    "verl_compute_score",
    "verl_compute_score_async",
]
