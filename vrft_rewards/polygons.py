"""Polygon and rotated-box IoU on shapely 2's vectorised geometry (optional dependency).

No polygon clipping is written here: shapely (GEOS) builds the geometries from flat coordinate
arrays in one call and computes the pairwise intersection areas in one broadcast call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["paired_polygon_iou", "polygon_iou", "polygon_regions", "rotated_box_corners"]


def _shapely() -> Any:
    try:
        import shapely
    except ImportError as e:  # pragma: no cover - shapely is installed in the test environment
        raise ImportError(
            "polygon_iou needs shapely >= 2: pip install \"vrft-rewards[polygons]\" (or pip install 'shapely>=2')"
        ) from e
    if int(shapely.__version__.split(".")[0]) < 2:  # pragma: no cover
        raise ImportError(
            f"polygon_iou needs shapely >= 2 (vectorised geometry), found "
            f"{shapely.__version__}: pip install -U 'shapely>=2'"
        )
    return shapely


def rotated_box_corners(boxes: Any, *, degrees: bool = True) -> np.ndarray:
    """Corners of rotated boxes ``(cx, cy, w, h, angle)``.

    Parameters
    ----------
    boxes : array_like, shape (N, 5)
        Centre, width, height and angle.  The angle turns the box counter-clockwise in a y-up
        frame (clockwise on an image whose y axis points down), the convention of detectron2's /
        torchvision's rotated boxes.
    degrees : bool, default True
        ``angle`` in degrees (False: radians).

    Returns
    -------
    ndarray of float64, shape (N, 4, 2)
        Corners in order (-w/2, -h/2), (w/2, -h/2), (w/2, h/2), (-w/2, h/2) before rotation.

    Raises
    ------
    ValueError
        If ``boxes`` is not (N, 5), has non-finite values or a negative width / height.

    Examples
    --------
    >>> rotated_box_corners([[0, 0, 2, 2, 0]]).tolist()
    [[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]]
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 5:
        raise ValueError(f"rotated boxes must have shape (N, 5) (cx, cy, w, h, angle), got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("rotated boxes must be finite")
    if (b[:, 2:4] < 0).any():
        raise ValueError("rotated boxes must have width and height >= 0")
    theta = np.deg2rad(b[:, 4]) if degrees else b[:, 4]
    c, s = np.cos(theta), np.sin(theta)
    hx = np.array([-0.5, 0.5, 0.5, -0.5])[None, :] * b[:, 2:3]  # (N, 4)
    hy = np.array([-0.5, -0.5, 0.5, 0.5])[None, :] * b[:, 3:4]
    x = b[:, 0:1] + hx * c[:, None] - hy * s[:, None]
    y = b[:, 1:2] + hx * s[:, None] + hy * c[:, None]
    return np.stack([x, y], axis=-1)


def _as_geometries(polys: Any, name: str, degrees: bool) -> np.ndarray:
    """Polygons in any accepted form -> 1-D object array of shapely Polygons (valid)."""
    shapely = _shapely()
    if isinstance(polys, np.ndarray) and polys.dtype == object:
        polys = list(polys)
    if isinstance(polys, (list, tuple)) and polys and all(isinstance(p, shapely.Geometry) for p in polys):
        geoms = np.asarray(polys, dtype=object)
        return _make_valid(shapely, geoms)
    if isinstance(polys, (list, tuple)) and len(polys) == 0:
        return np.empty(0, dtype=object)
    try:
        arr = np.asarray(polys, dtype=np.float64)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.ndim == 2 and arr.shape[1] == 5:
        coords = rotated_box_corners(arr, degrees=degrees)
        counts = np.full(len(coords), 4, dtype=np.int64)
        flat = coords.reshape(-1, 2)
    elif arr is not None and arr.ndim == 3 and arr.shape[2] == 2:
        counts = np.full(arr.shape[0], arr.shape[1], dtype=np.int64)
        flat = arr.reshape(-1, 2)
    elif arr is not None and arr.ndim == 2 and arr.shape[1] % 2 == 0 and arr.shape[1] >= 6:
        counts = np.full(arr.shape[0], arr.shape[1] // 2, dtype=np.int64)
        flat = arr.reshape(-1, 2)
    elif isinstance(polys, (list, tuple)) and arr is None or (arr is not None and arr.dtype == object):
        # ragged: one flat [x1, y1, x2, y2, ...] list or (K, 2) array per polygon
        parts = [np.asarray(p, dtype=np.float64).reshape(-1, 2) if np.size(p) % 2 == 0 else None for p in polys]
        for i, p in enumerate(parts):
            if p is None:
                raise ValueError(f"{name}[{i}] must hold an even number of coordinates (x1, y1, x2, y2, ...)")
        counts = np.array([len(p) for p in parts], dtype=np.int64)
        flat = np.concatenate(parts) if parts else np.empty((0, 2))
    else:
        shape = None if arr is None else arr.shape
        raise ValueError(
            f"{name} must be rotated boxes (N, 5), polygons (N, K, 2) or (N, 2K), a "
            f"list of flat coordinate lists, or shapely geometries; got shape {shape}"
        )
    if not np.isfinite(flat).all():
        raise ValueError(f"{name} must hold finite coordinates")
    if (counts < 3).any():
        i = int(np.flatnonzero(counts < 3)[0])
        raise ValueError(f"{name}[{i}] must have at least 3 vertices, got {int(counts[i])}")
    # One linear ring per polygon from the flat vertex list (shapely closes each ring itself).
    owner = np.repeat(np.arange(len(counts)), counts)
    rings = shapely.linearrings(flat, indices=owner)
    geoms = shapely.polygons(rings)
    return _make_valid(shapely, np.asarray(geoms, dtype=object).reshape(-1))


def _make_valid(shapely: Any, geoms: np.ndarray) -> np.ndarray:
    # A self-intersecting ring (bow-tie) is invalid in GEOS and its area is meaningless;
    # make_valid splits it into the polygons it encloses (a bow-tie -> two triangles).
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def polygon_iou(polys_a: Any, polys_b: Any, *, degrees: bool = True) -> np.ndarray:
    r"""Pairwise IoU of polygons or rotated boxes, computed by shapely 2 (GEOS).

    Parameters
    ----------
    polys_a, polys_b : array_like or sequence
        Each one of: rotated boxes ``(N, 5)`` = ``(cx, cy, w, h, angle)``; polygons with the same
        number of vertices ``(N, K, 2)`` or flat ``(N, 2K)`` (``K >= 3``); a list of polygons of
        varying size, each a flat ``[x1, y1, x2, y2, ...]`` list (COCO segmentation style) or a
        ``(K, 2)`` array; or a list of shapely geometries.  The two sides may use different
        forms.
    degrees : bool, default True
        Unit of the rotated boxes' angle (counter-clockwise in a y-up frame).

    Returns
    -------
    ndarray of float64, shape (N, M)
        :math:`\mathrm{IoU}_{ij} = |A_i \cap B_j| / (|A_i| + |B_j| - |A_i \cap B_j|)`, 0 where
        the union is 0.

    Raises
    ------
    ImportError
        If shapely >= 2 is not installed (``pip install "vrft-rewards[polygons]"``).
    ValueError
        For an unknown layout, non-finite coordinates, fewer than 3 vertices, or a rotated box
        with negative size.

    Notes
    -----
    Vertex order (clockwise or not) does not matter.  A self-intersecting polygon is first
    repaired with ``shapely.make_valid`` (a bow-tie becomes two triangles), so its area is the
    area it encloses.  Degenerate polygons (zero area) have IoU 0 with everything.  The
    intersection areas come from one broadcast ``shapely.intersection`` call over the
    ``N x M`` pairs; Python never loops over pairs.

    Examples
    --------
    >>> import vrft_rewards as vr
    >>> square = [[0, 0], [2, 0], [2, 2], [0, 2]]
    >>> shifted = [[1, 0], [3, 0], [3, 2], [1, 2]]
    >>> vr.polygon_iou([square], [shifted]).round(4).tolist()
    [[0.3333]]
    >>> vr.polygon_iou([[1, 1, 2, 2, 0]], [[1, 1, 2, 2, 90]]).round(6).tolist()
    [[1.0]]
    """
    shapely = _shapely()
    a = _as_geometries(polys_a, "polys_a", degrees)
    b = _as_geometries(polys_b, "polys_b", degrees)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    area_a = shapely.area(a)
    area_b = shapely.area(b)
    inter = shapely.area(shapely.intersection(a[:, None], b[None, :]))
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.clip(iou, 0.0, 1.0)


def paired_polygon_iou(polys_a: Any, polys_b: Any, *, degrees: bool = True) -> np.ndarray:
    """Elementwise IoU of ``polys_a[i]`` with ``polys_b[i]`` (same forms as :func:`polygon_iou`).

    Returns
    -------
    ndarray of float64, shape (N,)

    Raises
    ------
    ValueError
        As :func:`polygon_iou`, or when the two sides have different lengths.

    Examples
    --------
    >>> from vrft_rewards.polygons import paired_polygon_iou
    >>> paired_polygon_iou([[1, 1, 2, 2, 0], [0, 0, 2, 2, 0]], [[1, 1, 2, 2, 90], [5, 5, 1, 1, 0]]).tolist()
    [1.0, 0.0]
    """
    shapely = _shapely()
    a = _as_geometries(polys_a, "polys_a", degrees)
    b = _as_geometries(polys_b, "polys_b", degrees)
    if len(a) != len(b):
        raise ValueError(f"polys_a and polys_b must have the same length, got {len(a)} and {len(b)}")
    if len(a) == 0:
        return np.zeros(0, dtype=np.float64)
    inter = shapely.area(shapely.intersection(a, b))
    union = shapely.area(a) + shapely.area(b) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return np.clip(iou, 0.0, 1.0)


def polygon_regions(rows: Any, name: str = "polygons") -> tuple[np.ndarray, np.ndarray]:
    """One region per row from per-row polygon lists (COCO ``segmentation`` style).

    Parameters
    ----------
    rows : sequence
        Per row: ``None`` (missing), one flat polygon ``[x1, y1, x2, y2, ...]``, or a list of
        such polygons (their union is the region).

    Returns
    -------
    regions : ndarray of object, shape (B,)
        A shapely (Multi)Polygon per row (valid; an empty polygon where the row is not ok).
    ok : ndarray of bool, shape (B,)
        False for ``None`` rows and rows that are not polygons (fewer than 3 vertices, odd or
        non-finite coordinates).
    """
    shapely = _shapely()
    polys: list = []
    owner: list = []
    ok = np.ones(len(rows), dtype=bool)
    for i, row in enumerate(rows):  # the column arrives as per-row Python objects
        if row is None:
            ok[i] = False
            continue
        items = row if (len(row) and isinstance(row[0], (list, tuple, np.ndarray))) else [row]
        try:
            arrs = [np.asarray(p, dtype=np.float64).reshape(-1) for p in items]
        except (TypeError, ValueError):
            ok[i] = False
            continue
        if not arrs or any(a.size % 2 or a.size < 6 or not np.isfinite(a).all() for a in arrs):
            ok[i] = False
            continue
        polys.extend(a.reshape(-1, 2) for a in arrs)
        owner.extend([i] * len(arrs))
    regions = np.empty(len(rows), dtype=object)
    regions.fill(shapely.Polygon())  # one shared empty polygon (geometries are immutable)
    if polys:
        counts = np.array([len(p) for p in polys], dtype=np.int64)
        rings = shapely.linearrings(np.concatenate(polys), indices=np.repeat(np.arange(len(polys)), counts))
        parts = _make_valid(shapely, np.asarray(shapely.polygons(rings), dtype=object))
        # union of each row's parts: one vectorised reduction over the grouped geometries
        owner_a = np.asarray(owner)
        rows_with = np.unique(owner_a)
        grouped = shapely.union_all(_grouped(parts, owner_a, rows_with), axis=1)
        regions[rows_with] = grouped
    return regions, ok


def _grouped(parts: np.ndarray, owner: np.ndarray, rows_with: np.ndarray) -> np.ndarray:
    """(R, K) object array of each row's parts, padded with None (ignored by union_all)."""
    pos = np.searchsorted(rows_with, owner)
    counts = np.bincount(pos, minlength=len(rows_with))
    k = int(counts.max())
    out = np.full((len(rows_with), k), None, dtype=object)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(len(owner)) - starts[pos]
    out[pos, col] = parts
    return out
