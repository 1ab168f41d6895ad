"""Compatibility path: LVIS evaluation lives in :mod:`vrft_rewards.cocoeval.lvis`."""

from __future__ import annotations

from ..cocoeval.lvis import LVISeval, LVISParams, evaluate_lvis

__all__ = ["LVISParams", "LVISeval", "evaluate_lvis"]
