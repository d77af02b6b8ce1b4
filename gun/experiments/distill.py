"""`gun distill`: a cheaper guidance module taught to give a trained GUN's offsets.

The guidance module runs at the high-resolution branch's stride 2, so its few FLOPs (3.6% of the
shipped model's) cost about 10% of the time on a CPU (issue 9). A student with the guide averaged
over 2x2 cells (`guidance_pool`) and fewer channels runs at a quarter of the pixels. Trained from
ImageNet it would need a GPU; distilled, it needs minutes: the encoder, fusion and classifier are
the teacher's, frozen and copied unchanged (so the bilinear decoding is identical), and only the new
guidance module learns, with an L1 loss between its offsets and the teacher's, both on the
teacher's offset grid. Frames go through the one frame path at the teacher's inference size, each
also mirrored; the teacher's features are computed once and kept in memory (bfloat16).

    gun distill --checkpoint weights/gun_effnet_camvid.safetensors --dataset camvid --data-root DATA \\
        --pool 2 --channels 16 --out runs/gun_pool2.safetensors
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gun.data import open_dataset
from gun.data.segdata import SegmentationDataset
from gun.nn.checkpoint import CheckpointMeta, load_model, save_checkpoint
from gun.nn.geometry import resample
from gun.nn.model import GUN, build_model
from gun.runtime.frames import prepare, to_tensor


def memory_bytes() -> int:
    """Physical memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def teacher_features(model: GUN, meta: CheckpointMeta, data: SegmentationDataset, count: int,
                     progress: bool = True) -> list[tuple[Tensor, Tensor, Tensor]]:
    """(guide, fused, offsets) of the first `count` images and their mirror images: the guidance
    module's inputs (bfloat16, to halve the memory) and the teacher's offsets (float32). Refuses,
    after the first image, a split whose features would take over half the machine's memory."""
    assert model.guidance is not None
    out: list[tuple[Tensor, Tensor, Tensor]] = []
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(count):
            image = data.load(i)[0]
            if i == 1:
                need, have = count * sum(t.numel() * t.element_size() for item in out for t in item), memory_bytes()
                if have and need > have // 2:
                    raise ValueError(f"the teacher's features of {count} images need about {need / 2**30:.1f} GiB of "
                                     f"{have / 2**30:.0f} GiB: use --limit {max(1, count * have // 2 // need)} or fewer")
            for mirrored in (image, np.ascontiguousarray(image[:, ::-1])):
                prep = prepare(to_tensor(mirrored), meta.mean, meta.std, model.input_multiple, meta.input_size)
                f = model.encode(prep.x)
                assert f.guide is not None  # a multi-branch model: it has guidance
                fused = model.fusion(f.mediums, f.low)
                offsets = model.guidance(f.guide, fused)
                out.append((f.guide.to(torch.bfloat16), fused.to(torch.bfloat16), offsets.float()))
            if progress and ((i + 1) % 50 == 0 or i + 1 == count):
                print(f"teacher features: {i + 1}/{count} images ({time.perf_counter() - started:.0f} s)", flush=True)
    return out


def distill(teacher_path: str | Path, out: str | Path, dataset: str, data_root: str | Path, split: str = "train",
            pool: int = 2, channels: int = 16, epochs: int = 30, lr: float = 3e-3, batch: int = 4, seed: int = 0,
            limit: int | None = None, progress: bool = True, command: str | None = None) -> tuple[CheckpointMeta, float]:
    """Write `out` (float16): the teacher with its guidance module replaced by a distilled one of
    `channels` channels on the guide averaged over `pool` x `pool` cells. Returns its metadata and
    the last epoch's mean L1 distance to the teacher's offsets (low-resolution pixels). `command`
    goes into the metadata (default: this process's command line)."""
    teacher, meta = load_model(teacher_path)
    if teacher.guidance is None:
        raise ValueError(f"{teacher_path}: a bilinear model has no guidance module to distil")
    if meta.config.guidance not in ("fusion", "high-res"):
        raise ValueError(f"{teacher_path}: {meta.config.guidance} guidance has no guide to pool: distil fusion or high-res")
    if epochs < 1 or batch < 1 or not lr > 0:
        raise ValueError("--epochs and --batch must be at least 1 and --lr positive")
    config = replace(meta.config, guidance_pool=pool, guidance_channels=channels)  # validates pool
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    student = build_model(config)
    frozen = {k: v for k, v in teacher.state_dict().items() if not k.startswith("guidance.")}
    missing, unexpected = student.load_state_dict(frozen, strict=False)
    assert not unexpected and all(k.startswith("guidance.") for k in missing)
    teacher.eval()
    student.eval()
    guidance = student.guidance
    assert guidance is not None and teacher.guidance is not None

    data = open_dataset(dataset, data_root, split)
    count = len(data) if limit is None else min(limit, len(data))
    if count == 0:
        raise ValueError(f"{dataset} {split} at {data_root} has no images")
    feats = teacher_features(teacher, meta, data, count, progress)
    placement = guidance.grid.within(teacher.guidance.grid)  # student offsets onto the teacher's grid

    params = list(guidance.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(feats) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    guidance.train()  # BatchNorm learns the student's statistics; the frozen rest stays in eval mode
    loss_sum = 0.0
    for epoch in range(epochs):
        started, loss_sum = time.perf_counter(), 0.0
        order = rng.permutation(len(feats))
        for j in range(0, len(order), batch):
            items = [feats[k] for k in order[j:j + batch]]
            guide, fused = (torch.cat([t[i] for t in items]).float() for i in (0, 1))
            target = torch.cat([t[2] for t in items])
            offsets = resample(guidance(guide, fused), placement, target.shape[-2:])
            loss = (offsets - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(items)
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: L1 to the teacher's offsets {loss_sum / len(feats):.4f} low-res px "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    student.eval()
    meta = replace(meta, config=config, metrics={}, command=command or shlex.join(["gun", *sys.argv[1:]]))
    save_checkpoint(out, student, meta, dtype=torch.float16)
    return meta, loss_sum / len(feats)
