"""Live scores for the worker: per-frame and running mIoU of the GUN's two decoders (GUM, its own
bilinear) and of the twin, and the running trimap, against the source's ground truth.

Most of a frame's scoring is its ground truth's rings (boundary distances: 6 ms of a 360x480
frame); they depend on the truth alone, so `start` runs them on a helper thread while the worker
decodes the frame, on the core the network leaves idle then. gun.metrics (and with it torch) is
imported when the first model loads, never by the widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from gun.io.base import Frame
from gun.runtime.result import FrameResult

Rings = Callable[[], "np.ndarray | None"]  # waits for start()'s rings


class LiveScores:
    """The GUN's RunningScores and, with a twin loaded, the twin's; one source at a time."""

    def __init__(self, num_classes: int, twin: bool) -> None:
        from gun.metrics.running import RunningScores

        self.gun = RunningScores(num_classes)
        self.twin = RunningScores(num_classes) if twin else None
        self._helper: ThreadPoolExecutor | None = None

    def reset(self) -> None:
        """A new source: the sums and the kept rings start over."""
        for scores in (self.gun, self.twin):
            if scores is not None:
                scores.reset()

    def start(self, frame: Frame) -> Rings | None:
        """Start the rings of a labelled frame on the helper thread (None without labels)."""
        if frame.labels is None:
            return None
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="ground-truth rings")
        return self._helper.submit(self.gun.rings, frame.labels, frame.index).result

    def score(self, frame: Frame, result: FrameResult, twin: FrameResult | None,
              rings: Rings | None) -> tuple[dict[str, float], dict[str, Any] | None, str]:
        """(scores, trimap, problem): this frame's and the running mIoU of GUM, the GUN's bilinear
        decoding and the twin (over the frames it ran on), the running trimap per band, and a
        one-line problem ("" when none). ({}, None, "") for a frame without ground truth."""
        result.ground_truth = frame.labels
        scores = self.gun.update(result, rings() if rings is not None else None, frame.index)
        if not scores:
            if frame.labels is not None and self.gun.mismatch:
                self.gun.mismatch = False
                return {}, None, (f"the ground truth has classes the model does not know "
                                  f"({self.gun.num_classes} classes): not scored")
            return {}, None, ""
        trimap: dict[str, Any] = {"bands": self.gun.bands, **self.gun.trimap()}
        if twin is not None and self.twin is not None:
            twin.ground_truth = frame.labels
            twin_scores = self.twin.update(twin, self.gun.last_rings)  # same truth: same rings
            scores.update(miou_twin=twin_scores["miou_gum"], running_miou_twin=twin_scores["running_miou_gum"])
            trimap["twin"] = self.twin.trimap()["gum"]
        return scores, trimap, ""

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=True)
            self._helper = None
