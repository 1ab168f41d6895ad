"""
vrft_rewards native core (CPU)
"""
from __future__ import annotations
import typing
__all__: list[str] = ['get_num_threads', 'paired_iou_f32', 'paired_iou_f64', 'pairwise_iou_f32', 'pairwise_iou_f64', 'set_num_threads']
def get_num_threads() -> int:
    """
    Number of threads batch calls use (including the caller).
    """
def paired_iou_f32(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, validate: bool = True) -> None:
    ...
def paired_iou_f64(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, validate: bool = True) -> None:
    ...
def pairwise_iou_f32(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, validate: bool = True) -> None:
    ...
def pairwise_iou_f64(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, validate: bool = True) -> None:
    ...
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the thread-pool size; 0 restores the CPU count.
    """
