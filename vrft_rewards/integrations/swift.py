"""ms-swift adapter: our rewards as ms-swift reward plugins (``swift rlhf --rlhf_type grpo``).

ms-swift (4.x, ``swift/rlhf_trainers/grpo_trainer.py`` ``_prepare_rewards``) turns each name of
``--reward_funcs`` into ``swift.rewards.orms[name](args=args)``, logs it as
``rewards/<class name>/mean`` and calls it once per batch as ``reward(completions, **kwargs)``
(``swift/rl_core/grpo_algorithm.py`` ``compute_rewards_per_func``): ``completions`` are the
strings of the last assistant messages, ``kwargs`` every dataset column (``solution``, ...) plus
``messages``, ``images``, ``trainer_state`` and rollout fields; ``None`` becomes NaN. Rewards are
registered by a plugin file passed as ``--external_plugins``: :func:`register_swift_rewards`
puts one ``ORM`` subclass per reward of a task into ``orms``, named after the reward, so that the
logs read ``rewards/iou_reward/mean``.

This file is itself such a plugin: given as ``--external_plugins``, it registers the task named
by the environment variable ``VRFT_REWARDS_TASK``. For options write a two-line plugin::

    from vrft_rewards.integrations.swift import register_swift_rewards
    register_swift_rewards("detection", preset_kwargs={"coord_frame": "abs"})

Absolute imports only: ms-swift executes plugin files as standalone modules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from vrft_rewards.integrations._common import is_async_callable
from vrft_rewards.rewards.registry import resolve_reward_set

__all__ = ["DEFAULT_PREFIX", "TASK_ENV", "orm_classes", "register_swift_rewards", "swift_arguments"]

#: Environment variable read when this file is loaded as an ms-swift plugin.
TASK_ENV = "VRFT_REWARDS_TASK"
#: Prefix of the ``orms`` keys (the ``--reward_funcs`` names), which keeps them apart from
#: ms-swift's own (``format``, ``accuracy``, ...).
DEFAULT_PREFIX = "vrft_"


def _orm_class(name: str, func: Callable[..., Any], base: type, async_base: type) -> type:
    if is_async_callable(func):

        async def __call__(self: Any, completions: list[Any], **kwargs: Any) -> Any:  # noqa: N807
            return await func(completions=completions, **kwargs)

        parent = async_base
    else:

        def __call__(self: Any, completions: list[Any], **kwargs: Any) -> Any:  # noqa: N807
            return func(completions=completions, **kwargs)

        parent = base

    def __init__(self: Any, args: Any = None, **kwargs: Any) -> None:  # noqa: N807 - ms-swift passes args=
        parent.__init__(self, args, **kwargs)

    doc = f"vrft_rewards reward {name!r} as an ms-swift ORM (logged as rewards/{name})."
    # ms-swift logs rewards that are not plain functions by their class name: name the class so.
    return type(name, (parent,), {"__init__": __init__, "__call__": __call__, "__doc__": doc, "vrft_reward": func})


def orm_classes(
    task: Any, *, preset_kwargs: Mapping[str, Any] | None = None, prefix: str = DEFAULT_PREFIX
) -> dict[str, type]:
    """One ms-swift ``ORM`` subclass per reward of ``task``: ``{prefix + name: class named name}``.

    ``async def`` rewards become ``AsyncORM`` subclasses (ms-swift gathers those on an event
    loop). Needs ms-swift (``swift.rewards``).
    """
    from swift.rewards import ORM, AsyncORM

    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    rs = resolve_reward_set(task, **dict(preset_kwargs or {}))
    return {prefix + name: _orm_class(name, f, ORM, AsyncORM) for f, name in zip(rs.funcs, rs.names)}


def register_swift_rewards(
    task: Any, *, preset_kwargs: Mapping[str, Any] | None = None, prefix: str = DEFAULT_PREFIX
) -> list[str]:
    """Register the rewards of ``task`` in ``swift.rewards.orms``; returns the ``--reward_funcs`` names.

    Parameters
    ----------
    task : str, RewardSet or list of callables
        A preset name (``"detection"``, ...), an import path ``"pkg.mod:attr"`` or the functions.
    preset_kwargs : dict, optional
        Options for the preset factory (e.g. ``{"coord_frame": "abs"}``).
    prefix : str, default ``"vrft_"``
        Prefix of the registered names; the logged names are the reward names themselves.

    Returns
    -------
    list of str
        The registered names in the set's order: pass them to ``--reward_funcs`` and the set's
        weights (:func:`swift_arguments`) to ``--reward_weights``.

    Raises
    ------
    ValueError
        If a name is already registered by something else (an ms-swift reward, another plugin).
    """
    from swift.rewards import orms

    classes = orm_classes(task, preset_kwargs=preset_kwargs, prefix=prefix)
    taken = [k for k in classes if k in orms and not hasattr(orms[k], "vrft_reward")]
    if taken:
        raise ValueError(f"ms-swift rewards {taken} are registered already; pass another prefix=")
    orms.update(classes)
    return list(classes)


def swift_arguments(
    task: Any, *, preset_kwargs: Mapping[str, Any] | None = None, prefix: str = DEFAULT_PREFIX
) -> list[str]:
    """The ``swift rlhf`` arguments that select the rewards of ``task`` with their weights.

    Needs no ms-swift.

    Examples
    --------
    >>> " ".join(swift_arguments("detection"))
    '--reward_funcs vrft_format_reward vrft_iou_reward vrft_confidence_reward --reward_weights 1 1 1'
    """
    rs = resolve_reward_set(task, **dict(preset_kwargs or {}))
    weights = [f"{w:g}" for w in rs.weights]
    return ["--reward_funcs", *(prefix + name for name in rs.names), "--reward_weights", *weights]


def _register_as_plugin() -> None:
    task = os.environ.get(TASK_ENV)
    if not task:
        raise RuntimeError(
            f"vrft_rewards' ms-swift plugin needs a task: set {TASK_ENV} (e.g. {TASK_ENV}=detection), or write a "
            "plugin file that calls vrft_rewards.integrations.swift.register_swift_rewards('detection', ...)"
        )
    register_swift_rewards(task)


# ms-swift loads --external_plugins files under another module name (swift.utils.import_external_file):
# then this file is the plugin and registers the task of the environment.
if __name__ != "vrft_rewards.integrations.swift":
    _register_as_plugin()
