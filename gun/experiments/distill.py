"""`gun distill`: a cheaper guidance module taught to give a trained GUN's offsets.

The guidance module runs at the high-resolution branch's stride 2, so its few FLOPs (3.6% of the
shipped model's) cost about 10% of the time on a CPU (issue 9). A student with the guide averaged
over 2x2 cells (`guidance_pool`) and fewer channels runs at a quarter of the pixels; with `subpixel`
it reads each cell's pixels whole and writes an offset for each of them, so it can copy the teacher's
offsets pixel for pixel (ESPCN's sub-pixel convolution: the shipped fast GUN). Trained from
ImageNet it would need a GPU; distilled, it needs minutes: the encoder, fusion and classifier are
the teacher's, frozen and copied unchanged (so the bilinear decoding is identical), and only the new
guidance module learns, with an L1 loss between its offsets and the teacher's, both on the
teacher's offset grid. Frames go through the one frame path at the teacher's inference size, each
also mirrored; the teacher's features are computed once and kept in memory (bfloat16).

Matching the teacher's offsets caps the student at the teacher. With `task` > 0 the student also
learns from the labels: the training recipe's loss (`gun train`'s, from `loss`: class weights,
Lovasz, offset terms) of the frozen low-resolution logits decoded by the student's GUM straight
onto the frame's labelled pixels, exactly as `gun eval` decodes them. `init` starts the student
from another student's guidance module (a pure distillation first, then the task loss), or, with
the teacher's own pool and width, from the teacher's: the guidance module fine-tuned alone.

With `head` the classifier (a 1x1 convolution of the fused map) learns too, jointly with the
guidance module under the task loss, so the low-resolution logits adapt to the offsets that decode
them. Given a bilinear model (the GUN's twin), `head` fine-tunes its classifier alone under the same
loss of its bilinear decoding: the same step and budget for both, so the GUM-vs-twin comparison
stays fair.

    gun distill --checkpoint weights/gun_effnet_camvid.safetensors --dataset camvid --data-root DATA \\
        --pool 2 --channels 16 --out runs/gun_pool2.safetensors
"""

from __future__ import annotations

import itertools
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from gun.data import open_dataset
from gun.data.segdata import SegmentationDataset
from gun.experiments.losses import training_loss
from gun.experiments.train import TrainOptions, check_options, class_weights
from gun.nn.checkpoint import CheckpointMeta, load_model, save_checkpoint
from gun.nn.geometry import Grid, resample
from gun.nn.model import GUN, GUNOutput, build_model
from gun.runtime.device import resolve_device
from gun.runtime.frames import inference_size, prepare, to_tensor


def memory_bytes() -> int:
    """Physical memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


class Item(NamedTuple):
    """One training image (or its mirror) as the student sees it: the frozen teacher's outputs."""
    guide: Tensor | None  # (1, G, h2, w2) the guidance module's high-resolution input (bfloat16); None: bilinear
    fused: Tensor  # (1, F, h, w) the fusion output (bfloat16)
    offsets: Tensor | None  # (1, 2, h2', w2') the teacher's offsets on its grid (float32); None: bilinear
    low_logits: Tensor  # (1, C, h, w) the frozen classifier's logits (float32)
    labels: Tensor  # (1, H, W) the frame's labels (uint8)
    target: Grid  # where the frame's pixels sit in the network input


def teacher_features(model: GUN, meta: CheckpointMeta, data: SegmentationDataset, count: int,
                     progress: bool = True, scales: Sequence[float] = (1.0,)) -> list[Item]:
    """The first `count` images and their mirror images as `Item`s, on the model's device, each at
    every one of `scales` times the model's inference size (1: as `gun eval` runs it). Refuses,
    after the first image, a split whose features would take over half the device's memory."""
    out: list[Item] = []
    device = next(model.parameters()).device
    started = time.perf_counter()
    with torch.no_grad():  # not inference_mode: the task loss's autograd reads these tensors
        for i in range(count):
            image, labels = data.load(i)
            if i == 1:
                need = count * sum(t.numel() * t.element_size() for item in out for t in item[:5] if t is not None)
                have = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else memory_bytes()
                if have and need > have // 2:
                    raise ValueError(f"the teacher's features of {count} images need about {need / 2**30:.1f} GiB of "
                                     f"{have / 2**30:.0f} GiB: use --limit {max(1, count * have // 2 // need)} or fewer")
            h, w = inference_size(labels.shape, meta.input_size)
            for (img, lab), scale in itertools.product(((image, labels), (image[:, ::-1], labels[:, ::-1])), scales):
                size = (max(1, round(h * scale)), max(1, round(w * scale)))
                prep = prepare(to_tensor(np.ascontiguousarray(img)).to(device), meta.mean, meta.std, model.input_multiple, size)
                f = model.encode(prep.x)
                fused = model.fusion(f.mediums, f.low)
                guide, offsets = None, None
                if model.guidance is not None and f.guide is not None:
                    guide, offsets = f.guide.to(torch.bfloat16), model.guidance(f.guide, fused).float()
                out.append(Item(guide, fused.to(torch.bfloat16), offsets,
                                model.classifier(fused).float(), torch.from_numpy(np.ascontiguousarray(lab))[None].to(device),
                                prep.target))
            if progress and ((i + 1) % 50 == 0 or i + 1 == count):
                print(f"teacher features: {i + 1}/{count} images ({time.perf_counter() - started:.0f} s)", flush=True)
    return out


def distill(teacher_path: str | Path, out: str | Path, dataset: str, data_root: str | Path, split: str = "train",
            pool: int = 2, channels: int = 16, epochs: int = 30, lr: float = 3e-3, batch: int = 4, seed: int = 0,
            limit: int | None = None, progress: bool = True, command: str | None = None, l1: float = 1.0,
            task: float = 0.0, loss: TrainOptions | None = None, init: str | Path | None = None,
            device: str = "cpu", head: bool = False, scales: Sequence[float] = (1.0,),
            subpixel: bool = False) -> tuple[CheckpointMeta, float]:
    """Write `out` (float16): the teacher with its guidance module replaced by one of `channels`
    channels on the guide averaged over `pool` x `pool` cells, trained to minimise `l1` x the L1
    distance of its offsets to the teacher's plus `task` x the recipe `loss` (a TrainOptions; default
    its defaults) of its GUM decoding. Returns its metadata and the last epoch's mean L1 distance to
    the teacher's offsets (low-resolution pixels). `command` goes into the metadata (default: this
    process's command line). `device`: where the features are kept and the module trains ("auto",
    "cpu", "cuda"); the result does not depend on it beyond rounding. `head`: the classifier learns
    too; a bilinear teacher (no guidance module: pool, channels and init do not apply) then has its
    classifier fine-tuned alone, and the distance returned is 0. `scales`: each frame is seen at these
    multiples of the model's inference size (an augmentation; 1 alone: as `gun eval` runs it).
    `subpixel`: the module reads each cell's guide pixels whole and writes their offsets at the
    guide's stride (config.guidance_subpixel) rather than averaging the guide."""
    teacher, meta = load_model(teacher_path)
    if teacher.guidance is None and not head:
        raise ValueError(f"{teacher_path}: a bilinear model has no guidance module to distil (--head fine-tunes its classifier)")
    if teacher.guidance is None and (l1 or init is not None):
        raise ValueError(f"{teacher_path}: a bilinear model has no offsets: pass --l1 0 and no --init")
    if teacher.guidance is not None and meta.config.guidance not in ("fusion", "high-res"):
        raise ValueError(f"{teacher_path}: {meta.config.guidance} guidance has no guide to pool: distil fusion or high-res")
    if not scales or not all(0.25 <= x <= 4 for x in scales):  # NaN too
        raise ValueError(f"--scales {' '.join(map(str, scales))}: each must be between 0.25 and 4")
    if epochs < 1 or batch < 1 or not lr > 0:
        raise ValueError("--epochs and --batch must be at least 1 and --lr positive")
    if not (l1 >= 0 and task >= 0 and l1 + task > 0):  # NaN too
        raise ValueError(f"--l1 {l1} and --task {task}: both must be >= 0 and one > 0")
    loss = loss or TrainOptions(command="")
    check_options(loss)
    config = meta.config if teacher.guidance is None else replace(meta.config, guidance_pool=pool, guidance_channels=channels,
                                                                           guidance_subpixel=subpixel)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    student = build_model(config)
    source = teacher  # the guidance module starts from the init's, or the teacher's where it is the same module
    if init is not None:
        source, init_meta = load_model(init)
        if init_meta.config != config:
            raise ValueError(f"--init {init}: its config differs from the student's (pool {init_meta.config.guidance_pool}, "
                             f"{init_meta.config.guidance_channels} channels, subpixel {init_meta.config.guidance_subpixel}; "
                             f"the student: pool {pool}, {channels} channels, subpixel {subpixel})")
    guidance_start = {k: v for k, v in source.state_dict().items() if k.startswith("guidance.")}
    if init is None and config != meta.config:
        guidance_start = {}  # a different module: its own (zero-offset) initialisation
    frozen = {k: v for k, v in teacher.state_dict().items() if not k.startswith("guidance.")}
    missing, unexpected = student.load_state_dict(frozen | guidance_start, strict=False)
    assert not unexpected and all(k.startswith("guidance.") for k in missing)
    dev = resolve_device(device)
    teacher.to(dev).eval()
    student.to(dev).eval()
    guidance = student.guidance

    data = open_dataset(dataset, data_root, split)
    count = len(data) if limit is None else min(limit, len(data))
    if count == 0:
        raise ValueError(f"{dataset} {split} at {data_root} has no images")
    weights = class_weights(data, loss.class_weights) if task else None
    weights = weights.to(dev) if weights is not None else None
    feats = teacher_features(teacher, meta, data, count, progress, scales)
    placement = None if guidance is None or teacher.guidance is None else guidance.grid.within(teacher.guidance.grid)

    params = ([] if guidance is None else list(guidance.parameters())) + (list(student.classifier.parameters()) if head else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * len(batches(feats, batch, np.random.default_rng(0)))  # the count does not depend on the order
    # OneCycleLR divides by its warm-up's length in steps minus one: a warm-up of exactly one step
    # (10 steps in all) raised ZeroDivisionError, so such a run warms up over two
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1 if 0.1 * steps != 1 else 0.2)
    if guidance is not None:
        guidance.train()  # BatchNorm learns the student's statistics; the frozen rest stays in eval mode
    l1_sum = 0.0
    for epoch in range(epochs):
        started, l1_sum, task_sum = time.perf_counter(), 0.0, 0.0
        for chunk in batches(feats, batch, rng):
            items = [feats[k] for k in chunk]
            fused = torch.cat([t.fused for t in items]).float()
            low = student.classifier(fused) if head else torch.cat([t.low_logits for t in items])
            offsets, distance = None, torch.zeros(())
            if guidance is not None and placement is not None:
                guide = torch.cat([t.guide for t in items if t.guide is not None]).float()
                target = torch.cat([t.offsets for t in items if t.offsets is not None])
                offsets = guidance(guide, fused)
                distance = (resample(offsets, placement, target.shape[-2:]) - target).abs().mean()
            objective = l1 * distance
            if task:  # per image: frames of a split may differ in size
                task_loss = torch.stack([task_term(student, t, None if offsets is None else offsets[k:k + 1], weights, loss,
                                                   low[k:k + 1]) for k, t in enumerate(items)]).mean()
                objective = objective + task * task_loss
                task_sum += float(task_loss.detach()) * len(items)
            opt.zero_grad()
            objective.backward()
            opt.step()
            sched.step()
            l1_sum += float(distance.detach()) * len(items)
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: "
                  + ", ".join(([f"L1 to the teacher's offsets {l1_sum / len(feats):.4f} low-res px"] if guidance else [])
                              + ([f"task loss {task_sum / len(feats):.4f}"] if task else []))
                  + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    student.eval()
    meta = replace(meta, config=config, metrics={}, command=command or shlex.join(["gun", *sys.argv[1:]]))
    save_checkpoint(out, student, meta, dtype=torch.float16)
    return meta, l1_sum / len(feats)


def batches(feats: list[Item], batch: int, rng: np.random.Generator) -> list[list[int]]:
    """One epoch's batches: the items in a random order, each batch of one input size (the scales
    differ), the batches themselves in a random order where there is more than one size."""
    buckets: dict[tuple[int, ...], list[int]] = {}
    for k in rng.permutation(len(feats)):
        buckets.setdefault(tuple(feats[k].fused.shape), []).append(int(k))
    chunks = [b[j:j + batch] for b in buckets.values() for j in range(0, len(b), batch)]
    return chunks if len(buckets) == 1 else [chunks[i] for i in rng.permutation(len(chunks))]


def task_term(student: GUN, item: Item, offsets: Tensor | None, weights: Tensor | None, loss: TrainOptions,
              low_logits: Tensor | None = None) -> Tensor:
    """The recipe's loss of the low-resolution logits (default: the frozen classifier's) decoded by
    the student's offsets (None: bilinearly) onto the frame's labels."""
    low = item.low_logits if low_logits is None else low_logits
    size = (item.labels.shape[-2], item.labels.shape[-1])
    logits = student.decode(low, student.upsample_offsets(offsets, size, item.target), size, item.target)
    return training_loss(student, GUNOutput(logits, low, offsets), item.labels.long(), weights, loss, item.target)
