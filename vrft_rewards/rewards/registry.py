"""Task presets by name: ``register_preset`` and ``resolve_reward_set``.

A *preset* is a factory that builds the reward functions of one task (``"detection"``,
``"classification"``, ``"grounding"``, ...). Trainer adapters, the HTTP server, the Ray helpers and
the CLI accept either a task name or the reward functions themselves, and turn both into a
:class:`~vrft_rewards.rewards.combine.RewardSet` here.

Lookup order for a name: presets registered with :func:`register_preset` first; if the name is not
there, the built-in module ``vrft_rewards.rewards.presets`` is imported (once; importing it may
register its presets) and, if the name is still unknown, its ``get_preset(task, **kwargs)`` is
asked.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, Union

from .combine import RewardSet

__all__ = ["available_presets", "register_preset", "resolve_reward_set", "unregister_preset"]

#: Module holding the built-in presets; imported lazily on the first unknown task name.
PRESETS_MODULE = "vrft_rewards.rewards.presets"

PresetResult = Union[RewardSet, Sequence[Callable[..., Any]]]

_FACTORIES: dict[str, Callable[..., PresetResult]] = {}
_LOCK = threading.Lock()


def register_preset(name: str, factory: Callable[..., PresetResult], *, overwrite: bool = False) -> None:
    """Register a task preset under ``name``.

    Parameters
    ----------
    name : str
        Task name, e.g. ``"detection"``; non-empty, no surrounding whitespace.
    factory : callable
        ``factory(**preset_kwargs)`` returning a :class:`RewardSet` or a sequence of reward
        callables. Called on every :func:`resolve_reward_set` of that name; keep it cheap.
    overwrite : bool, default False
        Replace an existing preset of the same name instead of raising.

    Raises
    ------
    TypeError
        If ``name`` is not a str or ``factory`` is not callable.
    ValueError
        If ``name`` is empty or padded, or already registered and ``overwrite`` is False.

    Examples
    --------
    >>> def ones(completions, **kwargs):
    ...     return [1.0] * len(completions)
    >>> register_preset("doc-ones", lambda: [ones])
    >>> resolve_reward_set("doc-ones").names
    ('ones',)
    >>> unregister_preset("doc-ones")
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not name or name != name.strip():
        raise ValueError(f"name must be a non-empty task name without surrounding spaces, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}")
    with _LOCK:
        if name in _FACTORIES and not overwrite:
            raise ValueError(f"a preset named {name!r} is already registered; pass overwrite=True to replace it")
        _FACTORIES[name] = factory


def unregister_preset(name: str) -> None:
    """Remove a preset registered with :func:`register_preset`.

    Raises
    ------
    KeyError
        If no preset of that name is registered.
    """
    with _LOCK:
        if name not in _FACTORIES:
            raise KeyError(f"no preset named {name!r} is registered")
        del _FACTORIES[name]


def _presets_module() -> Any | None:
    try:
        return importlib.import_module(PRESETS_MODULE)
    except ModuleNotFoundError as e:
        if e.name != PRESETS_MODULE:  # the module exists but one of its own imports failed
            raise
        return None


def available_presets() -> list[str]:
    """Sorted names of the known presets (registered ones and the built-in module's, if any)."""
    mod = _presets_module()
    names = set(_FACTORIES)
    if mod is not None and callable(getattr(mod, "available_presets", None)):
        names.update(mod.available_presets())
    return sorted(names)


def _from_name(task: str, preset_kwargs: dict[str, Any]) -> PresetResult:
    with _LOCK:
        factory = _FACTORIES.get(task)
    if factory is not None:
        return factory(**preset_kwargs)
    if ":" in task:
        if preset_kwargs:
            raise TypeError(f"preset options {sorted(preset_kwargs)} do not apply to an import path ({task!r})")
        return _from_import_path(task)
    mod = _presets_module()
    with _LOCK:
        factory = _FACTORIES.get(task)  # importing the module may have registered it
    if factory is not None:
        return factory(**preset_kwargs)
    if mod is not None and callable(getattr(mod, "get_preset", None)):
        try:
            return mod.get_preset(task, **preset_kwargs)
        except KeyError:
            pass  # unknown to the module as well: fall through to the error below
    known = available_presets()
    hint = "" if mod is not None else f" (the built-in presets module {PRESETS_MODULE} is not available)"
    raise ValueError(
        f"task must name a known preset {known}, got {task!r}{hint}; "
        "register one with vrft_rewards.rewards.register_preset(name, factory)"
    )


def _from_import_path(spec: str) -> PresetResult:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"task import path must look like 'package.module:attribute', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"task {spec!r}: cannot import module {module_name!r} ({e})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"task {spec!r}: {module_name!r} has no attribute {attr!r}") from None
    if isinstance(obj, RewardSet) or (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))):
        return obj
    if callable(obj):
        return [obj]
    raise TypeError(
        f"task {spec!r} must name a RewardSet, a list of reward callables or one reward callable, "
        f"got {type(obj).__name__}"
    )


def resolve_reward_set(
    task_or_funcs: str | RewardSet | Callable[..., Any] | Sequence[Callable[..., Any]], **preset_kwargs: Any
) -> RewardSet:
    """Turn a task name, a reward function, a list of them, or a RewardSet into a RewardSet.

    Parameters
    ----------
    task_or_funcs : str, RewardSet, callable or sequence of callables
        A preset name (see module docs for the lookup order), an import path
        ``"package.module:attribute"`` naming a RewardSet, a list of reward callables or one
        reward callable (for names with ``":"`` that are not registered), a ready :class:`RewardSet`
        (returned unchanged), one reward callable, or a list/tuple of them (weights 1).
    **preset_kwargs
        Options for the preset factory (e.g. ``coord_frame="norm1000"``). Only valid with a name.

    Returns
    -------
    RewardSet

    Raises
    ------
    TypeError
        If ``task_or_funcs`` has another type, ``preset_kwargs`` are given with functions, or the
        preset factory returns something other than a RewardSet or a sequence of callables.
    ValueError
        If the name is unknown (the message lists the known names).

    Examples
    --------
    >>> def ones(completions, **kwargs):
    ...     return [1.0] * len(completions)
    >>> resolve_reward_set([ones]).names
    ('ones',)
    """
    if isinstance(task_or_funcs, RewardSet):
        if preset_kwargs:
            raise TypeError(f"preset options {sorted(preset_kwargs)} only apply to a task name, not a RewardSet")
        return task_or_funcs
    if isinstance(task_or_funcs, str):
        built = _from_name(task_or_funcs, preset_kwargs)
        if isinstance(built, RewardSet):
            return built
        if isinstance(built, Sequence) and not isinstance(built, (str, bytes)):
            return RewardSet(built)
        raise TypeError(
            f"preset {task_or_funcs!r} must build a RewardSet or a list of reward callables, got {type(built).__name__}"
        )
    if preset_kwargs:
        raise TypeError(f"preset options {sorted(preset_kwargs)} only apply to a task name, not to reward functions")
    if callable(task_or_funcs):
        return RewardSet([task_or_funcs])
    if isinstance(task_or_funcs, Sequence) and not isinstance(task_or_funcs, bytes):
        return RewardSet(task_or_funcs)
    raise TypeError(
        "task_or_funcs must be a task name, a RewardSet, a reward callable or a list of them, "
        f"got {type(task_or_funcs).__name__}"
    )
