"""CUDA path of the geometry and matching functions: torch CUDA tensors in, CUDA tensors out.

The public functions (:func:`vrft_rewards.box_iou`, :func:`~vrft_rewards.paired_box_iou`,
:func:`~vrft_rewards.match_boxes`) send torch CUDA tensors here.  This module checks devices,
dtypes and shapes, allocates every output with torch on the inputs' device, and passes raw
device pointers plus ``torch.cuda.current_stream(device).cuda_stream`` to ``_C_cuda``, which
only enqueues kernels on that stream (it does not link libtorch).  See ``docs/cuda.md``.

Contract
--------
* All tensor inputs must be on one CUDA device; CPU tensors, numpy arrays and lists mixed with
  CUDA tensors are refused (``ValueError``/``TypeError``), nothing is moved implicitly.
* Boxes are float32 or float64 (both inputs the same dtype); other dtypes raise ``TypeError``
  (no silent cast: convert with ``.float()`` / ``.double()``).
* Non-contiguous inputs are copied with ``.contiguous()`` (documented copy; the result is the
  same as for a contiguous input).  Inputs are read through ``.detach()``: results carry no
  autograd history.
* Host synchronisations, all deliberate: ``box_iou`` / ``paired_box_iou`` read the 16-byte
  result of the box validity check (to raise ``ValueError`` like the CPU path).  ``match_boxes``
  reads the validity keys together with the offsets when those are CUDA tensors (one transfer:
  the offsets are validated on the host and size the launch), uploads host offsets and scratch
  offsets in one blocking copy (skipped when the offsets are contiguous int64 CUDA tensors and no
  scratch is needed), and runs one ``torch.nonzero`` to size the flat list of matched pairs.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ._arrays import int64_array, is_torch_tensor
from ._batch_results import MatchResult
from ._ext import require_cuda

__all__ = ["convert_cuda", "match_boxes_cuda", "overlap_cuda"]

# Reason codes of _C_cuda.find_invalid_boxes_* (csrc/cuda/kernels.h, InvalidBox) -> the texts of
# vrft::find_invalid_box (csrc/geometry/validate.cpp); tests/test_cuda.py checks them against the
# CPU path's messages.
_REASONS = {
    1: "non-finite coordinate (NaN or inf)",
    2: "inverted box (x2 < x1 or y2 < y1)",
    3: "negative width or height",
}
_TOO_LARGE = {
    "float32": "coordinate magnitude exceeds 2**62 ~ 4.6e18, where float32 areas and squared "
    "distances could overflow; pass float64 boxes",
    "float64": "coordinate magnitude exceeds 2**510 ~ 3.4e153, where float64 areas and squared "
    "distances could overflow",
}


def _torch() -> Any:
    return sys.modules["torch"]  # a CUDA tensor reached us, so torch is loaded


def _dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


def _where(x: Any) -> str:
    if is_torch_tensor(x):
        return f"a {x.device} tensor"
    return f"a {type(x).__name__}"


def _common_device(named: list[tuple[Any, str]]) -> Any:
    """The CUDA device shared by every non-None input; raise when any input lives elsewhere."""
    device = None
    first = ""
    for x, name in named:
        if is_torch_tensor(x) and x.device.type == "cuda":
            device, first = x.device, name
            break
    assert device is not None, "called without a CUDA tensor"
    for x, name in named:
        if x is None:
            continue
        if not is_torch_tensor(x):
            raise TypeError(
                f"{name} must be a torch tensor on {device} like {first}, got "
                f"{_where(x)}; vrft_rewards moves nothing between devices implicitly"
            )
        if x.device != device:
            raise ValueError(f"{name} is on {x.device} but {first} is on {device}; put all inputs on one device")
    return device


def _box_dtype(named: list[tuple[Any, str]]) -> str:
    """float32 or float64, the same for every box input."""
    names = []
    for x, name in named:
        text = _dtype_name(x)
        if text not in ("float32", "float64"):
            raise TypeError(
                f"{name} must be a float32 or float64 CUDA tensor, got torch.{text} "
                "(convert with .float() or .double())"
            )
        names.append(text)
    if len(set(names)) > 1:
        listed = " and ".join(f"{n} torch.{d}" for (_, n), d in zip(named, names))
        raise TypeError(f"CUDA inputs must share one dtype, got {listed} (convert one with .to(other.dtype))")
    return names[0]


def _boxes(x: Any, name: str) -> Any:
    """``x`` detached, as a contiguous ``(N, 4)`` tensor (a copy only when not contiguous)."""
    x = x.detach()
    if x.dim() == 1 and x.shape[0] == 0:
        x = x.reshape(0, 4)
    if x.dim() != 2 or x.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(x.shape)}")
    return x if x.is_contiguous() else x.contiguous()


def _check_visible(mod: Any, what: str) -> None:
    if mod.device_count() < 1:
        info = mod.runtime_info()
        why = info["error"] or "driver missing or CUDA_VISIBLE_DEVICES empty"
        raise RuntimeError(
            f"{what} got CUDA tensors, but vrft_rewards._C_cuda sees no CUDA device ({why}; "
            f"its CUDA runtime {info['runtime_version']}, driver {info['driver_version']}). A "
            "driver older than the toolkit _C_cuda was built with needs a rebuild with a matching "
            "nvcc."
        )


def _ptr(t: Any) -> int:
    return int(t.data_ptr()) if t.numel() else 0


def _raise_invalid(keys: list[int], names: list[str], dtype: str) -> None:
    """Raise the CPU path's ValueError for the first input holding an invalid box."""
    for key, name in zip(keys, names):
        if key < 0:  # -1: no invalid box
            continue
        index, code = key >> 3, key & 7
        reason = _REASONS.get(code) or _TOO_LARGE[dtype]
        raise ValueError(f"{name}[{index}] is invalid: {reason}")


def _launch_validation(
    mod: Any, boxes: list[Any], fmt: str, allow_inverted: bool, dtype: str, stream: int, extra: Any = None
) -> Any:
    """Enqueue the device validity check of every box tensor; returns the int64 device keys
    (-1: valid, else ``index * 8 + reason``), plus ``extra`` (an int64 device scalar) last."""
    torch = _torch()
    device = boxes[0].device
    flags = torch.full((len(boxes) + (extra is not None),), -1, dtype=torch.int64, device=device)
    fn = mod.find_invalid_boxes_f32 if dtype == "float32" else mod.find_invalid_boxes_f64
    for k, t in enumerate(boxes):
        fn(_ptr(t), t.shape[0], fmt, allow_inverted, int(flags.data_ptr()) + 8 * k, stream)
    if extra is not None:
        flags[len(boxes)] = extra
    return flags


def _check_out(out: Any, device: Any, shape: tuple, dtype: str, inputs: tuple) -> Any:
    if not is_torch_tensor(out) or out.device != device:
        raise TypeError(f"out must be a torch tensor on {device} like the inputs, got {_where(out)}")
    if _dtype_name(out) != dtype:
        raise TypeError(f"out must have dtype {dtype} (the result dtype of the inputs), got torch.{_dtype_name(out)}")
    if out.requires_grad:
        raise ValueError("out must not require grad")
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
    if not out.is_contiguous():
        raise ValueError("out must be C-contiguous")
    lo = out.data_ptr()
    hi = lo + out.numel() * out.element_size()
    for x in inputs:
        xlo = x.data_ptr()
        xhi = xlo + x.numel() * x.element_size()
        if out.numel() and x.numel() and lo < xhi and xlo < hi:
            raise ValueError("out must not share memory with boxes1 or boxes2")
    return out


def overlap_cuda(op: str, boxes1: Any, boxes2: Any, *, fmt: str, kind: str, clamp: bool, out: Any) -> Any:
    """``box_iou`` (``op="box_iou"``) or ``paired_box_iou`` on CUDA tensors."""
    what = f"vrft_rewards.{op}"
    mod = require_cuda(what)
    torch = _torch()
    device = _common_device(
        [(boxes1, "boxes1"), (boxes2, "boxes2"), (out, "out")]
        if out is not None
        else [(boxes1, "boxes1"), (boxes2, "boxes2")]
    )
    dtype = _box_dtype([(boxes1, "boxes1"), (boxes2, "boxes2")])
    a = _boxes(boxes1, "boxes1")
    b = _boxes(boxes2, "boxes2")
    paired = op == "paired_box_iou"
    n, m = a.shape[0], b.shape[0]
    if paired and n != m:
        raise ValueError(f"boxes1 and boxes2 must have the same length, got {n} and {m}")
    shape: tuple = (n,) if paired else (n, m)
    if out is not None:
        _check_out(out, device, shape, dtype, (a, b))
    _check_visible(mod, what)
    with torch.cuda.device(device):
        stream = int(torch.cuda.current_stream(device).cuda_stream)
        flags = _launch_validation(mod, [a, b], fmt, clamp, dtype, stream)
        # documented synchronisation: an invalid box raises before any number is returned
        _raise_invalid(flags.tolist(), ["boxes1", "boxes2"], dtype)
        result = out if out is not None else torch.empty(shape, dtype=a.dtype, device=device)
        if paired:
            fn = mod.paired_iou_f32 if dtype == "float32" else mod.paired_iou_f64
            fn(_ptr(a), _ptr(b), n, fmt, kind, _ptr(result), stream)
        else:
            fn = mod.pairwise_iou_f32 if dtype == "float32" else mod.pairwise_iou_f64
            fn(_ptr(a), n, _ptr(b), m, fmt, kind, _ptr(result), stream)
    return result


def convert_cuda(boxes: Any, src: str, dst: str) -> Any:
    """``convert_boxes`` on a CUDA tensor, with torch elementwise ops.

    Each torch op rounds once and the ops are those of csrc/geometry/convert.cpp (torchvision's
    ``box_convert``) in the same order, so the bits equal the CPU path's; no kernel of ours is
    needed, but the input rules (dtype, shape, NaN/inf check with one sync) are the same as for
    the other CUDA functions.
    """
    what = "vrft_rewards.convert_boxes"
    require_cuda(what)
    torch = _torch()
    _box_dtype([(boxes, "boxes")])
    x = _boxes(boxes, "boxes")
    with torch.cuda.device(x.device):
        if x.shape[0]:
            bad = torch.nonzero(~torch.isfinite(x).all(dim=1))[:1].tolist()  # one sync
            if bad:
                raise ValueError(f"boxes[{bad[0][0]}] is invalid: non-finite coordinate (NaN or inf)")
        a, b, c, d = x.unbind(1)
        if src != dst:
            if src == "xywh":  # x, y, x + w, y + h
                c, d = a + c, b + d
            elif src == "cxcywh":  # cx -+ 0.5 * w, cy -+ 0.5 * h
                a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
            if dst == "xywh":  # x1, y1, x2 - x1, y2 - y1
                c, d = c - a, d - b
            elif dst == "cxcywh":  # (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
                a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
        return torch.stack((a, b, c, d), dim=1)


# ---- match_boxes --------------------------------------------------------------------------------


def _host_offsets(x: Any, name: str) -> np.ndarray:
    """Offsets as a host int64 array (a CUDA tensor is copied to the host: documented sync)."""
    if is_torch_tensor(x):
        if x.dtype.is_floating_point or x.dtype.is_complex or _dtype_name(x) == "bool":
            raise TypeError(f"{name} must hold integers (int64 offsets), got torch.{_dtype_name(x)}")
        return x.detach().to("cpu", dtype=_torch().int64).numpy()
    return int64_array(x, name)


def _reusable_offsets(x: Any, device: Any) -> Any:
    """The caller's offsets tensor when it can be handed to the kernel as is (a contiguous 1-D
    int64 tensor on ``device``, already validated through its host copy), else None."""
    torch = _torch()
    if is_torch_tensor(x) and x.device == device and x.dtype == torch.int64 and x.dim() == 1 and x.is_contiguous():
        return x.detach()
    return None


def _check_offsets(o: np.ndarray, total: int, arg: str, boxes_arg: str) -> np.ndarray:
    """The CPU binding's offset checks (csrc/bindings/args.h, check_offsets), same messages.

    Returns the per-problem counts ``np.diff(o)`` (computed once for the check and the plan).
    """
    if o.ndim != 1 or o.shape[0] < 1:
        shape = "(" + ", ".join(map(str, o.shape)) + (",)" if o.ndim == 1 else ")")
        raise ValueError(f"{arg} must have shape (B + 1,), got {shape}")
    if o[0] != 0:
        raise ValueError(f"{arg}[0] must be 0, got {int(o[0])}")
    counts = np.diff(o)
    if counts.size and counts.min() < 0:
        i = int(np.flatnonzero(counts < 0)[0]) + 1
        raise ValueError(
            f"{arg} must be non-decreasing, but {arg}[{i}] = {int(o[i])} < {arg}[{i - 1}] = {int(o[i - 1])}"
        )
    if o[-1] != total:
        raise ValueError(f"{arg}[-1] must equal len({boxes_arg}) = {total}, got {int(o[-1])}")
    return counts


def match_boxes_cuda(
    pred: Any,
    gt: Any,
    *,
    pred_offsets: Any,
    gt_offsets: Any,
    scores: Any,
    method: str,
    iou_threshold: float,
    kind: str,
    fmt: str,
    strict: bool,
) -> Any:
    """``vrft_rewards.match_boxes`` on CUDA tensors (options already checked by the caller)."""
    what = "vrft_rewards.match_boxes"
    mod = require_cuda(what)
    torch = _torch()
    named = [(pred, "pred"), (gt, "gt")]
    if scores is not None:
        named.append((scores, "scores"))
    # Offsets may stay on the host (numpy, lists, CPU tensors) or sit on the device.
    for off, name in ((pred_offsets, "pred_offsets"), (gt_offsets, "gt_offsets")):
        if is_torch_tensor(off) and off.device.type == "cuda":
            named.append((off, name))
    device = _common_device(named)
    dtype = _box_dtype([(pred, "pred"), (gt, "gt")])
    p = _boxes(pred, "pred")
    g = _boxes(gt, "gt")
    n_pred, n_gt = p.shape[0], g.shape[0]
    if (pred_offsets is None) != (gt_offsets is None):
        raise ValueError("pred_offsets and gt_offsets must be given together (or both omitted for a single problem)")
    # Offsets on the host are converted now; offsets on the device are read back together with
    # the validity check below (one synchronisation for both), then checked in the CPU path's
    # order: pred_offsets, gt_offsets, scores, boxes.
    host: dict[str, np.ndarray] = {}
    on_device: list[tuple[Any, str]] = []
    if pred_offsets is None:
        host["pred_offsets"] = np.array([0, n_pred], dtype=np.int64)
        host["gt_offsets"] = np.array([0, n_gt], dtype=np.int64)
    else:
        for off, name in ((pred_offsets, "pred_offsets"), (gt_offsets, "gt_offsets")):
            if is_torch_tensor(off) and off.device.type == "cuda":
                if off.dtype.is_floating_point or off.dtype.is_complex or _dtype_name(off) == "bool":
                    raise TypeError(f"{name} must hold integers (int64 offsets), got torch.{_dtype_name(off)}")
                on_device.append((off.detach(), name))
            else:
                host[name] = _host_offsets(off, name)
    s = None
    scores_error = None
    if scores is not None:
        if not (scores.dtype.is_floating_point or _dtype_name(scores).startswith(("int", "uint"))):
            raise TypeError(f"scores must hold real numbers, got torch.{_dtype_name(scores)}")
        s = scores.detach().to(torch.float64).contiguous()  # documented copy unless float64
        if s.dim() != 1 or s.shape[0] != n_pred:
            shape = "(" + ", ".join(map(str, s.shape)) + (",)" if s.dim() == 1 else ")")
            scores_error = f"scores must have shape ({n_pred},) like pred, got {shape}"

    counts: dict[str, np.ndarray] = {}

    def check_offsets_and_scores() -> None:
        counts["pred"] = _check_offsets(host["pred_offsets"], n_pred, "pred_offsets", "pred")
        counts["gt"] = _check_offsets(host["gt_offsets"], n_gt, "gt_offsets", "gt")
        nb_p, nb_g = host["pred_offsets"].shape[0], host["gt_offsets"].shape[0]
        if nb_p != nb_g:
            raise ValueError(
                f"pred_offsets and gt_offsets must describe the same number of problems, got {nb_p - 1} and {nb_g - 1}"
            )
        if scores_error is not None:
            raise ValueError(scores_error)

    if not on_device:
        check_offsets_and_scores()  # before the device is touched
    _check_visible(mod, what)
    itemsize = 4 if dtype == "float32" else 8
    with torch.cuda.device(device):
        stream = int(torch.cuda.current_stream(device).cuda_stream)
        nan_first = None
        if s is not None and scores_error is None and n_pred:
            ar = torch.arange(n_pred, device=device, dtype=torch.int64)
            # index of the first NaN score, n_pred when none (read with the box check)
            nan_first = torch.where(torch.isnan(s), ar, torch.full_like(ar, n_pred)).min()
        flags = _launch_validation(mod, [p, g], fmt, False, dtype, stream, extra=nan_first)
        # The one synchronisation before the launch: validity keys (+ device offsets).
        parts = [flags] + [off.reshape(-1).to(torch.int64) for off, _ in on_device]
        back = (torch.cat(parts) if len(parts) > 1 else flags).cpu().numpy()
        keys = back[: flags.shape[0]].tolist()
        at = flags.shape[0]
        for off, name in on_device:
            host[name] = back[at : at + off.numel()].reshape(tuple(off.shape))
            at += off.numel()
        if on_device:
            check_offsets_and_scores()
        po, go = host["pred_offsets"], host["gt_offsets"]
        if nan_first is not None and keys[2] < n_pred:
            raise ValueError(f"scores[{keys[2]}] is NaN")
        _raise_invalid(keys[:2], ["pred", "gt"], dtype)
        n_problems = po.shape[0] - 1
        counts_p, counts_g = counts["pred"], counts["gt"]
        max_pred = int(counts_p.max()) if n_problems else 0
        max_gt = int(counts_g.max()) if n_problems else 0

        # Host arrays the kernel needs on the device go up in one copy (one synchronisation:
        # torch's blocking host-to-device copy); offsets already on the device are used as they
        # are when they are contiguous int64.
        uploads: dict[str, np.ndarray] = {}
        po_d = _reusable_offsets(pred_offsets, device)
        go_d = _reusable_offsets(gt_offsets, device)
        if po_d is None:
            uploads["po"] = po
        if go_d is None:
            uploads["go"] = go
        scratch = None
        if max_pred * max_gt * itemsize > mod.SHARED_TILE_BYTES or max(max_pred, max_gt) > mod.SHARED_TILE_MAX_SIDE:
            sizes = counts_p * counts_g
            off = np.zeros(n_problems, dtype=np.int64)
            np.cumsum(sizes[:-1], out=off[1:])
            scratch = torch.empty(int(sizes.sum()), dtype=p.dtype, device=device)
            uploads["scratch_off"] = off
        views: dict[str, Any] = {}
        if uploads:
            buf = torch.from_numpy(np.concatenate(list(uploads.values()))).to(device)
            at = 0
            for name, arr in uploads.items():
                views[name] = buf[at : at + arr.shape[0]]
                at += arr.shape[0]
        po_d = views.get("po", po_d)
        go_d = views.get("go", go_d)
        scratch_off = views.get("scratch_off")
        matched_gt = torch.empty(n_pred, dtype=torch.int64, device=device)
        matched_value = torch.empty(n_pred, dtype=p.dtype, device=device)
        matched_pred = torch.empty(n_gt, dtype=torch.int64, device=device)
        n_matched = torch.empty(n_problems, dtype=torch.int64, device=device)
        sum_matched = torch.empty(n_problems, dtype=torch.float64, device=device)
        fn = mod.match_boxes_f32 if dtype == "float32" else mod.match_boxes_f64
        fn(
            _ptr(p),
            int(po_d.data_ptr()),
            _ptr(g),
            int(go_d.data_ptr()),
            n_problems,
            max_pred,
            max_gt,
            _ptr(s) if s is not None else 0,
            method,
            kind,
            fmt,
            float(iou_threshold),
            bool(strict),
            _ptr(scratch) if scratch is not None else 0,
            int(scratch_off.data_ptr()) if scratch_off is not None else 0,
            _ptr(matched_gt),
            _ptr(matched_value),
            _ptr(matched_pred),
            _ptr(n_matched),
            int(sum_matched.data_ptr()) if n_problems else 0,
            stream,
        )

        # Flat pair list, grouped by problem, ascending prediction within a problem (torch ops on
        # the stream; nonzero synchronises to size its result).
        pred_global = torch.nonzero(matched_gt >= 0).flatten()
        problem = torch.searchsorted(po_d[1:], pred_global, right=True)
        gt_index = matched_gt[pred_global]
        offsets = torch.zeros(n_problems + 1, dtype=torch.int64, device=device)
        torch.cumsum(n_matched, 0, out=offsets[1:])
        fields = {
            "pred_index": pred_global - po_d[problem],
            "gt_index": gt_index,
            "pred_global": pred_global,
            "gt_global": go_d[problem] + gt_index,
            "iou": matched_value[pred_global],
            "offsets": offsets,
            "matched_gt": matched_gt,
            "matched_pred": matched_pred,
            "n_matched": n_matched,
            "n_unmatched_pred": (po_d[1:] - po_d[:-1]) - n_matched,
            "n_unmatched_gt": (go_d[1:] - go_d[:-1]) - n_matched,
            "sum_matched_iou": sum_matched,
        }
    return MatchResult(**fields)
