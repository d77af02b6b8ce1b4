"""The one way a frame becomes the network's input, and the network's output becomes the frame's.

    prep = prepare(frames_uint8, mean, std, model.input_multiple, input_size)   # (N, 3, H, W) uint8
    out = model(prep.x, full=False)
    logits = decode(model, out, prep)                                            # (N, C, H, W)

`prepare` resizes the frame to the model's inference size (same area as the frames it was trained
and evaluated on, the frame's own aspect ratio), normalises it and pads it at the bottom and right
(replicating the border) to a multiple of `input_multiple`. `decode` samples the low-resolution
logits straight onto the frame's own pixels, wherever they sit in the padded input (`prep.target`),
so nothing is cropped or resized twice. `gun eval`, `gun trimap`, validation in `gun train`,
`gun bench`, `gun annotate`, `gun predict` and the app's Segmenter all go through here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gun.nn.geometry import IDENTITY, Grid
from gun.nn.model import GUN, GUNOutput

Decoder = Literal["gum", "bilinear", "shift"]


class Prepared(NamedTuple):
    x: Tensor  # (N, 3, Hp, Wp) normalised, sides multiples of the model's input_multiple
    size: tuple[int, int]  # (H, W) of the frame
    target: Grid  # where the frame's pixels sit in x


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) uint8 on device."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {image.shape} {image.dtype}")
    return torch.from_numpy(np.ascontiguousarray(image)).to(device, non_blocking=True).permute(2, 0, 1).unsqueeze(0)


def normalise(x: Tensor, mean: Sequence[float], std: Sequence[float], out: Tensor | None = None) -> Tensor:
    """(N, 3, H, W) RGB in 0..255 (any dtype) -> float32 (x / 255 - mean) / std, into `out` if given
    (a float32 tensor of x's shape, any strides)."""
    m = torch.tensor(mean, device=x.device, dtype=torch.float32).view(1, 3, 1, 1) * 255
    s = torch.tensor(std, device=x.device, dtype=torch.float32).view(1, 3, 1, 1) * 255
    if out is None:
        return (x.float() - m) / s
    return torch.sub(x, m, out=out).div_(s)


def inference_size(frame: Sequence[int], input_size: Sequence[int] | None) -> tuple[int, int]:
    """The size (h, w) a frame of size `frame` is resized to: `input_size`'s area with the frame's
    aspect ratio (the frame's own size when input_size is None)."""
    H, W = int(frame[0]), int(frame[1])
    if input_size is None:
        return H, W
    f = math.sqrt(input_size[0] * input_size[1] / (H * W))
    return max(1, round(H * f)), max(1, round(W * f))


def resolve_input_size(checkpoint: Sequence[int] | None, override: Sequence[int] | str | None) -> tuple[int, int] | None:
    """The size frames are run at: the checkpoint's, unless overridden by (h, w) or "native"
    (None: each frame at its own size)."""
    if override is None:
        return None if checkpoint is None else (int(checkpoint[0]), int(checkpoint[1]))
    if override == "native":
        return None
    return int(override[0]), int(override[1])


def padded_size(h: int, w: int, multiple: int) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def prepare(frames: Tensor, mean: Sequence[float], std: Sequence[float], multiple: int,
            input_size: Sequence[int] | None = None) -> Prepared:
    """frames (N, 3, H, W) RGB 0..255 (uint8 or float) -> the model's input and the frame's place in it."""
    H, W = frames.shape[-2:]
    h, w = inference_size((H, W), input_size)
    # uint8 frames on the CPU are resized as uint8 (torch's vectorised path, 2-4x faster than in
    # float; the result is rounded to whole levels, as any image resize does); float elsewhere
    x = frames if frames.dtype == torch.uint8 and frames.device.type == "cpu" else frames.float()
    target = IDENTITY
    if (h, w) != (H, W):
        # antialiased when shrinking; the sampling positions are align_corners=False's either way
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=h < H or w < W)
        target = Grid.centred((H, W), (h, w))
    # normalised straight into the padded input, then the border replicated into the padding: one
    # pass into one new buffer (normalising, then padding, made three frame-sized temporaries and
    # took 6 ms of a 540x720 frame on one thread)
    hp, wp = padded_size(h, w, multiple)
    padded = torch.empty((x.shape[0], 3, hp, wp), dtype=torch.float32, device=x.device)
    normalise(x, mean, std, out=padded[..., :h, :w])
    padded[..., h:, :w] = padded[..., h - 1:h, :w]
    padded[..., w:] = padded[..., w - 1:w]
    return Prepared(padded, (int(H), int(W)), target)


def frame_offsets(model: GUN, out: GUNOutput, prep: Prepared) -> Tensor | None:
    """The offsets (N, 2, H, W) at every frame pixel, in low-resolution pixels (float32)."""
    if out.offsets is None:
        return None
    return model.upsample_offsets(out.offsets.float(), prep.size, prep.target)


def decode(model: GUN, out: GUNOutput, prep: Prepared, decoder: Decoder = "gum", offsets: Tensor | None = None,
           mode: Literal["bilinear", "nearest"] = "bilinear") -> Tensor:
    """Frame-resolution logits (N, C, H, W) in float32, decoded by the GUM, bilinearly, or by
    "shift": the GUM with its offsets replaced by their per-image mean, i.e. bilinear upsampling
    translated as a whole (separates what one global translation gains from per-pixel steering).
    `offsets`: frame_offsets(), when the caller already has them."""
    return model.decode(out.low_logits.float(), decoder_offsets(model, out, prep, decoder, offsets), prep.size, prep.target, mode)


def decode_labels(model: GUN, out: GUNOutput, prep: Prepared, decoder: Decoder = "gum", offsets: Tensor | None = None,
                  rows: slice = slice(None)) -> Tensor:
    """Frame-resolution labels (N, H, W): channel_argmax(decode(...)) (bilinear mode), computed
    in label space except near label boundaries (gun.nn.sampled_labels): what the app, gun annotate
    and gun bench use (gun eval and gun predict keep the logits, for TTA). `rows`: only those rows
    of the frame (the same values as the whole map's, so threads can share a frame)."""
    return model.decode_labels(out.low_logits.float(), decoder_offsets(model, out, prep, decoder, offsets), prep.size,
                               prep.target, rows)


def decoder_offsets(model: GUN, out: GUNOutput, prep: Prepared, decoder: Decoder, offsets: Tensor | None = None) -> Tensor | None:
    """The frame-resolution offsets `decoder` samples with (None: bilinear upsampling)."""
    if decoder == "bilinear" or out.offsets is None:
        return None
    offsets = frame_offsets(model, out, prep) if offsets is None else offsets
    if decoder == "shift" and offsets is not None:  # never None here: out.offsets is not
        offsets = offsets.mean((2, 3), keepdim=True).expand_as(offsets)
    return offsets
