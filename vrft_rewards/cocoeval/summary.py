"""pycocotools' and lvis-api's summaries, computed with numpy exactly as they compute them."""

from __future__ import annotations

import numpy as np

__all__ = ["coco_summary", "lvis_summary", "lvis_summary_lines", "mean_valid"]


def mean_valid(s: np.ndarray):
    """``np.mean(s[s > -1])`` or -1 when empty: pycocotools' and lvis-api's summary mean."""
    v = s[s > -1]
    if len(v) == 0:
        return -1
    return np.mean(v)


_COCO_LINE = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}"
_LVIS_LINE = " {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} catIds={:>3s}] = {:0.3f}"


def _sel(idx: list, size: int, axis: int):
    """An index list as pycocotools uses it; a single index becomes a length-1 slice, which
    selects the same elements in the same order without copying the array (and raises numpy's
    IndexError where the list index would, e.g. for an emptied ``areaRng``)."""
    if len(idx) == 1:
        if idx[0] >= size:
            raise IndexError(f"index {idx[0]} is out of bounds for axis {axis} with size {size}")
        return slice(idx[0], idx[0] + 1)
    return idx


def _coco_one(precision, recall, iou_thrs, area_lbl, max_dets, ap=1, iouThr=None, areaRng="all", maxDets=100):
    """COCOeval.summarize._summarize: the same indexing, so the same numpy reductions."""
    aind = [i for i, a in enumerate(area_lbl) if a == areaRng]
    mind = [i for i, m in enumerate(max_dets) if m == maxDets]
    if ap == 1:
        s = precision
        if iouThr is not None:
            t = np.where(iouThr == np.asarray(iou_thrs))[0]
            s = s[t]
        if len(aind) == 1 and len(mind) == 1:  # same elements, same order, no copy
            s = s[:, :, :, _sel(aind, s.shape[3], 3), _sel(mind, s.shape[4], 4)]
        else:
            s = s[:, :, :, aind, mind]
    else:
        s = recall
        if iouThr is not None:
            t = np.where(iouThr == np.asarray(iou_thrs))[0]
            s = s[t]
        if len(aind) == 1 and len(mind) == 1:
            s = s[:, :, _sel(aind, s.shape[2], 2), _sel(mind, s.shape[3], 3)]
        else:
            s = s[:, :, aind, mind]
    value = mean_valid(s)
    title = "Average Precision" if ap == 1 else "Average Recall"
    kind = "(AP)" if ap == 1 else "(AR)"
    iou_str = "{:0.2f}:{:0.2f}".format(iou_thrs[0], iou_thrs[-1]) if iouThr is None else "{:0.2f}".format(iouThr)
    return value, _COCO_LINE.format(title, kind, iou_str, areaRng, maxDets, value)


def _coco_calls(max_dets):
    return [
        dict(ap=1),
        dict(ap=1, iouThr=0.5, maxDets=max_dets[2]),
        dict(ap=1, iouThr=0.75, maxDets=max_dets[2]),
        dict(ap=1, areaRng="small", maxDets=max_dets[2]),
        dict(ap=1, areaRng="medium", maxDets=max_dets[2]),
        dict(ap=1, areaRng="large", maxDets=max_dets[2]),
        dict(ap=0, maxDets=max_dets[0]),
        dict(ap=0, maxDets=max_dets[1]),
        dict(ap=0, maxDets=max_dets[2]),
        dict(ap=0, areaRng="small", maxDets=max_dets[2]),
        dict(ap=0, areaRng="medium", maxDets=max_dets[2]),
        dict(ap=0, areaRng="large", maxDets=max_dets[2]),
    ]


def _keypoint_calls():
    # COCOeval.summarize._summarizeKps: every stat at maxDets=20, whatever params.maxDets holds.
    return [
        dict(ap=1, maxDets=20),
        dict(ap=1, maxDets=20, iouThr=0.5),
        dict(ap=1, maxDets=20, iouThr=0.75),
        dict(ap=1, maxDets=20, areaRng="medium"),
        dict(ap=1, maxDets=20, areaRng="large"),
        dict(ap=0, maxDets=20),
        dict(ap=0, maxDets=20, iouThr=0.5),
        dict(ap=0, maxDets=20, iouThr=0.75),
        dict(ap=0, maxDets=20, areaRng="medium"),
        dict(ap=0, maxDets=20, areaRng="large"),
    ]


def coco_summary(precision, recall, iou_thrs, area_lbl, max_dets, iou_type="bbox"):
    """(stats, lines) of COCOeval.summarize: ``_summarizeDets`` (12 stats) for "bbox" / "segm",
    ``_summarizeKps`` (10 stats, all at maxDets=20) for "keypoints".

    Like pycocotools, ``stats[0]`` of boxes / masks looks for maxDets == 100 (-1 when absent) and
    the others index ``max_dets[0..2]`` (fewer than 3 values raise ``IndexError``, as in
    pycocotools).
    """
    calls = _keypoint_calls() if iou_type == "keypoints" else _coco_calls(list(max_dets))
    stats = np.zeros((len(calls),))
    lines = []
    for i, kw in enumerate(calls):
        stats[i], line = _coco_one(precision, recall, iou_thrs, area_lbl, max_dets, **kw)
        lines.append(line)
    return stats, lines


def lvis_summary(precision, recall, iou_thrs, area_lbl, freq_groups, max_dets):
    """OrderedDict-like dict of lvis-api LVISEval.summarize (13 keys), same numpy reductions."""

    def one(summary_type, iou_thr=None, area_rng="all", freq_group_idx=None):
        aidx = [i for i, a in enumerate(area_lbl) if a == area_rng]
        if summary_type == "ap":
            s = precision
            if iou_thr is not None:
                s = s[np.where(iou_thr == np.asarray(iou_thrs))[0]]
            if freq_group_idx is not None:
                if len(aidx) == 1:  # broadcast of [groups] with [a]: the same (T, R, G) array
                    s = s[:, :, freq_groups[freq_group_idx], aidx[0]]
                else:
                    s = s[:, :, freq_groups[freq_group_idx], aidx]
            else:
                s = s[:, :, :, _sel(aidx, s.shape[3], 3)]
        else:
            s = recall
            if iou_thr is not None:
                s = s[np.where(iou_thr == np.asarray(iou_thrs))[0]]
            s = s[:, :, _sel(aidx, s.shape[2], 2)]
        return mean_valid(s)

    res = {}
    res["AP"] = one("ap")
    res["AP50"] = one("ap", iou_thr=0.50)
    res["AP75"] = one("ap", iou_thr=0.75)
    res["APs"] = one("ap", area_rng="small")
    res["APm"] = one("ap", area_rng="medium")
    res["APl"] = one("ap", area_rng="large")
    res["APr"] = one("ap", freq_group_idx=0)
    res["APc"] = one("ap", freq_group_idx=1)
    res["APf"] = one("ap", freq_group_idx=2)
    res[f"AR@{max_dets}"] = one("ar")
    for area in ("small", "medium", "large"):
        res[f"AR{area[0]}@{max_dets}"] = one("ar", area_rng=area)
    return res


def lvis_summary_lines(results: dict, iou_thrs, max_dets) -> list[str]:
    """LVISEval.print_results lines."""
    lines = []
    for key, value in results.items():
        title, kind = ("Average Precision", "(AP)") if "AP" in key else ("Average Recall", "(AR)")
        if len(key) > 2 and key[2].isdigit():
            iou = "{:0.2f}".format(float(key[2:]) / 100)
        else:
            iou = "{:0.2f}:{:0.2f}".format(iou_thrs[0], iou_thrs[-1])
        group = key[2] if len(key) > 2 and key[2] in ["r", "c", "f"] else "all"
        area = key[2] if len(key) > 2 and key[2] in ["s", "m", "l"] else "all"
        lines.append(_LVIS_LINE.format(title, kind, iou, area, max_dets, group, value))
    return lines
