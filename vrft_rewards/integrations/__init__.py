"""Adapters from :class:`~vrft_rewards.rewards.RewardSet` to RL trainers.

One module per trainer, each loadable on its own (verl, EasyR1 and OpenRLHF load reward files
by path):

* :mod:`.trl` - ``trl_reward_funcs`` / ``trl_reward_weights`` for ``GRPOTrainer``;
* :mod:`.verl` - ``compute_score`` (per-sample and batch forms), ``compute_score_async`` and
  ``compute_score_scalar`` (legacy ``prime``);
* :mod:`.easyr1` - batch ``compute_score`` with ``REWARD_TYPE = "batch"``;
* :mod:`.openrlhf` - ``reward_func(queries, prompts, labels)`` and ``make_reward_func``;
* :mod:`.swift` - ms-swift reward plugins (``register_swift_rewards``, ``--external_plugins``);
* :mod:`.slime` - ``async reward_func(args, sample)`` for slime's ``--custom-rm-path``;
* :mod:`.server` - the HTTP reward server (OpenRLHF's ``/get_reward`` and a JSON ``/score``),
  public as :mod:`vrft_rewards.serve`.

Ray scoring (:mod:`vrft_rewards.distributed`) lives beside this package. ``docs/integrations.md``
has a copy-paste example for each.
"""

from __future__ import annotations

from .easyr1 import compute_score as easyr1_compute_score
from .openrlhf import OpenRLHFRewardFunc, completions_from_queries
from .openrlhf import make_reward_func as make_openrlhf_reward_func
from .slime import make_reward_func as make_slime_reward_func
from .swift import register_swift_rewards, swift_arguments
from .trl import AsyncNamedReward, NamedReward, trl_reward_funcs, trl_reward_weights
from .verl import compute_score as verl_compute_score
from .verl import compute_score_async as verl_compute_score_async
from .verl import compute_score_scalar as verl_compute_score_scalar

__all__ = [
    "AsyncNamedReward",
    "NamedReward",
    "OpenRLHFRewardFunc",
    "completions_from_queries",
    "easyr1_compute_score",
    "make_openrlhf_reward_func",
    "make_slime_reward_func",
    "register_swift_rewards",
    "swift_arguments",
    "trl_reward_funcs",
    "trl_reward_weights",
    "verl_compute_score",
    "verl_compute_score_async",
    "verl_compute_score_scalar",
]
