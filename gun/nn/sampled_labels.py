"""Labels of a bilinear upsampling (plain or the GUM's) without upsampling every channel.

A bilinear sample is a convex combination of its four source cells, so where all four have the
same argmax c, c is the sample's argmax too: for every class j the sample's x[c] - x[j] is
sum_k w_k (x_k[c] - x_k[j]) >= 0. Those pixels take c from the low-resolution label map; only the
rest, near label boundaries, read the C channels, sampled as grid_sample samples them (for the
shipped model at 540x720, 51.6% of the low-resolution squares agree: scripts/gum_cost.py). The
labels equal argmax(upsample(x)) up to exact ties, reading far fewer bytes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from gun.nn.geometry import normalised_grid
from gun.nn.layers import channel_argmax


def agreed_labels(labels: Tensor) -> Tensor:
    """(N, h, w) labels -> (N, h, w): the label of cell (i, j) where cells (i, j), (i, j+1),
    (i+1, j) and (i+1, j+1) (border cells repeated) all have it, else -1."""
    right = torch.cat([labels[..., 1:], labels[..., -1:]], -1)
    down = torch.cat([labels[:, 1:], labels[:, -1:]], 1)
    diagonal = torch.cat([right[:, 1:], right[:, -1:]], 1)
    same = (labels == right) & (labels == down) & (labels == diagonal)
    return torch.where(same, labels, torch.full_like(labels, -1))


def bilinear_labels(x: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """argmax over channels of x (N, C, h, w) sampled bilinearly at source positions px, py (in
    cells, broadcastable to (N, H, W); off the map: the border cell) -> (N, H, W) int64. Equal to
    channel_argmax(F.grid_sample(x, normalised_grid(px, py, h, w), "bilinear", "border", False))."""
    N, _, h, w = x.shape
    _, H, W = torch.broadcast_shapes(px.shape, py.shape, (N, 1, 1))
    # the top-left source cell of every sample as one flat index, computed in float where px and py
    # are small (a row and a column for plain upsampling) and converted once; float32 counts whole
    # cells exactly below 2**24 (a 4096 x 4096 map), float64 beyond
    cy, cx = (py, px) if h * w < 2**24 else (py.double(), px.double())
    cell = torch.floor(cy.clamp(0, h - 1)).mul_(w) + torch.floor(cx.clamp(0, w - 1))
    agreed = agreed_labels(channel_argmax(x)).view(N, h * w)
    out = torch.empty(N, H, W, dtype=torch.long, device=x.device)
    for b in range(N):
        labels = torch.take(agreed[b], _item(cell, b).expand(H, W).long()).view(-1)  # (H * W,)
        todo = (labels < 0).nonzero().squeeze(1)
        if todo.numel():
            grid = normalised_grid(_at(_item(px, b), todo, W), _at(_item(py, b), todo, W), h, w)
            sampled = F.grid_sample(x[b:b + 1], grid.view(1, 1, -1, 2), mode="bilinear", padding_mode="border",
                                    align_corners=False)  # (1, C, 1, M)
            labels[todo] = channel_argmax(sampled)[0, 0]
        out[b] = labels.view(H, W)
    return out


def _at(t: Tensor, flat: Tensor, W: int) -> Tensor:
    """Values of t (1 or H rows, 1 or W columns, broadcast to H x W) at flat pixel indices."""
    rows, cols = t.shape[-2:]
    if rows > 1 and cols > 1:
        return t.reshape(-1)[flat]
    if rows > 1:
        return t.reshape(-1)[flat // W]
    return t.reshape(-1)[flat % W] if cols > 1 else t.reshape(-1).expand(flat.numel())


def _item(t: Tensor, b: int) -> Tensor:
    """Batch item b of a tensor whose batch dimension may be broadcast (size 1)."""
    return t[b] if t.shape[0] > 1 else t[0]
