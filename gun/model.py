"""GUN: multi-resolution encoder -> fusion module -> classifier -> (guidance module + GUM).

One encoder pass yields the low-resolution logits and the offsets; `decode` turns them into
output-resolution logits with the GUM, or with plain bilinear upsampling of the same low-resolution
logits, so the two decoders can be compared on one forward pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from torch import Tensor, nn

from gun.config import GUNConfig
from gun.decoders.fusion import FusionModule
from gun.decoders.guidance import GuidanceModule
from gun.encoders import build_encoder, imagenet_state_dict
from gun.gum import Mode, guided_upsample
from gun.layers import resize


class GUNOutput(NamedTuple):
    logits: Tensor | None  # (N, C, H, W) at input resolution; None when forward(full=False)
    low_logits: Tensor  # (N, C, h, w)
    offsets: Tensor | None  # (N, 2, H, W) in low-resolution pixels; None without guidance


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
        enc = self.encoders[0]
        in_channels = enc.low_channels if config.multi_branch else enc.full_channels
        self.fusion = FusionModule(enc.medium_channels, in_channels, n_medium, config.fusion, config.postproc)
        self.classifier = nn.Conv2d(self.fusion.out_channels, config.num_classes, 1)
        self.guidance = None
        if config.guidance is not None:
            self.guidance = GuidanceModule(config.guidance, enc.guide_channels, self.fusion.out_channels,
                                           config.guidance_channels, config.offset_bound)

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.encoders[0].mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.encoders[0].std

    def _medium_encoder(self, i: int) -> nn.Module:
        return self.encoders[0 if self.config.shared else i]

    def encode(self, x: Tensor) -> tuple[Tensor | None, list[Tensor], Tensor]:
        """Run the branches: (guide, medium features, low features)."""
        cfg = self.config
        H, W = x.shape[-2:]

        def scaled(s: float) -> Tensor:
            return x if s == 1 else resize(x, (max(1, round(H * s)), max(1, round(W * s))))

        if not cfg.multi_branch:
            h = scaled(cfg.scales[0])
            for stage in self.encoders[0].medium_stages() + self.encoders[0].full_stages():
                h = stage(h)
            return None, [], h

        guide, mediums = None, []
        for i, s in enumerate(cfg.scales[:-1]):
            enc = self._medium_encoder(i)
            h = scaled(s)
            for k, stage in enumerate(enc.medium_stages()):
                h = stage(h)
                if i == 0 and k == enc.guide_stage_index:
                    guide = h  # (N, guide_channels, H*s/2, W*s/2)
            mediums.append(h)  # (N, medium_channels, H*s/8, W*s/8)

        low_enc = self.encoders[-1]
        s_low = cfg.scales[-1]
        if cfg.shared and s_low in cfg.scales[:-1]:
            # same weights, same input: the low branch continues from that medium output
            h = mediums[cfg.scales.index(s_low)]
        else:
            h = scaled(s_low)
            for stage in low_enc.medium_stages():
                h = stage(h)
        for stage in low_enc.low_stages():
            h = stage(h)
        return guide, mediums, h  # low: (N, low_channels, ...)

    def forward(self, x: Tensor, full: bool = True) -> GUNOutput:
        """x: (N, 3, H, W), normalised with the encoder's mean and std."""
        size = (x.shape[-2], x.shape[-1])
        guide, mediums, low = self.encode(x)
        fused = self.fusion(mediums, low)  # (N, F, h, w)
        low_logits = self.classifier(fused)  # (N, C, h, w)
        offsets = None if self.guidance is None else self.guidance(guide, fused, size)
        logits = self.decode(low_logits, offsets, size) if full else None
        return GUNOutput(logits, low_logits, offsets)

    @staticmethod
    def decode(low_logits: Tensor, offsets: Tensor | None, size: tuple[int, int], mode: Mode = "bilinear") -> Tensor:
        """Output-resolution logits: GUM with the offsets, or bilinear upsampling when offsets is None."""
        if offsets is None:
            return resize(low_logits, size)
        return guided_upsample(low_logits, offsets, mode)

    def load_encoder_imagenet(self, path: str | Path | None = None) -> None:
        """Initialise every encoder branch from ImageNet weights (see gun.encoders)."""
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
