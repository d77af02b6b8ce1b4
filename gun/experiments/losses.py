"""The training loss: the decoded logits' cross-entropy plus, for a GUN, the terms that keep its
offsets honest (steering pixels at edges rather than moving the whole map)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from gun.data.labels import IGNORE
from gun.nn.geometry import IDENTITY, Grid
from gun.nn.model import GUN, GUNOutput

if TYPE_CHECKING:
    from gun.experiments.train import TrainOptions


LOVASZ_SAMPLE = 1 << 16  # pixels per batch for the Lovasz loss (a 1x CamVid crop has 110 592): 0.4 s a batch on one core


def far_from_label_changes(y: torch.Tensor, radius: int) -> torch.Tensor:
    """(N, H, W) bool: labelled pixels of y (N, H, W) with no other label (ignore included) within
    `radius` pixels along either axis (a (2r+1)-square window)."""
    yf = y.unsqueeze(1).float()
    k = 2 * radius + 1
    hi = F.max_pool2d(yf, k, 1, radius)  # pads with -inf: the image's border is no label change
    lo = -F.max_pool2d(-yf, k, 1, radius)
    return ((hi == lo).squeeze(1)) & (y != IGNORE)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None, edge_weight: float = 0.0,
                  edge_px: int = 3) -> torch.Tensor:
    """Class-weighted cross-entropy of logits (N, C, H, W) against y (N, H, W), as F.cross_entropy's
    weighted mean; with `edge_weight` > 0, labelled pixels within `edge_px` of a label change count
    1 + edge_weight times (U-Net's border weighting: thin objects are all edge, and edges are where
    a GUM and bilinear upsampling differ)."""
    if not edge_weight:
        return F.cross_entropy(logits.float(), y, weight=weights, ignore_index=IGNORE)
    per_pixel = F.cross_entropy(logits.float(), y, weight=weights, ignore_index=IGNORE, reduction="none")
    labelled = y != IGNORE
    boost = 1 + edge_weight * (labelled & ~far_from_label_changes(y, edge_px)).float()
    # the denominator F.cross_entropy uses, each pixel's class weight now times its boost
    w = boost * labelled.float() * (1 if weights is None else weights[y.clamp(0, weights.numel() - 1)])
    return (per_pixel * boost).sum() / w.sum().clamp(min=1e-12)


def lovasz_softmax(logits: torch.Tensor, y: torch.Tensor, sample: int | None = None) -> torch.Tensor:
    """The Lovasz-softmax loss (Berman et al., CVPR 2018) of logits (N, C, H, W) against labels y
    (N, H, W), over the batch's labelled pixels: a convex surrogate of 1 - IoU, averaged over the
    classes present in y. On one-hot probabilities it equals the mean of 1 - IoU exactly, so it
    optimises the metric thin classes lose most on, where pixel-wise cross-entropy barely notices them.
    `sample`: use that many labelled pixels drawn at random (the IoU of a uniform sample estimates
    the batch's, and sorting every pixel of a batch of crops takes seconds on a CPU)."""
    c = logits.shape[1]
    index = (y.reshape(-1) != IGNORE).nonzero().squeeze(1)
    if sample is not None and index.numel() > sample:
        index = index[torch.randperm(index.numel(), device=index.device)[:sample]]
    probs = logits.permute(1, 0, 2, 3).reshape(c, -1)[:, index].float().softmax(0)  # (C, P): sorted along P
    fg = F.one_hot(y.reshape(-1)[index], c).T.float()
    present = fg.sum(1) > 0
    if not present.any():
        return logits.sum() * 0.0
    errors, order = (fg - probs).abs().sort(1, descending=True)
    fg_sorted = fg.gather(1, order)
    total = fg_sorted.sum(1, keepdim=True)
    # the Lovasz extension's gradient: the Jaccard loss of each prefix of the sorted errors, differenced
    jaccard = 1.0 - (total - fg_sorted.cumsum(1)) / (total + (1.0 - fg_sorted).cumsum(1))
    jaccard = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], 1)
    return (errors * jaccard).sum(1)[present].mean()


def training_loss(model: GUN, out: GUNOutput, y: torch.Tensor, weights: torch.Tensor | None, opts: TrainOptions,
                  target: Grid = IDENTITY) -> torch.Tensor:
    """Cross-entropy of the decoded logits (the GUM's, or bilinear without guidance; `edge_weight`
    weights pixels near label changes more), plus for a GUN:
    - `aux_bilinear` x the cross-entropy of its logits decoded bilinearly (anchors the low-resolution
      map to the image, so the offsets cannot learn a global shift of it);
    - `offset_l1` x the mean |offset| in low-resolution pixels (shrinks them everywhere alike);
    - `offset_mean` x the length of each image's mean offset. A translation of the whole map is free
      to the GUN (the offsets can undo it), so training drifts into one; this removes exactly that
      freedom without asking the logits to serve bilinear decoding too;
    - `offset_far` x the mean |offset| (L1, output resolution) of the labelled pixels farther than one
      low-resolution cell from any label change. There no sample can change the label, so an offset
      is pure drift; the paper's offsets act at edges, and this leaves them free there.
    Any model: `lovasz` x the Lovasz-softmax loss of the decoded logits (an IoU surrogate).
    `target`: where y's pixels sit in the input (IDENTITY: y is at the input's size)."""
    assert out.logits is not None
    loss = cross_entropy(out.logits, y, weights, opts.edge_weight, opts.edge_px)
    if opts.lovasz:
        loss = loss + opts.lovasz * lovasz_softmax(out.logits, y, LOVASZ_SAMPLE)
    if out.offsets is None:
        return loss
    if opts.aux_bilinear:
        plain = model.decode(out.low_logits, None, (y.shape[-2], y.shape[-1]), target)
        loss = loss + opts.aux_bilinear * F.cross_entropy(plain.float(), y, weight=weights, ignore_index=IGNORE)
    if opts.offset_l1:
        loss = loss + opts.offset_l1 * out.offsets.float().abs().mean()
    if opts.offset_mean:
        loss = loss + opts.offset_mean * out.offsets.float().mean((2, 3)).norm(dim=1).mean()
    if opts.offset_far:
        full = model.upsample_offsets(out.offsets, (y.shape[-2], y.shape[-1]), target)
        assert full is not None
        cell = max(1, round(model.logits_grid.within(target).stride[1]))  # one low-resolution cell, in y's pixels
        far = far_from_label_changes(y, cell).unsqueeze(1).float()
        loss = loss + opts.offset_far * (full.float().abs() * far).sum() / far.sum().clamp(min=1)
    return loss
