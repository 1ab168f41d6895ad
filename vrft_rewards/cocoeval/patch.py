"""Route code you cannot edit to the native engine: ``patch_pycocotools()`` / ``patched_pycocotools()``.

pycocotools' ``COCOeval`` (and lvis-api's ``LVISEval``) are replaced by :class:`COCOeval` /
:class:`LVISeval` — on request, never on import — and the returned function puts everything back.

What the patch rebinds:

1. the module attributes ``pycocotools.cocoeval.COCOeval``, ``lvis.LVISEval`` and
   ``lvis.eval.LVISEval`` (code that imports them at call time: torchmetrics'
   ``MeanAveragePrecision``, detectron2's LVIS evaluator);
2. every global of an already-imported module that *is* one of those classes (code that did
   ``from pycocotools.cocoeval import COCOeval`` at import: torchvision's and DETR's
   ``coco_eval.py``, detectron2's ``coco_evaluation.py``, mmdetection's ``coco_api.py`` /
   ``coco_metric.py``), found by one pass over ``sys.modules``.

What it cannot reach: subclasses of pycocotools' class defined before the patch (detectron2's
``COCOeval_opt`` and ``COCOevalMaxDets``, mmdetection's ``COCOevalMP``: patch before importing
them), objects already constructed, and evaluators that are not pycocotools' at all
(ultralytics calls faster-coco-eval's ``COCOeval_faster``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from typing import Callable, Iterator

__all__ = ["patch_pycocotools", "patched_pycocotools"]

_lock = threading.Lock()

# (module name, attribute) of the classes replaced, and what replaces them.
_TARGETS = (
    ("pycocotools.cocoeval", "COCOeval", "coco"),
    ("lvis", "LVISEval", "lvis"),
    ("lvis.eval", "LVISEval", "lvis"),
)


def _ours(kind: str):
    if kind == "coco":
        from .coco_dropin import COCOeval

        return COCOeval
    from .lvis_dropin import LVISeval

    return LVISeval


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def patch_pycocotools(*, lvis: bool = True) -> Callable[[], None]:
    """Replace pycocotools' ``COCOeval`` (and, with ``lvis``, lvis-api's ``LVISEval``) by the native
    drop-ins, wherever the class is bound (module attributes and already-imported modules' globals).

    Returns
    -------
    callable
        ``undo()``: restores exactly the bindings this call changed (idempotent).  Patches nest:
        undo them in reverse order (or use :func:`patched_pycocotools`).

    Examples
    --------
    >>> from vrft_rewards.eval import patch_pycocotools
    >>> undo = patch_pycocotools()
    >>> import pycocotools.cocoeval
    >>> pycocotools.cocoeval.COCOeval.__module__
    'vrft_rewards.cocoeval.coco_dropin'
    >>> undo()
    >>> pycocotools.cocoeval.COCOeval.__module__
    'pycocotools.cocoeval'
    """
    changed: list[tuple[object, str, object]] = []  # (namespace, name, previous value)
    with _lock:
        originals = {}
        for module_name, attr, kind in _TARGETS:
            if kind == "lvis" and not lvis:
                continue
            module = _import(module_name)
            if module is None or not hasattr(module, attr):
                continue
            current = getattr(module, attr)
            ours = _ours(kind)
            if current is not ours:
                originals[id(current)] = (current, ours)
        if originals:
            for module in list(sys.modules.values()):
                namespace = getattr(module, "__dict__", None)
                if not isinstance(namespace, dict):
                    continue
                for name, value in list(namespace.items()):
                    hit = originals.get(id(value))
                    if hit is not None and value is hit[0]:
                        changed.append((module, name, value))
                        setattr(module, name, hit[1])
    done = False

    def undo() -> None:
        nonlocal done
        with _lock:
            if done:
                return
            for module, name, previous in reversed(changed):
                setattr(module, name, previous)
            done = True

    return undo


@contextlib.contextmanager
def patched_pycocotools(*, lvis: bool = True) -> Iterator[None]:
    """Context manager form of :func:`patch_pycocotools`: patched inside the block only.

    Examples
    --------
    >>> from vrft_rewards.eval import patched_pycocotools
    >>> with patched_pycocotools():
    ...     from pycocotools.cocoeval import COCOeval  # the native drop-in here
    >>> COCOeval.__module__
    'vrft_rewards.cocoeval.coco_dropin'
    """
    undo = patch_pycocotools(lvis=lvis)
    try:
        yield
    finally:
        undo()
