"""TRL adapter: reward functions and weights for ``GRPOTrainer`` / ``RLOOTrainer``.

Our reward callables already have TRL's contract (``f(completions, **kwargs) ->
list[float | None]``, keyword arguments, ``None`` = skip, picklable, stable ``__name__``), so this
module only unpacks a task preset into TRL's two arguments::

    from trl import GRPOConfig, GRPOTrainer
    from vrft_rewards.integrations.trl import trl_reward_funcs, trl_reward_weights

    trainer = GRPOTrainer(
        model=model,
        reward_funcs=trl_reward_funcs("detection"),
        args=GRPOConfig(..., reward_weights=trl_reward_weights("detection")),
        train_dataset=dataset,  # columns "prompt", "solution" (or gt_boxes, ...), "image", ...
    )

TRL logs each function as ``rewards/<name>/mean`` and ``/std`` and their weighted ``nansum`` as
``reward``, the same total as :class:`~vrft_rewards.rewards.RewardSet`'s ``overall``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vrft_rewards.integrations._common import is_async_callable
from vrft_rewards.rewards.combine import reward_name
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["NamedReward", "trl_reward_funcs", "trl_reward_weights"]


class NamedReward:
    """A reward function under another name (TRL logs ``rewards/<__name__>``); picklable.

    Parameters
    ----------
    func : callable
        The reward function; must itself be picklable for the pickling paths.
    name : str
        The name TRL shows.

    Notes
    -----
    :class:`AsyncNamedReward` (chosen by :meth:`wrap`) keeps an ``async def`` function async
    for every TRL release.
    """

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, got {name!r}")
        self.func = func
        self.__name__ = name

    @staticmethod
    def wrap(func: Callable[..., Any], name: str) -> Callable[..., Any]:
        """``func`` itself when TRL would already call it ``name``, else a renaming wrapper."""
        if reward_name(func) == name:
            return func
        return (AsyncNamedReward if is_async_callable(func) else NamedReward)(func, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.func!r}, name={self.__name__!r})"


async def _coroutine_signature(*args: Any, **kwargs: Any) -> Any:
    """Never called: its code object marks :class:`AsyncNamedReward` instances as coroutine functions."""


class AsyncNamedReward(NamedReward):
    """:class:`NamedReward` for ``async def`` reward functions (``__call__`` is a coroutine).

    TRL before 1.14 (and ms-swift, AsyncGRPO) tell async rewards by
    ``inspect.iscoroutinefunction(func)``, which is False for an instance with an ``async def
    __call__``. It is True for any callable that looks like a function to ``inspect`` (a
    ``__name__`` plus ``__code__``, ``__defaults__``, ``__kwdefaults__`` and
    ``__annotations__``) whose code is a coroutine's, so the class carries those of an
    ``async def (*args, **kwargs)`` (Python >= 3.10). They are class attributes: pickling an
    instance keeps only ``func`` and ``__name__``, and the clone is async again.
    """

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self.func(*args, **kwargs)

    __code__ = _coroutine_signature.__code__
    __defaults__ = None
    __kwdefaults__ = None
    __annotations__ = {}  # read by inspect, never mutated


def trl_reward_funcs(task_or_funcs: Any, **preset_kwargs: Any) -> list[Callable[..., Any]]:
    """The reward functions of a task, ready for ``GRPOTrainer(reward_funcs=...)``.

    Parameters
    ----------
    task_or_funcs : str, RewardSet, callable or list of callables
        A preset name (``"detection"``, ``"classification"``, ``"grounding"``) or reward
        functions (see :func:`~vrft_rewards.rewards.resolve_reward_set`).
    **preset_kwargs
        Options for the preset factory (e.g. ``coord_frame="norm1000"``).

    Returns
    -------
    list of callable
        In the set's order, each logged by TRL under the set's name for it (functions whose
        set name differs from their ``__name__`` come wrapped in :class:`NamedReward`).

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def exact(completions, solution, **kwargs):
    ...     return [float(c == s) for c, s in zip(completions, solution)]
    >>> [f.__name__ for f in trl_reward_funcs(RewardSet([exact], names=["accuracy"]))]
    ['accuracy']
    """
    rs = resolve_reward_set(task_or_funcs, **preset_kwargs)
    return [NamedReward.wrap(f, name) for f, name in zip(rs.funcs, rs.names)]


def trl_reward_weights(task_or_funcs: Any, **preset_kwargs: Any) -> list[float]:
    """The weights of a task, for ``GRPOConfig(reward_weights=...)`` (same order as :func:`trl_reward_funcs`).

    Examples
    --------
    >>> from vrft_rewards.rewards import RewardSet
    >>> def ones(completions, **kwargs):
    ...     return [1.0] * len(completions)
    >>> trl_reward_weights(RewardSet([ones], weights=[0.5]))
    [0.5]
    """
    return list(resolve_reward_set(task_or_funcs, **preset_kwargs).weights)
