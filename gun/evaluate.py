"""mIoU evaluation at the dataset's native resolution, for either decoder of one model."""

from __future__ import annotations

from typing import Literal

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from gun.layers import channel_argmax
from gun.metrics import confusion_matrix
from gun.model import GUN, GUNOutput

Decoder = Literal["gum", "bilinear", "shift"]


def decode_labels(model: GUN, out: GUNOutput, size: tuple[int, int], decoder: Decoder = "gum") -> torch.Tensor:
    """Labels (N, H, W) from one forward pass, decoded in float32 by the GUM, bilinearly, or by
    "shift": the GUM with its offsets replaced by their per-image mean, i.e. bilinear upsampling
    translated as a whole. "shift" separates what the offsets gain by one global translation
    (e.g. undoing a feature misalignment) from what they gain by steering each pixel."""
    offsets = None
    if decoder != "bilinear" and out.offsets is not None:
        offsets = out.offsets.float()
        if decoder == "shift":
            offsets = offsets.mean((2, 3), keepdim=True).expand_as(offsets)
    return channel_argmax(model.decode(out.low_logits.float(), offsets, size))


def evaluate_confusion(model: GUN, dataset: Dataset, num_classes: int, decoders: tuple[Decoder, ...] = ("gum",),
                       device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                       progress: bool = True, desc: str = "eval") -> dict[str, torch.Tensor]:
    """Confusion matrix per decoder over the whole dataset (batch 1: native sizes may differ)."""
    model.eval()
    cms = {d: torch.zeros(num_classes, num_classes, dtype=torch.int64) for d in decoders}
    loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
    with torch.inference_mode():
        for x, y in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            x = x.to(device)
            with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
                out = model(x, full=False)
            size = (x.shape[-2], x.shape[-1])
            for d in decoders:
                cms[d] += confusion_matrix(decode_labels(model, out, size, d).cpu(), y, num_classes)
    return cms
