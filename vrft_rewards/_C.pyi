"""
vrft_rewards native core (CPU)
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['EvalState', 'MaskSet', 'SegmArena', 'completion_ap', 'completion_texts', 'convert_boxes_f32', 'convert_boxes_f64', 'eval_accumulate', 'eval_evaluate', 'eval_max_matching_counts', 'eval_merge', 'eval_parse_results', 'eval_positions', 'eval_read_results', 'eval_read_shape_results', 'eval_select_lvis', 'eval_tide', 'eval_tie_range', 'get_num_threads', 'keypoint_rows', 'lsap', 'lsap_batch_list', 'lsap_batch_padded', 'match_boxes_f32', 'match_boxes_f64', 'normalize_texts', 'numpy_pairwise_sum', 'oks_exponents', 'oks_reduce', 'paired_iou_f32', 'paired_iou_f64', 'pairwise_iou_f32', 'pairwise_iou_f64', 'parse_completions', 'rasterize_boxes', 'records_columns', 'rle_decode', 'score_detection_rows', 'segm_area_box', 'segm_arena', 'segment_stable_argsort_desc', 'segment_sum_sequential', 'select_segment_boxes', 'set_num_threads', 'slice_texts']
class EvalState:
    def __getstate__(self) -> tuple:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def dt_index(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def dt_match(self) -> numpy.typing.NDArray[numpy.int32]:
        ...
    @property
    def dt_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def dt_score(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def dt_state(self) -> numpy.typing.NDArray[numpy.uint8]:
        ...
    @property
    def group_category(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def group_image(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def gt_index(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def gt_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def iou_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def ious(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def num_groups(self) -> int:
        ...
    @property
    def num_positive_gt(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
class MaskSet:
    def __init__(self, heights: typing.Any, widths: typing.Any, rle: list, rle_offsets: typing.Any, coords: typing.Any, coord_offsets: typing.Any, polygon_offsets: typing.Any) -> None:
        ...
    def box_overlap(self, boxes: typing.Any, valid: typing.Any) -> tuple:
        ...
    def counts(self, i: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def area(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def bbox(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def status(self) -> numpy.typing.NDArray[numpy.uint8]:
        ...
class SegmArena:
    def __getstate__(self) -> tuple:
        ...
    def __len__(self) -> int:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
def completion_ap(pred: typing.Any, scores: typing.Any, pred_categories: typing.Any, pred_offsets: typing.Any, gt: typing.Any, gt_categories: typing.Any, gt_offsets: typing.Any, iou_thresholds: typing.Any, rec_thresholds: typing.Any, max_dets: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float64]:
    """
    Per-completion COCO AP (pycocotools per-sample stats), -1 without ground truth.
    """
def completion_texts(completions: typing.Any, invalid: str) -> tuple:
    """
    The text parse_completions reads from each completion, as a tuple of str.
    """
def convert_boxes_f32(boxes: typing.Any, src: str, dst: str, out: typing.Any) -> None:
    """
    out = torchvision box_convert(boxes, src, dst); rejects NaN/inf.
    """
def convert_boxes_f64(boxes: typing.Any, src: str, dst: str, out: typing.Any) -> None:
    """
    out = torchvision box_convert(boxes, src, dst); rejects NaN/inf.
    """
def eval_accumulate(state: typing.Any, rec_thrs: typing.Any, max_dets: typing.Any) -> tuple:
    ...
def eval_evaluate(gt: dict, dt: dict, num_images: typing.SupportsInt | typing.SupportsIndex, num_categories: typing.SupportsInt | typing.SupportsIndex, iou_thrs: typing.Any, area_rng: typing.Any, max_dets_per_group: typing.SupportsInt | typing.SupportsIndex, *, gt_masks: typing.Any = None, dt_masks: typing.Any = None, ious: typing.Any = None, plan_only: bool = False, keep_ious: bool = False, keep_matches: bool = False) -> EvalState:
    ...
def eval_max_matching_counts(gt: dict, dt: dict, num_images: typing.SupportsInt | typing.SupportsIndex, num_categories: typing.SupportsInt | typing.SupportsIndex, iou_thr: typing.SupportsFloat | typing.SupportsIndex, area_lo: typing.SupportsFloat | typing.SupportsIndex, area_hi: typing.SupportsFloat | typing.SupportsIndex) -> dict:
    ...
def eval_merge(states: list, gt_rows: list, dt_rows: list) -> EvalState:
    ...
def eval_parse_results(data: bytes) -> typing.Any:
    ...
def eval_positions(ids: typing.Any, table: typing.Any) -> numpy.typing.NDArray[numpy.int64]:
    """
    Index of the first occurrence of each id in table (int64), -1 when absent.
    """
def eval_read_results(path: bytes, block_bytes: typing.SupportsInt | typing.SupportsIndex = 33554432) -> typing.Any:
    """
    A results JSON file (path as bytes) read into columns in blocks of block_bytes (at least 4096), or None when it is off the fast path or cannot be read.
    """
def eval_read_shape_results(path: bytes, image_ids: typing.Any, heights: typing.Any, widths: typing.Any, want_segm: bool, num_keypoints: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    """
    A mask / keypoint results JSON file (path as bytes) read into columns (image_id, category_id, score, bbox, has_bbox, has_segmentation; masks: a SegmArena when want_segm; keypoints (N, 3K) and kp_integral when num_keypoints > 0), polygons taking the size of their image (image_ids, heights, widths; -1: unknown), or None when it is off the fast path or cannot be read.
    """
def eval_select_lvis(image_id: typing.Any, category_id: typing.Any, box: typing.Any, area: typing.Any, img_ids: typing.Any, cat_ids: typing.Any, present_image: typing.Any, present_category: typing.Any, absent_image_id: typing.Any, absent_category_id: typing.Any, nel_image_id: typing.Any, nel_category_id: typing.Any, max_bitset_bits: typing.SupportsInt | typing.SupportsIndex = -1) -> tuple:
    """
    lvis-api's detection selection (evaluated image / category, 0 < area < inf, federated filter): (rows, image positions, category positions, not_exhaustive flags). max_bitset_bits (tests): the largest image x category bitset, -1: the default.
    """
def eval_tide(gt_offsets: typing.Any, gt_box: typing.Any, gt_class: typing.Any, ig_offsets: typing.Any, ig_box: typing.Any, ig_class: typing.Any, wi_offsets: typing.Any, wi_class: typing.Any, dt_offsets: typing.Any, dt_box: typing.Any, dt_class: typing.Any, dt_score: typing.Any, max_dets: typing.SupportsInt | typing.SupportsIndex, pos_thresh: typing.SupportsFloat | typing.SupportsIndex, bg_thresh: typing.SupportsFloat | typing.SupportsIndex, thresholds: typing.Any) -> dict:
    ...
def eval_tie_range(gt: dict, dt: dict, num_images: typing.SupportsInt | typing.SupportsIndex, num_categories: typing.SupportsInt | typing.SupportsIndex, iou_thrs: typing.Any, area_rng: typing.Any, max_dets_per_group: typing.SupportsInt | typing.SupportsIndex, rec_thrs: typing.Any, cells: typing.Any, unit_budget: typing.SupportsInt | typing.SupportsIndex, combo_budget: typing.SupportsInt | typing.SupportsIndex, num_draws: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> dict:
    ...
def get_num_threads() -> int:
    """
    Number of threads batch calls use (including the caller).
    """
def keypoint_rows(values: list, num_keypoints: typing.SupportsInt | typing.SupportsIndex, where: str) -> tuple:
    ...
def lsap(cost_matrix: typing.Any, maximize: bool = False) -> tuple:
    """
    scipy-compatible linear_sum_assignment on a C-contiguous float64 matrix.
    """
def lsap_batch_list(costs: list, maximize: bool = False) -> tuple:
    """
    Batched LSAP over a list of C-contiguous float64 matrices -> (rows, cols, offsets, totals).
    """
def lsap_batch_padded(costs: typing.Any, shapes: typing.Any, maximize: bool = False) -> tuple:
    """
    Batched LSAP over a padded (B, N, M) float64 array with shapes (B, 2).
    """
def match_boxes_f32(pred: typing.Any, pred_offsets: typing.Any, gt: typing.Any, gt_offsets: typing.Any, scores: typing.Any, method: str, kind: str, fmt: str, iou_threshold: typing.SupportsFloat | typing.SupportsIndex, strict: bool) -> dict:
    ...
def match_boxes_f64(pred: typing.Any, pred_offsets: typing.Any, gt: typing.Any, gt_offsets: typing.Any, scores: typing.Any, method: str, kind: str, fmt: str, iou_threshold: typing.SupportsFloat | typing.SupportsIndex, strict: bool) -> dict:
    ...
def normalize_texts(sources: list, start: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], end: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], lower: bool, strip_punct: bool, underscores: typing.SupportsInt | typing.SupportsIndex, collapse_space: bool, drop_space: bool) -> list:
    ...
def numpy_pairwise_sum(values: typing.Any) -> float:
    """
    Sum in numpy's pairwise order (equals np.sum on a contiguous float64 array).
    """
def oks_exponents(plan: EvalState, vars: typing.Any, gt_keypoints: typing.Any, gt_integral: typing.Any, gt_box: typing.Any, gt_area: typing.Any, dt_keypoints: typing.Any, dt_integral: typing.Any) -> tuple:
    ...
def oks_reduce(values: typing.Any, counts: typing.Any) -> numpy.typing.NDArray[numpy.float64]:
    ...
def paired_iou_f32(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, clamp: bool = False) -> None:
    """
    out[i] = kind(boxes1[i], boxes2[i]); validation as pairwise.
    """
def paired_iou_f64(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, clamp: bool = False) -> None:
    """
    out[i] = kind(boxes1[i], boxes2[i]); validation as pairwise.
    """
def pairwise_iou_f32(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, clamp: bool = False) -> None:
    """
    out[i, j] = kind(boxes1[i], boxes2[j]); validates the boxes (clamp=True accepts inverted boxes and clamps them to zero size).
    """
def pairwise_iou_f64(boxes1: typing.Any, boxes2: typing.Any, fmt: str, kind: str, out: typing.Any, clamp: bool = False) -> None:
    """
    out[i, j] = kind(boxes1[i], boxes2[j]); validates the boxes (clamp=True accepts inverted boxes and clamps them to zero size).
    """
def parse_completions(completions: typing.Any, schema: str, answer: str, require_tags: bool, invalid: str) -> dict:
    ...
def rasterize_boxes(boxes: typing.Any, height: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.int64]:
    ...
def records_columns(records: typing.Any, fields: list) -> list:
    """
    Fields of every record dict, in one pass: for each (key, kind, default) of fields (kind: 'int' int64, 'float' float64, 'flag' uint8 truthiness, 'box' (N, 4) float64; default None: required), its numpy column, or None when a record is off the fast path for it (Python then converts that field).
    """
def rle_decode(text: bytes) -> numpy.typing.NDArray[numpy.int64]:
    ...
def score_detection_rows(texts: typing.Any, solutions: typing.Any, answer_first: bool, method: typing.SupportsInt | typing.SupportsIndex, kind: typing.SupportsInt | typing.SupportsIndex, iou_threshold: typing.SupportsFloat | typing.SupportsIndex, strict: bool, dedupe: bool, frames: typing.Any, gt: typing.Any) -> tuple:
    """
    Fused per-completion detection and format rewards of a small batch: (rows, pair_sum, n_pairs).
    """
def segm_area_box(masks: SegmArena) -> tuple:
    ...
def segm_arena(segmentations: list, heights: typing.Any, widths: typing.Any, boxes: typing.Any, where: str) -> SegmArena:
    ...
def segment_stable_argsort_desc(scores: typing.Any, offsets: typing.Any) -> numpy.typing.NDArray[numpy.int64]:
    """
    Global indices sorted by descending score within each segment, ties in input order.
    """
def segment_sum_sequential(values: typing.Any, offsets: typing.Any) -> numpy.typing.NDArray[numpy.float64]:
    """
    Per-segment sums added left to right from 0.0 (Python loop order).
    """
def select_segment_boxes(boxes: typing.Any, offsets: typing.Any, keep_segment: typing.Any, dedupe: bool, collapse_inverted: bool) -> tuple:
    """
    (boxes, offsets, source) of the kept segments, optionally deduplicated and with inverted boxes collapsed to zero size.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Set the thread-pool size; 0 restores the CPU count.
    """
def slice_texts(sources: list, index: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], start: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], end: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> list:
    ...
