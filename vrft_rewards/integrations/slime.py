"""slime adapter: an async reward function for ``--custom-rm-path``.

slime (THUDM/slime, ``slime/rollout/rm_hub/__init__.py``) imports ``--custom-rm-path`` as a dotted
path ``package.module.function`` and awaits ``function(args, sample, **kwargs)`` for one sample,
or ``function(args, samples, **kwargs)`` with a list (``--group-rm``, batched rollouts). A sample
carries ``response`` (str), ``label`` (the dataset's label) and ``metadata`` (dict). The reward may
be a number or a dict; with a dict, ``--reward-key score`` tells slime which key is the reward.

Here a sample's ``label`` is the ``solution`` column (a dict label gives its keys as columns),
``metadata`` entries become further columns (``width``, ``height``, ...) and
``metadata["task"]`` may pick the task of the sample. Scoring runs in a worker thread, so
slime's event loop stays free; a list is scored with one call per reward function.

Configuration: ``--custom-rm-path vrft_rewards.integrations.slime.reward_func --reward-key score``
with ``VRFT_REWARDS_TASK=detection`` in the environment of the rollout workers. For options, a
module of your own on the ``PYTHONPATH``::

    # my_rewards.py, then --custom-rm-path my_rewards.reward_func
    from vrft_rewards.integrations.slime import make_reward_func
    reward_func = make_reward_func("detection", preset_kwargs={"coord_frame": "abs"})
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from vrft_rewards.integrations.verl import compute_score_async

__all__ = ["TASK_ENV", "SlimeRewardFunc", "make_reward_func", "reward_func"]

#: Environment variable read by the module-level :func:`reward_func`.
TASK_ENV = "VRFT_REWARDS_TASK"


class SlimeRewardFunc:
    """``async reward_func(args, sample_or_samples, **kwargs)`` for one task (picklable).

    Parameters
    ----------
    task : str, RewardSet or list of callables, optional
        The task of every sample; without it, ``metadata["task"]`` of each sample.
    preset_kwargs : dict, optional
        Options for the preset factory.
    none_score : float, default 0.0
        Stands in for ``None`` ("cannot score"): slime has no skip.

    Returns (when awaited)
    ----------------------
    ``{"score": weighted total, <reward name>: value, ...}`` for a sample, a list of them for a
    list; the same keys for every sample (as the verl adapter's dicts, see
    :func:`vrft_rewards.integrations.verl.compute_score`).
    """

    __name__ = "reward_func"

    def __init__(self, task: Any = None, *, preset_kwargs: Mapping[str, Any] | None = None, none_score: float = 0.0):
        self.task = task
        self.preset_kwargs = dict(preset_kwargs or {})
        self.none_score = none_score

    async def __call__(self, args: Any, sample_or_samples: Any, **kwargs: Any) -> Any:
        batch = isinstance(sample_or_samples, (list, tuple))
        samples = list(sample_or_samples) if batch else [sample_or_samples]
        for i, s in enumerate(samples):
            if not hasattr(s, "response"):
                raise TypeError(f"sample {i} must be a slime Sample with .response, got {type(s).__name__}")
        metadata = [s.metadata if isinstance(getattr(s, "metadata", None), Mapping) else {} for s in samples]
        if self.task is None and any(m.get("task") is None for m in metadata):
            raise ValueError(
                f"no task for a sample: set {TASK_ENV} (e.g. {TASK_ENV}=detection), put 'task' into the samples' "
                "metadata, or write reward_func = make_reward_func('detection') in a module of your own"
            )
        out = await compute_score_async(
            data_sources=[None] * len(samples),
            solution_strs=[s.response for s in samples],
            ground_truths=[getattr(s, "label", None) for s in samples],
            extra_infos=metadata,
            task=self.task,
            preset_kwargs=self.preset_kwargs,
            none_score=self.none_score,
        )
        return out if batch else out[0]

    def __repr__(self) -> str:
        return f"SlimeRewardFunc(task={self.task!r})"


def make_reward_func(task: Any = None, **options: Any) -> SlimeRewardFunc:
    """Build slime's reward function for ``task``; ``options`` as :class:`SlimeRewardFunc`."""
    return SlimeRewardFunc(task, **options)


_FUNCS: dict[str, SlimeRewardFunc] = {}


async def reward_func(args: Any, sample_or_samples: Any, **kwargs: Any) -> Any:
    """slime entry point: ``--custom-rm-path vrft_rewards.integrations.slime.reward_func``.

    The task is the environment variable ``VRFT_REWARDS_TASK``, else ``metadata["task"]`` of
    each sample. ``kwargs`` slime passes are ignored.
    """
    task = os.environ.get(TASK_ENV) or None
    f = _FUNCS.get(task or "")
    if f is None:
        f = _FUNCS.setdefault(task or "", SlimeRewardFunc(task))
    return await f(args, sample_or_samples)
