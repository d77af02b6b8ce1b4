"""GUN: multi-resolution encoder -> fusion module -> classifier -> (guidance module + GUM).

One encoder pass yields the low-resolution logits and the offsets; `decode` turns them into
output-resolution logits with the GUM, or with plain bilinear upsampling of the same low-resolution
logits, so the two decoders can be compared on one forward pass. Every map has a known place in the
input (gun.nn.geometry): the logits sit on `logits_grid`, the offsets on `offsets_grid`, and decoding
onto any output (the input itself, or the original frame the input was resized from) samples at
the true positions.

Input sides must be multiples of `input_multiple` (gun.runtime.frames pads frames to it).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, cast

import torch
from torch import Tensor, nn

from gun.nn.config import GUNConfig
from gun.nn.decoders.fusion import FusionModule
from gun.nn.decoders.guidance import FusionGuidance, GuidanceModule, HighResGuidance, LargeRFGuidance
from gun.nn.encoders import EncoderModule, build_encoder, imagenet_state_dict
from gun.nn.geometry import IDENTITY, Grid, branch_grid, input_multiple, resample, sample_positions, scale_input
from gun.nn.gum import Mode, guided_upsample
from gun.nn.layers import channel_argmax
from gun.nn.sampled_labels import bilinear_labels


class Features(NamedTuple):
    guide: Tensor | None  # (N, guide_channels, H*s/2, W*s/2) of the first medium branch
    mediums: list[Tensor]  # (N, medium_channels, H*s/8, W*s/8) per medium branch
    low: Tensor  # (N, low_channels, ...) of the low (or only) branch


class GUNOutput(NamedTuple):
    logits: Tensor | None  # (N, C, H, W) at input resolution; None when forward(full=False)
    low_logits: Tensor  # (N, C, h, w) on GUN.logits_grid
    offsets: Tensor | None  # (N, 2, h', w') on GUN.offsets_grid, in low-resolution pixels; None without guidance


class GUN(nn.Module):
    def __init__(self, config: GUNConfig) -> None:
        super().__init__()
        self.config = config
        n_medium = len(config.scales) - 1
        if config.multi_branch:
            roles = ["low"] if config.shared else ["medium"] * n_medium + ["low"]
        else:
            roles = ["full"]
        self.encoders = nn.ModuleList()
        for role in roles:
            encoder = build_encoder(config.encoder)
            encoder.trim(role)
            self.encoders.append(encoder)
        enc = self._medium_encoder(0)
        medium_grids = [branch_grid(s, enc.medium_stride) for s in config.scales[:-1]]
        low_grid = branch_grid(config.scales[-1], enc.low_stride)
        self.input_multiple = input_multiple(enc.low_stride, config.scales)
        in_channels = enc.low_channels if config.multi_branch else enc.full_channels
        self.fusion = FusionModule(enc.medium_channels, in_channels, config.fusion, config.postproc, medium_grids, low_grid)
        self.classifier = nn.Conv2d(self.fusion.out_channels, config.num_classes, 1)
        self.logits_grid: Grid = self.fusion.grid
        self.guidance: GuidanceModule | None = None
        if config.guidance is not None:
            guide_grid = branch_grid(config.scales[0], enc.guide_stride)
            width, bound = config.guidance_channels, config.offset_bound
            if config.guidance == "high-res":
                self.guidance = HighResGuidance(enc.guide_channels, bound, guide_grid, config.guidance_pool)
            elif config.guidance == "large-rf":
                self.guidance = LargeRFGuidance(self.fusion.out_channels, width, bound, self.logits_grid)
            else:
                self.guidance = FusionGuidance(enc.guide_channels, self.fusion.out_channels, width, bound, guide_grid,
                                               self.logits_grid, config.guidance_pool, config.guidance_subpixel)

    @property
    def mean(self) -> tuple[float, float, float]:
        return self._medium_encoder(0).mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self._medium_encoder(0).std

    @property
    def offsets_grid(self) -> Grid | None:
        return None if self.guidance is None else self.guidance.grid

    def _medium_encoder(self, i: int) -> EncoderModule:
        # ModuleList items are typed as Module; every item here came from build_encoder
        return cast(EncoderModule, self.encoders[0 if self.config.shared else i])

    def encode(self, x: Tensor) -> Features:
        """Run the branches."""
        cfg = self.config
        if x.shape[-2] % self.input_multiple or x.shape[-1] % self.input_multiple:
            raise ValueError(f"input {tuple(x.shape[-2:])} must have sides divisible by {self.input_multiple}: "
                             "pad it (gun.runtime.frames.prepare does)")
        if not cfg.multi_branch:
            h = scale_input(x, cfg.scales[0])
            for stage in self._medium_encoder(0).medium_stages() + self._medium_encoder(0).full_stages():
                h = stage(h)
            return Features(None, [], h)

        guide, mediums = None, []
        for i, s in enumerate(cfg.scales[:-1]):
            enc = self._medium_encoder(i)
            h = scale_input(x, s)
            for k, stage in enumerate(enc.medium_stages()):
                h = stage(h)
                if i == 0 and k == enc.guide_stage_index:
                    guide = h
            mediums.append(h)

        low_enc = cast(EncoderModule, self.encoders[-1])
        s_low = cfg.scales[-1]
        if cfg.shared and s_low in cfg.scales[:-1]:
            # same weights, same input: the low branch continues from that medium output
            h = mediums[cfg.scales.index(s_low)]
        else:
            h = scale_input(x, s_low)
            for stage in low_enc.medium_stages():
                h = stage(h)
        for stage in low_enc.low_stages():
            h = stage(h)
        return Features(guide, mediums, h)

    def forward(self, x: Tensor, full: bool = True) -> GUNOutput:
        """x: (N, 3, H, W), normalised with the encoder's mean and std, sides divisible by input_multiple."""
        f = self.encode(x)
        fused = self.fusion(f.mediums, f.low)  # (N, F, h, w) on logits_grid
        low_logits = self.classifier(fused)  # (N, C, h, w)
        offsets = None if self.guidance is None else self.guidance(f.guide, fused)
        logits = None
        if full:
            size = (x.shape[-2], x.shape[-1])
            logits = self.decode(low_logits, self.upsample_offsets(offsets, size), size)
        return GUNOutput(logits, low_logits, offsets)

    def upsample_offsets(self, offsets: Tensor | None, size: tuple[int, int], target: Grid = IDENTITY) -> Tensor | None:
        """The offsets (N, 2, H, W) at every pixel of an output of `size` whose pixels sit at
        `target` in the input (IDENTITY: the input itself)."""
        if offsets is None or self.offsets_grid is None:
            return None
        return resample(offsets, self.offsets_grid.within(target), size)

    def decode(self, low_logits: Tensor, offsets: Tensor | None, size: tuple[int, int], target: Grid = IDENTITY,
               mode: Mode = "bilinear") -> Tensor:
        """Output logits (N, C, H, W): the GUM with output-resolution offsets (see upsample_offsets),
        or bilinear upsampling when offsets is None; `target` as in upsample_offsets."""
        placement = self.logits_grid.within(target)
        if offsets is None:
            return resample(low_logits, placement, size)
        return guided_upsample(low_logits, offsets, mode, placement)

    def decode_labels(self, low_logits: Tensor, offsets: Tensor | None, size: tuple[int, int], target: Grid = IDENTITY,
                      rows: slice = slice(None)) -> Tensor:
        """Output labels (N, H, W): channel_argmax(decode(...)) in bilinear mode; on a CPU computed in
        label space wherever the four source cells agree (gun.nn.sampled_labels). `rows`: only
        those output rows (N, len(rows), W), each the same as in the whole map."""
        if low_logits.is_cuda:  # dense is fast there, and the sparse path's nonzero() would sync
            return channel_argmax(self.decode(low_logits, offsets, size, target))[:, rows]
        placement = self.logits_grid.within(target)
        W = size[1]
        dtype = torch.promote_types(low_logits.dtype, torch.float32)
        ys, xs = sample_positions(placement, size, low_logits.device, dtype)
        px, py = xs.view(1, 1, W), ys[rows].view(1, -1, 1)
        if offsets is not None:  # the same arithmetic as guided_upsample's
            px, py = px + offsets[:, 0, rows].to(dtype), py + offsets[:, 1, rows].to(dtype)
        return bilinear_labels(low_logits.to(dtype), px, py)

    def load_encoder_imagenet(self, path: str | Path | None = None) -> None:
        """Initialise every encoder branch from ImageNet weights (see gun.nn.encoders)."""
        state = imagenet_state_dict(self.config.encoder, path)
        for enc in self.encoders:
            own = enc.state_dict()
            missing = [k for k in own if k not in state]
            if missing:
                raise ValueError(f"ImageNet weights lack {len(missing)} encoder keys, e.g. {missing[0]}")
            bad = [k for k in own if own[k].shape != state[k].shape]
            if bad:
                raise ValueError(f"ImageNet weight {bad[0]} has shape {tuple(state[bad[0]].shape)}, expected {tuple(own[bad[0]].shape)}")
            enc.load_state_dict({k: state[k] for k in own}, strict=True)


def build_model(config: GUNConfig) -> GUN:
    return GUN(config)
