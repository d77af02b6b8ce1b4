"""Test-time augmentation (TTA): horizontal flip and multi-scale averaging of frame-resolution logits.

    tta = TTA.parse("flip,0.75,1,1.25")          # or TTA(scales=(0.75, 1.0, 1.25), flip=True)
    seg = segment(model, frames_uint8, ("gum",), input_size=(360, 480), tta=tta)
    seg.logits["gum"]   # (N, C, H, W) at the frames' own size, averaged over the 6 passes
    seg.single["gum"]   # the plain single-scale pass (scale 1, not flipped): the paper's protocol

Every pass goes through gun.runtime.frames exactly like `gun eval` and the app: `prepare` with the
input size multiplied by the pass's scale (the frame's aspect ratio kept), one forward pass, then the
GUM (or bilinear) `decode` straight onto the frame's own pixels. A flipped pass segments the mirrored
frame and mirrors its logits back. Because every pass is decoded onto the same frame pixels, the
logits of all passes are averaged pixel for pixel, never resampled again. Without `tta` (or with the
identity TTA) `segment` is the single-scale path and nothing else is computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from gun.nn.geometry import Grid
from gun.nn.model import GUN
from gun.runtime.frames import Decoder, decode, frame_offsets, prepare

MAX_SCALES = 8


@dataclass(frozen=True)
class TTA:
    """Which passes to average: every scale in `scales`, each also mirrored when `flip`."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False

    def __post_init__(self) -> None:
        if not self.scales:
            raise ValueError("TTA needs at least one scale")
        for s in self.scales:
            if not (math.isfinite(s) and 0.25 <= s <= 4.0):
                raise ValueError(f"TTA scale {s} is outside 0.25..4: use scales like 0.75,1,1.25")
        if len(set(self.scales)) != len(self.scales):
            raise ValueError(f"TTA scales repeat: {', '.join(f'{s:g}' for s in self.scales)}")
        if len(self.scales) > MAX_SCALES:
            raise ValueError(f"at most {MAX_SCALES} TTA scales, got {len(self.scales)}")

    @classmethod
    def parse(cls, text: str) -> TTA:
        """"flip", "0.75,1,1.25" or both ("flip,0.75,1,1.25"); without scales the scale is 1."""
        flip, scales = False, []
        for token in (t.strip().lower() for t in text.split(",")):
            if token == "flip":
                flip = True
                continue
            try:
                scales.append(float(token))
            except ValueError:
                raise ValueError(f"bad TTA {text!r}: write flip and/or scales, e.g. flip,0.75,1,1.25") from None
        return cls(tuple(scales) or (1.0,), flip)

    @property
    def is_single(self) -> bool:
        """True when this is just the plain single-scale pass."""
        return self.scales == (1.0,) and not self.flip

    def passes(self) -> list[tuple[float, bool]]:
        """(scale, flipped) of every pass, in the order they are averaged."""
        return [(s, f) for s in self.scales for f in ((False, True) if self.flip else (False,))]

    def describe(self) -> str:
        scales = "scales " + ", ".join(f"{s:g}" for s in self.scales)
        return f"{'horizontal flip + ' if self.flip else ''}{scales} ({len(self.passes())} passes, logits averaged)"

    def spec(self) -> str:
        """The text `parse` reads back."""
        return ",".join((["flip"] if self.flip else []) + [f"{s:g}" for s in self.scales])


class Segmented(NamedTuple):
    logits: dict[str, Tensor]  # decoder -> (N, C, H, W) float32 at the frame's size; TTA-averaged when a TTA was given
    single: dict[str, Tensor]  # decoder -> the same from the single-scale, unflipped pass alone
    offsets: Tensor | None  # (N, 2, H, W) of the single-scale pass, low-resolution pixels; None without guidance
    low_grid: Grid  # where the single-scale pass's low-resolution cells sit in frame pixels


def scaled_input_size(frame: Sequence[int], input_size: Sequence[int] | None, scale: float) -> tuple[int, int] | None:
    """The input size of a pass at `scale`: the input size (the frame's own size when None) times
    `scale`; prepare() then runs the frame at that area with its own aspect ratio. Scale 1 returns
    `input_size` unchanged, so that pass is exactly the single-scale one."""
    if scale == 1.0:
        return None if input_size is None else (int(input_size[0]), int(input_size[1]))
    h, w = (frame[0], frame[1]) if input_size is None else (input_size[0], input_size[1])
    return max(1, round(h * scale)), max(1, round(w * scale))


def _run(model: GUN, frames: Tensor, decoders: Sequence[Decoder], input_size: Sequence[int] | None,
         dtype: torch.dtype | None) -> tuple[dict[str, Tensor], Tensor | None, Grid]:
    """One pass: frame-resolution logits per decoder, the frame-resolution offsets and the logits' placement."""
    prep = prepare(frames, model.mean, model.std, model.input_multiple, input_size)
    with torch.autocast(prep.x.device.type, dtype=dtype, enabled=dtype is not None):
        out = model(prep.x, full=False)
    offsets = frame_offsets(model, out, prep)
    logits: dict[str, Tensor] = {d: decode(model, out, prep, d, offsets) for d in decoders}
    return logits, offsets, model.logits_grid.within(prep.target)


def segment(model: GUN, frames: Tensor, decoders: Sequence[Decoder] = ("gum",), input_size: Sequence[int] | None = None,
            tta: TTA | None = None, dtype: torch.dtype | None = None) -> Segmented:
    """Segment frames (N, 3, H, W) RGB 0..255 on the model's device, single-scale or with TTA.
    Call under torch.inference_mode(); `dtype` = autocast precision (None: float32)."""
    single, offsets, grid = _run(model, frames, decoders, input_size, dtype)
    if tta is None or tta.is_single:
        return Segmented(single, single, offsets, grid)
    frame = frames.shape[-2:]
    total = {d: torch.zeros_like(v) for d, v in single.items()}
    passes = tta.passes()
    for scale, flipped in passes:
        if scale == 1.0 and not flipped:
            logits = single
        else:
            size = scaled_input_size(frame, input_size, scale)
            logits, _, _ = _run(model, frames.flip(-1) if flipped else frames, decoders, size, dtype)
            if flipped:
                logits = {d: v.flip(-1) for d, v in logits.items()}
        for d in decoders:
            total[d] += logits[d]
    return Segmented({d: v / len(passes) for d, v in total.items()}, single, offsets, grid)
