"""Model configuration: one frozen dataclass, and the paper's experiments as named presets.

Every row of the paper's Tables 1, 2 and 4 is a preset with the paper's name. A preset fixes the
architecture; the encoder family and the number of classes are free (`preset(name, encoder=...,
num_classes=...)`), as is the input scale of each branch (chosen for the frame size at hand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

EncoderName = Literal["drn_d_22", "efficientnet_lite0"]
Fusion = Literal["sum", "concat"]
Guidance = Literal["large-rf", "high-res", "fusion"]

ENCODERS: tuple[str, ...] = ("drn_d_22", "efficientnet_lite0")
GUIDANCES: tuple[str, ...] = ("large-rf", "high-res", "fusion")


@dataclass(frozen=True)
class GUNConfig:
    """Architecture of one GUN variant.

    `scales` are the input scales of the encoder branches, relative to the frame, largest first.
    With one branch the whole encoder runs on it (the paper's `baseline` and `enc4`). With two or
    more, every branch but the last is a "medium" branch (the encoder up to output stride 8, before
    the dilated layers) and the last is the "low" branch (the encoder minus DRN's last two layers).
    """

    encoder: EncoderName = "drn_d_22"
    num_classes: int = 19
    scales: tuple[float, ...] = (0.5, 0.25)
    shared: bool = True  # branches share the weights of the layers they have in common
    fusion: Fusion = "sum"
    # Post-processing Conv-BN-ReLU stack after the merge (paper: "postproc"); widths are ours,
    # the paper gives none. Empty = the paper's "base" fusion (classifier on the merged signal).
    postproc: tuple[int, ...] = ()
    guidance: Guidance | None = None
    guidance_channels: int = 32  # width of the guidance module's hidden maps (ours)
    # The guide (the high-resolution branch's stride-2 activation) averaged over pool x pool cells
    # before the guidance module: 1 = the paper's; 2 runs the module at a quarter of the pixels
    # (ours: issue 9's GUM cost; distilled from a pool-1 model by `gun distill`)
    guidance_pool: int = 1
    # With pool > 1: the module reads every guide pixel of a pool x pool cell (a strided convolution
    # rather than their mean) and writes offsets for each of them (its head predicts 2 * pool**2
    # channels, rearranged as in ESPCN's sub-pixel convolution), so the offsets keep the guide's
    # stride-2 grid while the module runs at pool**2 times fewer cells (ours: issue 9's GUM cost)
    guidance_subpixel: bool = False
    # Offsets are bounded to +-offset_bound low-resolution pixels by a tanh (DySample-style
    # scope); the paper does not bound them. 2 px lets a sample reach the neighbouring cell's
    # far side, enough to cross a boundary, and keeps samples from wandering.
    offset_bound: float = 2.0

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}: choose one of {', '.join(ENCODERS)}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        if not self.scales or any(not 0 < s <= 1 for s in self.scales):
            raise ValueError(f"scales must be a non-empty tuple of values in (0, 1], got {self.scales}")
        if list(self.scales) != sorted(self.scales, reverse=True):
            raise ValueError(f"scales must be ordered largest first, got {self.scales}")
        if self.fusion not in ("sum", "concat"):
            raise ValueError(f"unknown fusion {self.fusion!r}: choose sum or concat")
        if self.guidance is not None and self.guidance not in GUIDANCES:
            raise ValueError(f"unknown guidance {self.guidance!r}: choose one of {', '.join(GUIDANCES)} or None")
        if self.guidance is not None and len(self.scales) < 2:
            raise ValueError("guidance needs a medium-resolution branch: give at least two scales")
        if self.guidance_pool not in (1, 2, 4):
            raise ValueError(f"guidance_pool must be 1, 2 or 4, got {self.guidance_pool}")
        if self.guidance_pool > 1 and self.guidance not in ("fusion", "high-res"):
            raise ValueError("guidance_pool averages the guide of fusion or high-res guidance: use it with one of those")
        if self.guidance_subpixel and (self.guidance != "fusion" or self.guidance_pool == 1):
            raise ValueError("guidance_subpixel needs fusion guidance with guidance_pool 2 or 4")
        if self.offset_bound <= 0:
            raise ValueError(f"offset_bound must be positive, got {self.offset_bound}")

    @property
    def multi_branch(self) -> bool:
        return len(self.scales) > 1


# The paper's medium + low branches sharing one encoder, summed; the rows below vary one thing each.
_PAPER = GUNConfig(scales=(0.5, 0.25), shared=True, fusion="sum")
_POSTPROC = (256, 128)

PRESETS: dict[str, GUNConfig] = {
    # Table 1: encoders (decoder fixed to "base sum", bilinear upsampling)
    "baseline": GUNConfig(scales=(1.0,)),
    "enc4": GUNConfig(scales=(0.25,)),
    "enc24": GUNConfig(scales=(0.5, 0.25), shared=False),
    "enc24shared": replace(_PAPER),
    "enc124shared": GUNConfig(scales=(1.0, 0.5, 0.25), shared=True),
    # Table 2: fusion modules on enc24shared
    "base-sum": replace(_PAPER),
    "base-concat": replace(_PAPER, fusion="concat"),
    "postproc-sum": replace(_PAPER, postproc=_POSTPROC),
    "postproc-concat": replace(_PAPER, fusion="concat", postproc=_POSTPROC),
    # Table 4: guidance modules on enc24shared + postproc sum (+ random scale in training)
    "bilinear": replace(_PAPER, postproc=_POSTPROC),
    "large-rf": replace(_PAPER, postproc=_POSTPROC, guidance="large-rf"),
    "high-res": replace(_PAPER, postproc=_POSTPROC, guidance="high-res"),
    "fusion": replace(_PAPER, postproc=_POSTPROC, guidance="fusion"),
    # The paper's final model
    "gun": replace(_PAPER, postproc=_POSTPROC, guidance="fusion"),
}


def preset(name: str, **overrides: object) -> GUNConfig:
    """The named preset, with any field overridden (e.g. encoder, num_classes, scales)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]

