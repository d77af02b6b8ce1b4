"""The geometry is right: every feature map's cells are where the convolutions put them, and every
resampling lands them on the right output pixels.

The cell positions are measured, not assumed: with all weights positive and activations small, a
network is a positive linear filter, so the gradient of one feature cell with respect to the
input is non-zero exactly on its receptive field, whose centre is where the cell sits.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gun.nn.config import preset
from gun.nn.geometry import IDENTITY, Grid, input_multiple, resample
from gun.nn.gum import guided_upsample
from gun.nn.model import GUN, build_model
from gun.runtime.frames import inference_size, padded_size, prepare


def positive_linear(model: nn.Module) -> None:
    """Every conv an average over its taps, every BatchNorm the identity (eval mode)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / (m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.weight.fill_(1.0)
                m.bias.zero_()
    model.eval()


def receptive_field_centre(model: GUN, x: torch.Tensor, feature: str, cell: tuple[int, int]) -> tuple[float, float]:
    """(y, x) centre of the input support of one cell of a feature map of model.encode."""
    x = x.clone().requires_grad_(True)
    f = getattr(model.encode(x), feature)
    f = f[0] if isinstance(f, list) else f
    f[0, :, cell[0], cell[1]].sum().backward()
    support = x.grad[0].abs().sum(0) > 0  # type: ignore[union-attr]
    ys, xs = torch.nonzero(support, as_tuple=True)
    assert 0 < ys.min() and ys.max() < x.shape[-2] - 1 and 0 < xs.min() and xs.max() < x.shape[-1] - 1, "field touches the border"
    return (ys.min() + ys.max()).item() / 2, (xs.min() + xs.max()).item() / 2


CASES = [  # (encoder, scales, feature, grid attribute or callable)
    ("drn_d_22", (1.0, 1.0), "mediums"),
    ("drn_d_22", (1.0, 0.5), "low"),
    ("drn_d_22", (0.5, 0.25), "mediums"),
    ("drn_d_22", (0.5, 0.25), "guide"),
    ("efficientnet_lite0", (1.0, 1.0), "mediums"),
    ("efficientnet_lite0", (1.0, 1.0), "guide"),
    ("efficientnet_lite0", (1.0, 1.0), "low"),
    ("efficientnet_lite0", (0.5, 0.25), "mediums"),
]


@pytest.mark.parametrize("encoder,scales,feature", CASES)
def test_feature_cells_sit_where_the_grid_says(encoder: str, scales: tuple[float, float], feature: str) -> None:
    model = build_model(preset("gun", encoder=encoder, num_classes=3, scales=scales))
    positive_linear(model)
    # fields are wide: about 960 px for the low branches, a few hundred for the others
    side = 1024 if feature == "low" else 384 if encoder == "drn_d_22" else 512
    x = torch.full((1, 3, side, side), 1e-3)
    grid = {"mediums": model.fusion.medium_grids[0], "low": model.fusion.low_grid, "guide": model.guidance.grid}[feature]
    with torch.no_grad():
        f = getattr(model.encode(x), feature)
    h, w = (f[0] if isinstance(f, list) else f).shape[-2:]
    for cell in [(h // 2, w // 2), (h // 2 - 1, w // 2 + 1)]:
        centre = receptive_field_centre(model, x, feature, cell)
        expected = (grid.origin[0] + grid.stride[0] * cell[0], grid.origin[1] + grid.stride[1] * cell[1])
        assert centre == pytest.approx(expected), (feature, cell)


def test_symmetric_padding_puts_cells_at_stride_times_index() -> None:
    """The fact behind the whole module, on the smallest case: not at s*i + (s-1)/2."""
    model = build_model(preset("gun", encoder="efficientnet_lite0", num_classes=3, scales=(1.0, 1.0)))
    assert model.logits_grid == Grid.regular(8.0) and model.offsets_grid == Grid.regular(2.0)
    assert Grid.centred((12, 16), (96, 128)) == Grid((8.0, 8.0), (3.5, 3.5))  # align_corners=False's assumption


@pytest.mark.parametrize("grid", [Grid.regular(8.0), Grid.regular(16.0, 0.5), Grid.regular(4.0, 1.5), Grid((8.0, 4.0), (0.0, 0.5))])
@pytest.mark.parametrize("target", [IDENTITY, Grid.centred((361, 479), (384, 512)), Grid.centred((90, 120), (64, 96))])
def test_a_ramp_lands_on_the_right_pixels(grid: Grid, target: Grid) -> None:
    """Cells whose value is their own input x (or y) coordinate, resampled onto an output whose pixels
    sit at `target`: each output pixel gets its own coordinate (bilinear is exact on a ramp), away
    from the border clamp."""
    h, w = 8, 10
    ys = grid.origin[0] + grid.stride[0] * torch.arange(h, dtype=torch.float64)
    xs = grid.origin[1] + grid.stride[1] * torch.arange(w, dtype=torch.float64)
    ramp = torch.stack([ys.view(h, 1).expand(h, w), xs.view(1, w).expand(h, w)])[None]  # (1, 2, h, w)
    H, W = 40, 50
    out = resample(ramp, grid.within(target), (H, W))[0]
    oy = target.origin[0] + target.stride[0] * torch.arange(H, dtype=torch.float64)
    ox = target.origin[1] + target.stride[1] * torch.arange(W, dtype=torch.float64)
    inside_y = (oy >= ys[0]) & (oy <= ys[-1])
    inside_x = (ox >= xs[0]) & (ox <= xs[-1])
    assert inside_y.sum() > 5 and inside_x.sum() > 5
    torch.testing.assert_close(out[0][inside_y][:, inside_x], oy[inside_y].view(-1, 1).expand(-1, int(inside_x.sum())))
    torch.testing.assert_close(out[1][inside_y][:, inside_x], ox[inside_x].view(1, -1).expand(int(inside_y.sum()), -1))
    # the GUM with zero offsets is the same resampling
    zero = torch.zeros(1, 2, H, W, dtype=torch.float64)
    torch.testing.assert_close(guided_upsample(ramp, zero, "bilinear", grid.within(target)), out[None])


def _lerp_weights(n: int, N: int, stride: float, origin: float) -> torch.Tensor:
    """(N, n) matrix of 1-D bilinear sampling with the border clamp, written out plainly: output
    pixel j reads position (j - origin) / stride, clamped to [0, n - 1]."""
    m = torch.zeros(N, n, dtype=torch.float64)
    for j in range(N):
        pos = min(max((j - origin) / stride, 0.0), n - 1.0)
        i0 = int(pos)
        i1 = min(i0 + 1, n - 1)
        m[j, i0] += 1 - (pos - i0)
        m[j, i1] += pos - i0
    return m


@pytest.mark.parametrize("placement,hw,HW", [
    (Grid.regular(4.0), (17, 23), (68, 92)),        # the guidance module's stride 8 -> 2
    (Grid.regular(4.0), (17, 23), (65, 90)),        # output shorter than the cells' span
    (Grid((2.0, 3.0), (5.0, -4.0)), (6, 7), (20, 25)),  # border on both sides
    (Grid.regular(1.0, 2.0), (5, 6), (9, 9)),
    (Grid.regular(8.0, -100.0), (4, 5), (6, 7)),    # the output lies wholly past the map's end
    (Grid.regular(2.0, 50.0), (4, 5), (6, 7)),      # ... and wholly before its start
    (Grid.regular(8.0), (1, 1), (8, 8)),            # one cell
])
def test_resampling_onto_whole_pixels_is_bilinear_with_border_clamp(placement: Grid, hw: tuple[int, int], HW: tuple[int, int]) -> None:
    """Cells on whole output pixels take resample's interpolation path (not grid_sample): it must
    be the same separable bilinear sampling, border clamp included."""
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    my = _lerp_weights(hw[0], HW[0], placement.stride[0], placement.origin[0])
    mx = _lerp_weights(hw[1], HW[1], placement.stride[1], placement.origin[1])
    want = torch.einsum("Yy,ncyx,Xx->ncYX", my, x, mx)
    torch.testing.assert_close(resample(x, placement, HW), want)


@pytest.mark.parametrize("encoder,scales,multiple", [
    ("efficientnet_lite0", (1.0, 1.0), 32), ("efficientnet_lite0", (1.0, 0.5), 64), ("efficientnet_lite0", (0.25,), 128),
    ("drn_d_22", (0.5, 0.25), 32), ("drn_d_22", (1.0, 0.5), 16), ("drn_d_22", (1.0, 0.5, 0.25), 32),
])
def test_input_multiple_follows_the_config(encoder: str, scales: tuple[float, ...], multiple: int) -> None:
    name = "gun" if len(scales) > 1 else "enc4"
    model = build_model(preset(name, encoder=encoder, num_classes=3, scales=scales))
    assert model.input_multiple == multiple
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, multiple, 2 * multiple))  # the smallest input it takes runs
        with pytest.raises(ValueError, match=f"divisible by {multiple}"):
            model(torch.zeros(1, 3, multiple + 8, 2 * multiple))
    assert input_multiple(8, (0.75,)) == 32  # 0.75 = 3/4: sides of 32 k give branches of 24 k


@pytest.mark.parametrize("frame,input_size,expected", [
    ((360, 480), (360, 480), (360, 480)), ((576, 768), (360, 480), (360, 480)), ((720, 1280), (360, 480), (312, 554)),
    ((361, 479), None, (361, 479)), ((16, 16), (360, 480), (416, 416)),
])
def test_frames_keep_their_aspect_and_the_models_area(frame: tuple[int, int], input_size: tuple[int, int] | None,
                                                      expected: tuple[int, int]) -> None:
    assert inference_size(frame, input_size) == expected


def test_prepare_pads_to_the_multiple_and_places_the_frame() -> None:
    frames = torch.randint(0, 256, (1, 3, 361, 479), dtype=torch.uint8)
    prep = prepare(frames, (0.5,) * 3, (0.25,) * 3, 64, (180, 240))
    h, w = inference_size((361, 479), (180, 240))
    assert prep.x.shape[-2:] == padded_size(h, w, 64) and prep.size == (361, 479)
    assert prep.target == Grid.centred((361, 479), (h, w))
    same = prepare(frames, (0.5,) * 3, (0.25,) * 3, 32, None)
    assert same.target == IDENTITY and same.x.shape[-2:] == (384, 480)
    torch.testing.assert_close(same.x[0, :, :361, :479], (frames[0].float() / 255 - 0.5) / 0.25)
    torch.testing.assert_close(same.x[0, :, 361:, :479], same.x[0, :, 360:361, :479].expand(3, 23, 479))  # replicated border
