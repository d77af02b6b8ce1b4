"""Labels of bilinear upsampling in label space (gun.nn.sampled_labels) equal the argmax of the
upsampled logits, for the plain upsampling and the GUM, on random maps and a real model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gun.nn.geometry import Grid, normalised_grid
from gun.nn.sampled_labels import agreed_labels, bilinear_labels


def smooth_logits(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random logits with regions (label maps with boundaries, not salt and pepper)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, c, max(2, h // 4), max(2, w // 4), generator=g)
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False) + 0.05 * torch.randn(n, c, h, w, generator=g)


def test_agreement_map_marks_uniform_squares_only() -> None:
    labels = torch.tensor([[[0, 0, 1], [0, 0, 1], [2, 2, 2]]])
    # square (i, j) covers (i..i+1, j..j+1), border cells repeated past the edge
    assert agreed_labels(labels).tolist() == [[[0, -1, 1], [-1, -1, -1], [2, 2, 2]]]


@pytest.mark.parametrize("n", [1, 3])
def test_equals_argmax_of_grid_sample_everywhere(n: int) -> None:
    x = smooth_logits(n, 7, 12, 17, seed=n)
    g = torch.Generator().manual_seed(10 + n)
    H, W = 50, 70
    # positions over and past the map (border padding), per pixel and per item
    px = torch.rand(n, H, W, generator=g) * 21 - 2
    py = torch.rand(n, H, W, generator=g) * 16 - 2
    want = F.grid_sample(x, normalised_grid(px, py, 12, 17), mode="bilinear", padding_mode="border", align_corners=False).argmax(1)
    assert torch.equal(bilinear_labels(x, px, py), want)


def test_separable_positions_broadcast_like_plain_upsampling() -> None:
    x = smooth_logits(2, 5, 9, 13, seed=3)
    xs = (torch.arange(40.0) + 0.5) * 13 / 40 - 0.5
    ys = (torch.arange(30.0) + 0.5) * 9 / 30 - 0.5
    want = F.interpolate(x, size=(30, 40), mode="bilinear", align_corners=False).argmax(1)
    got = bilinear_labels(x, xs.view(1, 1, 40), ys.view(1, 30, 1))
    assert (got == want).float().mean() > 0.999  # interpolate rounds differently from grid_sample: ties only
    assert torch.equal(got, bilinear_labels(x, xs.view(1, 1, 40).expand(2, 30, 40), ys.view(1, 30, 1).expand(2, 30, 40)))


def test_gum_labels_of_a_model_equal_argmax_of_its_logits() -> None:
    from gun.nn.config import preset
    from tests.conftest import calibrated_model

    model = calibrated_model(preset("gun", encoder="efficientnet_lite0", num_classes=6, scales=(1.0, 1.0)), calibration=(2, 64, 96))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96), full=False)
        target = Grid.centred((100, 150), (64, 96))  # a frame larger than the input
        offsets = model.upsample_offsets(out.offsets, (100, 150), target)
        for o in (offsets, None):
            want = model.decode(out.low_logits, o, (100, 150), target).argmax(1)
            assert torch.equal(model.decode_labels(out.low_logits, o, (100, 150), target), want)
        assert offsets is not None and offsets.abs().mean() > 0.05  # the offsets do move the samples
        assert not torch.equal(model.decode_labels(out.low_logits, offsets, (100, 150), target),
                               model.decode_labels(out.low_logits, None, (100, 150), target))
