"""The GUM against a direct, loop-based reading of the paper's equations 2 and 4."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gun.nn.geometry import Grid
from gun.nn.gum import guided_upsample, guided_upsample_labels


def reference_gum(U: np.ndarray, offsets: np.ndarray, mode: str, placement: Grid | None = None) -> np.ndarray:
    """Equations 2 / 4 literally: a sum over every input cell, per output pixel, in float64.

    Convention: without a placement x_s = (j + 0.5) * w / W - 0.5 (pixel centres); with one (input
    cell m centred on output pixel origin + stride * m) x_s = (j - origin) / stride. Offsets in input
    pixels (channel 0 = x), sampling position clamped to the map (border padding).
    """
    C, h, w = U.shape
    _, H, W = offsets.shape
    V = np.zeros((C, H, W))
    for i in range(H):
        for j in range(W):
            if placement is None:
                x = (j + 0.5) * w / W - 0.5 + offsets[0, i, j]
                y = (i + 0.5) * h / H - 0.5 + offsets[1, i, j]
            else:
                x = (j - placement.origin[1]) / placement.stride[1] + offsets[0, i, j]
                y = (i - placement.origin[0]) / placement.stride[0] + offsets[1, i, j]
            x, y = min(max(x, 0.0), w - 1.0), min(max(y, 0.0), h - 1.0)
            for n in range(h):
                for m in range(w):
                    if mode == "nearest":  # Kronecker deltas of eq. 2
                        k = float(math.floor(x + 0.5) == m and math.floor(y + 0.5) == n)
                    else:  # bilinear kernel of eq. 4
                        k = max(0.0, 1 - abs(x - m)) * max(0.0, 1 - abs(y - n))
                    V[:, i, j] += U[:, n, m] * k
    return V


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("hw,HW", [((4, 6), (8, 12)), ((5, 7), (13, 17)), ((3, 4), (3, 4)), ((6, 5), (11, 9))])
def test_matches_equations(mode: str, hw: tuple[int, int], HW: tuple[int, int]) -> None:
    rng = np.random.default_rng(hash((mode, hw, HW)) % 2**32)
    U = rng.normal(size=(3, *hw))
    # offsets up to 3 input pixels: many samples fall outside the map and are clamped
    offsets = rng.uniform(-3, 3, size=(2, *HW))
    expected = reference_gum(U, offsets, mode)
    got = guided_upsample(torch.from_numpy(U)[None], torch.from_numpy(offsets)[None], mode)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("placement", [Grid.regular(2.0), Grid.regular(4.0, 1.5), Grid((2.5, 3.0), (-0.75, 0.6))])
def test_matches_equations_with_a_placement(mode: str, placement: Grid) -> None:
    """The model's true cell positions (gun.nn.geometry) instead of the evenly spread default."""
    rng = np.random.default_rng(7)
    U = rng.normal(size=(2, 4, 5))
    offsets = rng.uniform(-2, 2, size=(2, 9, 13))
    expected = reference_gum(U, offsets, mode, placement)
    got = guided_upsample(torch.from_numpy(U)[None], torch.from_numpy(offsets)[None], mode, placement)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    if mode == "nearest":
        labels = torch.from_numpy(U.argmax(0))[None]
        assert torch.equal(guided_upsample_labels(labels, torch.from_numpy(offsets)[None], placement)[0],
                           torch.from_numpy(expected.argmax(0)))


@pytest.mark.parametrize("size", [(16, 24), (13, 17), (40, 7), (8, 12)])
def test_zero_offsets_are_plain_upsampling(size: tuple[int, int]) -> None:
    x = torch.randn(2, 5, 8, 12)
    zero = torch.zeros(2, 2, *size)
    bilinear = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    nearest = F.interpolate(x, size=size, mode="nearest-exact")
    torch.testing.assert_close(guided_upsample(x, zero, "bilinear"), bilinear, rtol=0, atol=1e-5)
    assert torch.equal(guided_upsample(x, zero, "nearest"), nearest)


def test_integer_offsets_shift_nearest_samples() -> None:
    x = torch.arange(12.0).view(1, 1, 3, 4)
    offsets = torch.zeros(1, 2, 3, 4)
    offsets[:, 0] = 1.0  # one input pixel to the right, same size: a shift with border clamp
    out = guided_upsample(x, offsets, "nearest")[0, 0]
    assert torch.equal(out, torch.tensor([[1.0, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11]]))


def test_bilinear_gradcheck() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # keep samples strictly inside and off the integer lattice, where eq. 4 is differentiable
    offsets = (torch.rand(1, 2, 7, 9, dtype=torch.float64) * 0.6 + 0.2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, o: guided_upsample(a, o, "bilinear"), (x, offsets))


def test_label_space_nearest_equals_argmax_of_full_nearest() -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        logits = torch.randn(3, 7, 6, 9, generator=g)
        offsets = torch.rand(3, 2, 17, 25, generator=g) * 8 - 4
        full = guided_upsample(logits, offsets, "nearest").argmax(1)
        fast = guided_upsample_labels(logits.argmax(1), offsets)
        assert torch.equal(full, fast)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="offsets must be"):
        guided_upsample(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="batch sizes differ"):
        guided_upsample(torch.zeros(2, 3, 4, 4), torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="unknown GUM mode"):
        guided_upsample(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 8, 8), "bicubic")  # type: ignore[arg-type]


@pytest.mark.parametrize("low,out", [((36, 48), (288, 384)), ((128, 256), (1024, 2048))])
def test_sampling_positions_stay_exact_under_low_precision(low: tuple[int, int], out: tuple[int, int]) -> None:
    # a ramp U[.., j] = j is exact in bfloat16, so any error is in the sampling position
    ramp = torch.arange(low[1], dtype=torch.float32).expand(1, 1, *low)
    zero = torch.zeros(1, 2, *out)
    expected = F.interpolate(ramp, size=out, mode="bilinear", align_corners=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = guided_upsample(ramp.bfloat16(), zero.bfloat16(), "bilinear")
    torch.testing.assert_close(got.float(), expected, rtol=0, atol=1e-3)
