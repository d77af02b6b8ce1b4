"""Accuracy near boundaries (the paper's section 5 trimap): distance of each pixel to the nearest
ground-truth boundary, and confusion matrices of the pixels within bands of growing width."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gun.data.labels import IGNORE
from gun.metrics.confusion import scores


def boundary_distance(label: np.ndarray, ignore: int = IGNORE) -> np.ndarray:
    """(H, W) float32: each pixel's Euclidean distance to the nearest pixel of another label
    (1 = a 4-neighbour differs); inf for ignore pixels and for a class that fills the image."""
    dist = np.full(label.shape, np.inf, np.float32)
    H, W = label.shape
    # the labels present (np.unique sorts: 4x slower than counting)
    for c in np.flatnonzero(np.bincount(label.ravel())) if label.dtype.kind == "u" and label.size else np.unique(label):
        if c == ignore:
            continue
        inside = label == c
        if inside.all():
            break  # no boundary at all
        # Within the class's bounding box grown by one pixel (exact: every pixel outside the box is
        # another label, and the box's one-pixel rim is at least as near as any of them); a thin
        # class then costs its box, not the image.
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, H)
        x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, W)
        box = inside[y0:y1, x0:x1]
        d = cv2.distanceTransform(box.view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        # squared pixel distances are integers: snapping them makes the result exact (OpenCV's float
        # rounding depends on the box by ~1e-6, which could move a pixel across a band's edge;
        # squared in float32 they are within 0.2 of the integers up to 1000 px, far past any band)
        np.multiply(d, d, out=d)
        np.sqrt(np.rint(d, out=d), out=d)
        np.copyto(dist[y0:y1, x0:x1], d, where=box)
    return dist


def ring_index(dist: np.ndarray, target: np.ndarray, bands: Sequence[int], num_classes: int,
               ignore: int = IGNORE) -> np.ndarray:
    """(H, W) intp: (ring * C + target) * C for each labelled pixel, R * C * C (one past the last
    bin) for ignored ones, where ring b holds the pixels of band b that no narrower band holds and
    ring B (R = B + 1 rings) those beyond every band. It depends on the ground truth alone: one per
    frame serves every decoder (`ring_confusion_at`)."""
    bands_arr = np.asarray(bands, np.float64)
    if bands_arr.ndim != 1 or len(bands_arr) == 0 or np.any(np.diff(bands_arr) <= 0):
        raise ValueError(f"bands must be a non-empty increasing sequence, got {list(bands)}")
    R, C = len(bands_arr) + 1, num_classes
    keep = target != ignore
    if keep.any() and int(target[keep].max()) >= C:
        raise ValueError(f"labels outside 0..{C - 1} (ignore = {ignore})")
    # a pixel's ring = how many band widths its distance exceeds (inf, e.g. a class filling the frame:
    # B); counted in bytes, then built in place in one array (wide temporaries cost 2 ms a frame)
    ring = np.zeros(target.shape, np.uint8)
    for width in bands_arr:
        ring += dist > width
    index = ring.astype(np.intp)
    index *= C
    index += target
    index *= C
    index[~keep] = R * C * C
    return index


def ring_confusion_at(index: np.ndarray, pred: np.ndarray, rings: int, num_classes: int) -> np.ndarray:
    """(R, C, C) int64 confusion matrices (rows = ground truth) of each ring, from `ring_index`'s
    index of the same frame. Their sum is the frame's confusion matrix; cumulative sums over the
    first R - 1 rings are the bands'."""
    R, C = rings, num_classes
    if pred.shape != index.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {index.shape} differ in size")
    if pred.size and (int(pred.min()) < 0 or int(pred.max()) >= C):
        labelled = index < R * C * C  # predictions on ignored pixels are not scored: any value goes
        if np.any((pred[labelled] < 0) | (pred[labelled] >= C)):
            raise ValueError(f"labels outside 0..{C - 1}")
        pred = np.where(labelled, pred, 0)
    flat = np.add(index, pred, out=np.empty_like(index)).ravel()  # ignored pixels land past the last bin
    return np.bincount(flat, minlength=R * C * C + C)[:R * C * C].reshape(R, C, C)


def ring_confusion(dist: np.ndarray, target: np.ndarray, pred: np.ndarray, bands: Sequence[int],
                   num_classes: int, ignore: int = IGNORE) -> np.ndarray:
    """(B + 1, C, C) int64 confusion matrices of the pixels in each ring (see ring_index): their
    sum is the whole frame's confusion matrix; cumulative sums over the first B are the bands'."""
    return ring_confusion_at(ring_index(dist, target, bands, num_classes, ignore), pred, len(bands) + 1, num_classes)


def band_confusion(dist: np.ndarray, target: np.ndarray, pred: np.ndarray, bands: Sequence[int],
                   num_classes: int, ignore: int = IGNORE) -> np.ndarray:
    """(B, C, C) int64 confusion matrices (rows = ground truth) of the pixels in each band.

    bands must be increasing; band b holds the pixels with dist <= bands[b] (nested bands)."""
    return np.cumsum(ring_confusion(dist, target, pred, bands, num_classes, ignore)[:-1], axis=0)


def band_mious(cms: np.ndarray) -> list[float | None]:
    """mIoU of each band's confusion matrix (None for a band with no pixels)."""
    out: list[float | None] = []
    for cm in cms:
        m = scores(cm).miou if cm.sum() else float("nan")
        out.append(float(m) if np.isfinite(m) else None)
    return out


class OffsetsNearBoundaries:
    """Do the offsets steer pixels or shift the map? Mean offset length (low-resolution pixels) of
    the labelled pixels within `near` pixels of a ground-truth boundary, against all others. A
    global shift gives a ratio near 1; offsets that act at edges give a ratio well above it. Also
    the mean length by distance to the boundary (`profile`, bands up to each of `edges` pixels and
    beyond the last), which shows where the offsets act."""

    def __init__(self, near: float = 3.0, edges: Sequence[float] = (1, 2, 3, 5, 8, 12, 20, 40)) -> None:
        self.near = near
        self.edges = np.asarray(edges, np.float64)
        self.sums = np.zeros(2)  # near, elsewhere
        self.counts = np.zeros(2, np.int64)
        self.band_sums = np.zeros(len(self.edges) + 1)
        self.band_counts = np.zeros(len(self.edges) + 1, np.int64)

    def update(self, offsets: np.ndarray, target: np.ndarray, ignore: int = IGNORE) -> None:
        """offsets (2, H, W), target (H, W) ground truth of the same frame."""
        length = np.hypot(offsets[0], offsets[1])
        dist = boundary_distance(target, ignore)
        labelled = target != ignore
        for k, mask in enumerate((labelled & (dist <= self.near), labelled & (dist > self.near))):
            self.sums[k] += float(length[mask].sum())
            self.counts[k] += int(mask.sum())
        band = np.searchsorted(self.edges, dist[labelled], side="left")  # the first edge >= dist
        self.band_sums += np.bincount(band, weights=length[labelled], minlength=len(self.band_sums))
        self.band_counts += np.bincount(band, minlength=len(self.band_counts))

    def report(self) -> dict[str, object]:
        near, far = (float(s / c) if c else None for s, c in zip(self.sums, self.counts))
        ratio = near / far if near is not None and far else None
        names = [f"<={e:g}" for e in self.edges] + [f">{self.edges[-1]:g}"]
        profile = {n: (float(s / c) if c else None) for n, s, c in zip(names, self.band_sums, self.band_counts)}
        return {"within_px": self.near, "near_boundary": near, "elsewhere": far, "ratio": ratio, "profile": profile}
