"""Segmenter: a loaded model plus its pre- and post-processing, timed stage by stage.

    seg = Segmenter.from_checkpoint("weights/gun_effnet_camvid.safetensors", device="auto")
    result = seg(rgb_frame)          # gun.result.FrameResult of numpy arrays
    result.labels_gum, result.labels_bilinear, result.offsets, result.timings

Resolution: the frame is segmented at its own size, never resized to the training resolution
(the models are fully convolutional and were trained with random scaling). The encoder needs
height and width divisible by 32, so the frame is padded at the bottom and right by replicating
its border, and every output is cropped back to the frame. Padding, unlike resizing, keeps one
model pixel per frame pixel, so the label maps and the offset field line up with the frame exactly.

Both decoders come from one encoder pass: `model(x, full=False)` gives the low-resolution logits
and the offsets, which are then upsampled twice, by the GUM and bilinearly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from gun.checkpoint import CheckpointMeta, load_model
from gun.device import resolve_device, resolve_dtype
from gun.gum import guided_upsample, guided_upsample_labels
from gun.layers import channel_argmax
from gun.model import GUN
from gun.result import FrameResult

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
MULTIPLE = 32  # input height and width must be multiples of this (stride 8 at a 1/4-scale branch)
GumMode = Literal["bilinear", "nearest"]


def padded_size(h: int, w: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


class Segmenter:
    """A model ready for frames: `seg(rgb) -> FrameResult`.

    dtype float32 runs the model as it is; bfloat16 / float16 run it under autocast (convolutions
    in low precision, the rest in float32). The upsampling decoders always run in float32.
    gum_mode "bilinear" decodes like training did (equation 4 on the logits, then argmax);
    "nearest" (equation 2) gathers labels at low resolution, C times fewer bytes, slightly different.
    """

    def __init__(self, model: GUN, meta: CheckpointMeta, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "float32", gum_mode: GumMode = "bilinear",
                 path: str | Path | None = None) -> None:
        if gum_mode not in ("bilinear", "nearest"):
            raise ValueError(f"unknown GUM mode {gum_mode!r}: choose bilinear or nearest")
        self.meta = meta
        self.path = Path(path) if path is not None else None
        self.gum_mode = gum_mode
        self.model = model.eval()
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.to(device, dtype)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        dtype: str | torch.dtype = "float32", gum_mode: GumMode = "bilinear") -> Segmenter:
        """Load a checkpoint (raises gun.checkpoint.CheckpointError for a bad file)."""
        device = resolve_device(device)
        model, meta = load_model(path, device=device)
        return cls(model, meta, device, dtype, gum_mode, path)

    def to(self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> Segmenter:
        """Move to another device and/or precision (the app switches at run time)."""
        if device is not None:
            self.device = resolve_device(device)
        if dtype is not None:
            dtype = resolve_dtype(dtype)
            if dtype == torch.float16 and self.device.type == "cpu" and not _cpu_autocast_supports(torch.float16):
                raise ValueError("float16 is not supported on this CPU build of torch: use bfloat16 or float32")
            self.dtype = dtype
        self.model.to(self.device)
        self._mean = torch.tensor(self.meta.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._inv_std = 1.0 / (torch.tensor(self.meta.std, device=self.device).view(1, 3, 1, 1) * 255)
        return self

    # -- facts about the model, for legends and status lines --------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.meta.class_names

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        return self.meta.palette

    @property
    def has_guidance(self) -> bool:
        return self.model.config.guidance is not None

    @property
    def description(self) -> str:
        cfg = self.model.config
        name = self.path.name if self.path is not None else (self.meta.preset or "model")
        guidance = f"GUM ({cfg.guidance})" if cfg.guidance else "bilinear only"
        dtype = str(self.dtype).replace("torch.", "")
        return f"{name}: {cfg.encoder}, {cfg.num_classes} classes, {guidance} | {self.device.type} {dtype}"

    # -- inference --------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, probabilities: bool = False) -> FrameResult:
        """Segment one (H, W, 3) RGB uint8 frame; maps come back at H x W."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {image.shape} {image.dtype}")
        H, W = image.shape[:2]
        Hp, Wp = padded_size(H, W)
        timings: dict[str, float] = {}
        with _stage(timings, "preprocess", self._sync):
            x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device, non_blocking=True)
            x = x.permute(2, 0, 1).unsqueeze(0).float()  # (1, 3, H, W) in 0..255
            x = (x - self._mean) * self._inv_std
            if (Hp, Wp) != (H, W):
                x = F.pad(x, (0, Wp - W, 0, Hp - H), mode="replicate")  # (1, 3, Hp, Wp)
        with _stage(timings, "inference", self._sync), self._autocast():
            out = self.model(x, full=False)
        with _stage(timings, "upsampling", self._sync):
            low = out.low_logits.float()  # (1, C, h, w)
            offsets = out.offsets.float() if out.offsets is not None else None  # (1, 2, Hp, Wp)
            bilinear_logits = F.interpolate(low, size=(Hp, Wp), mode="bilinear", align_corners=False)
            labels_bilinear = channel_argmax(bilinear_logits)[0, :H, :W]
            gum_logits = bilinear_logits
            if offsets is None:
                labels_gum = labels_bilinear
            elif self.gum_mode == "nearest":
                labels_gum = guided_upsample_labels(channel_argmax(low), offsets)[0, :H, :W]
                gum_logits = guided_upsample(low, offsets, "nearest") if probabilities else None
            else:
                gum_logits = guided_upsample(low, offsets, "bilinear")  # (1, C, Hp, Wp)
                labels_gum = channel_argmax(gum_logits)[0, :H, :W]
            probs = gum_logits.softmax(1)[0, :, :H, :W] if probabilities else None
            result = FrameResult(  # contiguous arrays (the crops are views): OpenCV wants them so
                labels_gum=labels_gum.to(torch.uint8).contiguous().cpu().numpy(),
                labels_bilinear=labels_bilinear.to(torch.uint8).contiguous().cpu().numpy(),
                offsets=offsets[0, :, :H, :W].contiguous().cpu().numpy() if offsets is not None else None,
                low_logits=low[0].cpu().numpy(),
                px_per_low_px=(Wp / low.shape[-1], Hp / low.shape[-2]),
                probabilities=probs.cpu().numpy() if probs is not None else None,
                gum_mode=self.gum_mode,
            )
        result.timings = timings
        return result

    def warmup(self, size: tuple[int, int] = (256, 320), runs: int = 1) -> None:
        """Run a few dummy frames (allocations, autotuning) so the first real frame is not slow."""
        dummy = np.zeros((*size, 3), np.uint8)
        for _ in range(runs):
            self(dummy)


@contextlib.contextmanager
def _stage(timings: dict[str, float], name: str, sync: callable) -> Iterator[None]:  # type: ignore[valid-type]
    sync()
    t0 = time.perf_counter()
    yield
    sync()
    timings[name] = (time.perf_counter() - t0) * 1e3


def _cpu_autocast_supports(dtype: torch.dtype) -> bool:
    try:
        with torch.autocast("cpu", dtype=dtype):
            torch.nn.functional.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 1, 1))
        return True
    except (RuntimeError, TypeError):
        return False
