"""
vrft_rewards CUDA kernels
"""
from __future__ import annotations
import typing
__all__: list[str] = ['add_f32', 'device_count']
def add_f32(a_ptr: typing.SupportsInt | typing.SupportsIndex, b_ptr: typing.SupportsInt | typing.SupportsIndex, out_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Placeholder kernel out = a + b over n float32 device values (build smoke test).
    """
def device_count() -> int:
    """
    Number of visible CUDA devices.
    """
