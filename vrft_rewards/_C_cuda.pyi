"""
vrft_rewards CUDA kernels (raw device pointers; see vrft_rewards/_cuda.py)
"""
from __future__ import annotations
import typing
__all__: list[str] = ['SHARED_TILE_BYTES', 'SHARED_TILE_MAX_SIDE', 'device_count', 'find_invalid_boxes_f32', 'find_invalid_boxes_f64', 'match_boxes_f32', 'match_boxes_f64', 'paired_iou_f32', 'paired_iou_f64', 'pairwise_iou_f32', 'pairwise_iou_f64', 'runtime_info']
def device_count() -> int:
    """
    Number of visible CUDA devices.
    """
def find_invalid_boxes_f32(boxes_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, fmt: str, allow_inverted: bool, first_bad_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    first_bad (one device int64, initialised to -1) := min(first_bad, i * 8 + reason) over invalid boxes (reason: 1 non-finite, 2 inverted, 3 negative size, 4 too large).
    """
def find_invalid_boxes_f64(boxes_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, fmt: str, allow_inverted: bool, first_bad_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    first_bad (one device int64, initialised to -1) := min(first_bad, i * 8 + reason) over invalid boxes (reason: 1 non-finite, 2 inverted, 3 negative size, 4 too large).
    """
def match_boxes_f32(pred_ptr: typing.SupportsInt | typing.SupportsIndex, pred_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, gt_ptr: typing.SupportsInt | typing.SupportsIndex, gt_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, n_problems: typing.SupportsInt | typing.SupportsIndex, max_pred: typing.SupportsInt | typing.SupportsIndex, max_gt: typing.SupportsInt | typing.SupportsIndex, scores_ptr: typing.SupportsInt | typing.SupportsIndex, method: str, kind: str, fmt: str, iou_threshold: typing.SupportsFloat | typing.SupportsIndex, strict: bool, scratch_ptr: typing.SupportsInt | typing.SupportsIndex, scratch_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, matched_gt_ptr: typing.SupportsInt | typing.SupportsIndex, matched_value_ptr: typing.SupportsInt | typing.SupportsIndex, matched_pred_ptr: typing.SupportsInt | typing.SupportsIndex, n_matched_ptr: typing.SupportsInt | typing.SupportsIndex, sum_matched_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Batched one-to-one matching on the device (vrft::match_boxes semantics), one warp per problem. Offsets validated by the caller; max_pred / max_gt the largest problem sides; scores_ptr 0 = input order; scratch_ptr 0 = value tiles in shared memory, else global scratch with (B,) int64 scratch_offsets. Outputs preallocated on the device.
    """
def match_boxes_f64(pred_ptr: typing.SupportsInt | typing.SupportsIndex, pred_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, gt_ptr: typing.SupportsInt | typing.SupportsIndex, gt_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, n_problems: typing.SupportsInt | typing.SupportsIndex, max_pred: typing.SupportsInt | typing.SupportsIndex, max_gt: typing.SupportsInt | typing.SupportsIndex, scores_ptr: typing.SupportsInt | typing.SupportsIndex, method: str, kind: str, fmt: str, iou_threshold: typing.SupportsFloat | typing.SupportsIndex, strict: bool, scratch_ptr: typing.SupportsInt | typing.SupportsIndex, scratch_offsets_ptr: typing.SupportsInt | typing.SupportsIndex, matched_gt_ptr: typing.SupportsInt | typing.SupportsIndex, matched_value_ptr: typing.SupportsInt | typing.SupportsIndex, matched_pred_ptr: typing.SupportsInt | typing.SupportsIndex, n_matched_ptr: typing.SupportsInt | typing.SupportsIndex, sum_matched_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Batched one-to-one matching on the device (vrft::match_boxes semantics), one warp per problem. Offsets validated by the caller; max_pred / max_gt the largest problem sides; scores_ptr 0 = input order; scratch_ptr 0 = value tiles in shared memory, else global scratch with (B,) int64 scratch_offsets. Outputs preallocated on the device.
    """
def paired_iou_f32(a_ptr: typing.SupportsInt | typing.SupportsIndex, b_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, fmt: str, kind: str, out_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i] = kind(a[i], b[i]) on the device: a, b (n, 4), out (n,).
    """
def paired_iou_f64(a_ptr: typing.SupportsInt | typing.SupportsIndex, b_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, fmt: str, kind: str, out_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i] = kind(a[i], b[i]) on the device: a, b (n, 4), out (n,).
    """
def pairwise_iou_f32(a_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, b_ptr: typing.SupportsInt | typing.SupportsIndex, m: typing.SupportsInt | typing.SupportsIndex, fmt: str, kind: str, out_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i, j] = kind(boxes1[i], boxes2[j]) on the device: a (n, 4), b (m, 4), out (n, m) C-contiguous device pointers; enqueued on `stream`. No validation (find_invalid_boxes).
    """
def pairwise_iou_f64(a_ptr: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, b_ptr: typing.SupportsInt | typing.SupportsIndex, m: typing.SupportsInt | typing.SupportsIndex, fmt: str, kind: str, out_ptr: typing.SupportsInt | typing.SupportsIndex, stream: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    out[i, j] = kind(boxes1[i], boxes2[j]) on the device: a (n, 4), b (m, 4), out (n, m) C-contiguous device pointers; enqueued on `stream`. No validation (find_invalid_boxes).
    """
def runtime_info() -> dict:
    """
    CUDA runtime / driver versions (1000 * major + 10 * minor), device count and the device-count error message ('' if none), for diagnostics.
    """
SHARED_TILE_BYTES: int = 16384
SHARED_TILE_MAX_SIDE: int = 256
