"""Training: the paper's recipe by default, one process or many (torchrun), exact resume.

Defaults follow section 3.1: SGD with momentum 0.9, lr 0.001, x0.1 every 100 epochs, batch 8, random
scale in [0.5, 2], plus DRN's weight decay 1e-4 (on convolution weights; BatchNorm parameters and
biases are not decayed, the common practice for small networks), random crop and flips. Each epoch writes
`last.safetensors`, `best.safetensors` (by validation mIoU) and `train_state.pt` (optimiser,
schedule, RNG, history), from which `--resume` continues exactly where the run stopped.

Multi-GPU: `torchrun --nproc_per_node=N -m gun.cli train ...` runs DistributedDataParallel with
SyncBatchNorm (NCCL); on CPUs the same path runs on gloo with plain BatchNorm (PyTorch's
SyncBatchNorm needs a GPU). --batch-size is the global batch, split over the processes.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from gun.data import open_dataset
from gun.data.labels import WEIGHTS_LICENCE
from gun.data.segdata import SegmentationDataset, image_tensor
from gun.data.transforms import Augmentation, Compose
from gun.experiments.evaluate import evaluate_confusion
from gun.experiments.losses import training_loss
from gun.experiments.schedule import epochs_in_budget, lr_at
from gun.io.files import atomic_write, atomic_write_text
from gun.metrics.confusion import scores
from gun.nn.checkpoint import CheckpointMeta, read_meta, save_checkpoint
from gun.nn.config import preset
from gun.nn.encoders import normalisation
from gun.nn.model import GUN, build_model
from gun.runtime.frames import normalise


@dataclass
class TrainOptions:
    preset: str = "gun"
    encoder: str = "drn_d_22"
    dataset: str = "cityscapes"
    data_root: str = ""
    out: str = "runs/gun"
    epochs: int = 250
    batch_size: int = 8
    lr: float = 0.001
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "step"  # "step" (x0.1 every lr_step epochs, the paper) or "poly" (power 0.9)
    lr_step: int = 100
    crop: tuple[int, int] = (896, 896)
    scales: tuple[float, ...] | None = None  # branch input scales; None = the preset's
    guidance_channels: int | None = None  # width of the guidance module's hidden maps; None = the preset's
    guidance_pool: int | None = None  # the guide averaged over pool x pool cells first; None = the preset's (1)
    guidance_subpixel: bool = False  # with guidance_pool > 1: each cell read whole, offsets per guide pixel
    random_scale: tuple[float, float] | None = (0.5, 2.0)
    flip: bool = True
    color_jitter: float = 0.0
    lighting: float = 0.0
    encoder_weights: str | None = "imagenet"  # "imagenet", a file, or None (from scratch)
    init: str | None = None  # a gun checkpoint to start from: every tensor of the same name and shape
    train_split: str = "train"
    val_split: str = "val"
    val_every: int = 1
    workers: int = 2
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    seed: int = 0
    # frames are seen at `input_scale` x the dataset's native size, in training (the random scale
    # range is multiplied by it) and at inference (recorded in the checkpoint as its input_size)
    input_scale: float = 1.0
    class_weights: str = "none"  # "none" | "median-freq" | "sqrt-median-freq" (from the training labels)
    aux_bilinear: float = 0.0  # GUN only: weight of the loss of its bilinearly decoded logits
    offset_l1: float = 0.0  # GUN only: weight of the mean |offset|
    offset_mean: float = 0.0  # GUN only: weight of the length of each image's mean offset
    offset_far: float = 0.0  # GUN only: weight of the mean |offset| more than a low-res cell from any label change
    edge_weight: float = 0.0  # cross-entropy pixels within edge_px of a label change count 1 + this
    edge_px: int = 3  # at the training crop's resolution
    lovasz: float = 0.0  # weight of the Lovasz-softmax loss (an IoU surrogate) beside the cross-entropy
    cache: str = "auto"  # decode the training split once into memory: "auto" (if under 2 GiB), "yes", "no"
    resume: bool = False
    save_every: int = 1  # epochs between last.safetensors + train_state.pt (short GPU epochs: saving costs more)
    max_steps_per_epoch: int | None = None  # for smoke runs
    # fit the schedule to a wall-clock budget: after epoch 2, `epochs` becomes the number of epochs
    # that fit (never more than asked), so a time-limited run (a lent GPU) still anneals its rate
    minutes: float | None = None
    progress: bool = True
    command: str = field(default_factory=lambda: shlex.join(["gun", *sys.argv[1:]]))


class EpochAugmented(Dataset):
    """Wraps a dataset so that sample i of epoch e is augmented with RNG seeded by (seed, e, i):
    the same batches come out whatever the number of workers or processes, and after a resume.
    With `preload`, every sample is decoded once, in this process, before any loader worker is
    forked: the workers share those arrays, so the cache hits in every epoch."""

    def __init__(self, base: SegmentationDataset, aug: Augmentation, seed: int, preload: bool = False) -> None:
        self.base, self.aug, self.seed, self.epoch = base, aug, seed, 0
        self.samples = [base.load(i) for i in range(len(base))] if preload else None

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, lab = self.samples[i] if self.samples is not None else self.base.load(i)
        img, lab = Compose(self.aug, seed=[self.seed, self.epoch, i])(img, lab)
        return image_tensor(img), torch.from_numpy(lab).long()


def should_preload(opts: TrainOptions, ds: SegmentationDataset) -> bool:
    if opts.cache not in ("auto", "yes", "no"):
        raise ValueError(f"--cache {opts.cache}: choose auto, yes or no")
    h, w = ds.native_size
    return opts.cache == "yes" or (opts.cache == "auto" and len(ds) * h * w * 4 < 2 << 30)


def class_weights(ds: SegmentationDataset, kind: str) -> torch.Tensor | None:
    """Loss weights from the training labels: median frequency balancing (SegNet), or its square
    root (milder); frequency of a class = its pixels / pixels of the images it appears in."""
    if kind == "none":
        return None
    if kind not in ("median-freq", "sqrt-median-freq"):
        raise ValueError(f"--class-weights {kind}: choose none, median-freq or sqrt-median-freq")
    n = ds.num_classes
    pixels, present = np.zeros(n), np.zeros(n)
    for i in range(len(ds)):
        counts = np.bincount(ds.load(i)[1].ravel(), minlength=256)[:n]
        pixels += counts
        present += (counts > 0) * counts.sum() if counts.sum() else 0
    freq = pixels / np.maximum(present, 1)
    weights = np.where(freq > 0, np.median(freq[freq > 0]) / np.maximum(freq, 1e-12), 0.0)
    if kind == "sqrt-median-freq":
        weights = np.sqrt(weights)
    return torch.tensor(weights, dtype=torch.float32)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank), initialising the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def _precision(opt: str, device: torch.device) -> torch.dtype | None:
    if opt == "fp32":
        return None
    if opt == "bf16":
        return torch.bfloat16
    if opt == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if torch.cpu._is_avx512_bf16_supported() else None


def build_training_model(opts: TrainOptions, num_classes: int) -> GUN:
    overrides: dict[str, object] = {"encoder": opts.encoder, "num_classes": num_classes}
    if opts.scales is not None:
        overrides["scales"] = tuple(opts.scales)
    if opts.guidance_channels is not None:
        overrides["guidance_channels"] = opts.guidance_channels
    if opts.guidance_pool is not None:
        overrides["guidance_pool"] = opts.guidance_pool
    if opts.guidance_subpixel:
        overrides["guidance_subpixel"] = True
    model = build_model(preset(opts.preset, **overrides))
    if opts.encoder_weights == "imagenet":
        if opts.encoder == "drn_d_22":
            raise ValueError("DRN-D-22's ImageNet weights cannot be fetched offline: pass --encoder-weights drn_d_22-4bd2f8ea.pth, or --encoder-weights none to train from scratch")
        model.load_encoder_imagenet()
    elif opts.encoder_weights not in (None, "none"):
        model.load_encoder_imagenet(opts.encoder_weights)
    if opts.init:
        init_from_checkpoint(model, opts.init)
    return model


def init_from_checkpoint(model: GUN, path: str) -> None:
    """Copy every tensor of the same name and shape from a gun checkpoint (a warm start, e.g. from
    an earlier release); the rest keep their initialisation. Prints what was not taken."""
    read_meta(path)  # a gun checkpoint, or a one-line error
    theirs, own = load_file(path), model.state_dict()
    taken = {k: v.to(own[k].dtype) for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    if not taken:
        raise ValueError(f"--init {path}: no tensor matches this model: start from --encoder-weights instead")
    model.load_state_dict(taken, strict=False)
    fresh = sorted(k for k in own if k not in taken)
    print(f"--init {path}: {len(taken)} tensors taken, {len(fresh)} kept from initialisation"
          + (f" ({', '.join(sorted({k.rsplit('.', 2)[0] for k in fresh}))})" if fresh else ""), flush=True)


def input_size(opts: TrainOptions, ds: SegmentationDataset) -> tuple[int, int]:
    h, w = ds.native_size
    return round(h * opts.input_scale), round(w * opts.input_scale)


def make_meta(opts: TrainOptions, model: GUN, ds: SegmentationDataset, metrics: dict) -> CheckpointMeta:
    return CheckpointMeta(
        config=model.config, preset=opts.preset, class_names=ds.class_names, palette=ds.palette,
        mean=model.mean, std=model.std, train_size=ds.native_size, dataset=ds.name,
        input_size=input_size(opts, ds), metrics=metrics, licence=WEIGHTS_LICENCE.get(ds.name, ""), command=opts.command,
    )


def check_options(opts: TrainOptions) -> None:
    """One-line ValueError for an option value no run can use (before any data is read or folder made)."""
    if not opts.input_scale > 0:
        raise ValueError(f"--input-scale must be positive, got {opts.input_scale}")
    if opts.save_every < 1 or (opts.minutes is not None and not opts.minutes > 0):
        raise ValueError(f"--save-every must be at least 1 and --minutes positive, got {opts.save_every} and {opts.minutes}")
    terms = {"--aux-bilinear": opts.aux_bilinear, "--offset-l1": opts.offset_l1, "--offset-mean": opts.offset_mean,
             "--offset-far": opts.offset_far, "--lovasz": opts.lovasz, "--edge-weight": opts.edge_weight}
    bad = [f"{flag} {v}" for flag, v in terms.items() if not v >= 0]  # NaN too
    if bad:
        raise ValueError(f"loss weights must be >= 0, got {', '.join(bad)}")
    if opts.edge_px < 1:
        raise ValueError(f"--edge-px must be at least 1, got {opts.edge_px}")
    if opts.guidance_pool not in (None, 1) and preset(opts.preset).guidance not in ("fusion", "high-res"):
        raise ValueError(f"--guidance-pool averages the guide of fusion or high-res guidance, not of preset {opts.preset}")
    if opts.guidance_subpixel and (opts.guidance_pool in (None, 1) or preset(opts.preset).guidance != "fusion"):
        raise ValueError("--guidance-subpixel needs fusion guidance (preset gun) and --guidance-pool 2 or 4")


def train(opts: TrainOptions) -> dict:
    """Run (or resume) training; returns the history. Only rank 0 writes files."""
    check_options(opts)
    rank, world, local_rank = _distributed()
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    if opts.batch_size % world:
        raise ValueError(f"--batch-size {opts.batch_size} must be divisible by the {world} processes")
    torch.manual_seed(opts.seed)
    random.seed(opts.seed)
    np.random.seed(opts.seed)
    out = Path(opts.out)
    mean, std = normalisation(opts.encoder)
    train_ds = open_dataset(opts.dataset, opts.data_root, opts.train_split)
    val_ds = open_dataset(opts.dataset, opts.data_root, opts.val_split) if opts.val_every else None
    if rank == 0:  # after the data is found: a bad --data-root leaves no empty run folder
        out.mkdir(parents=True, exist_ok=True)
    scale_range = None if opts.random_scale is None else tuple(s * opts.input_scale for s in opts.random_scale)
    aug = Augmentation(crop=tuple(opts.crop), scale=scale_range, flip=opts.flip,  # type: ignore[arg-type]
                       color_jitter=opts.color_jitter, lighting=opts.lighting)
    train_set = EpochAugmented(train_ds, aug, opts.seed, preload=should_preload(opts, train_ds))
    weights = class_weights(train_ds, opts.class_weights)
    weights = None if weights is None else weights.to(device)

    model = build_training_model(opts, train_ds.num_classes).to(device)
    m = model.input_multiple
    if opts.crop[0] % m or opts.crop[1] % m:
        raise ValueError(f"--crop {opts.crop[0]} {opts.crop[1]}: this model needs sides divisible by {m}")
    if world > 1 and device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes memory_format; torch's overloads omit it
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)  # no weight decay on BN and biases
    optimizer = torch.optim.SGD([{"params": decay, "weight_decay": opts.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=opts.lr, momentum=opts.momentum, nesterov=opts.nesterov)
    dtype = _precision(opts.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    start_epoch, history, best = 0, [], -1.0
    state_path = out / "train_state.pt"
    if opts.resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"--resume: no {state_path}; start without --resume")
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start_epoch, history, best = state["epoch"], state["history"], state["best"]
        opts.epochs = state.get("epochs", opts.epochs) if opts.minutes else opts.epochs
        torch.set_rng_state(state["rng"]["torch"])

    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    sampler: DistributedSampler[int] | None = DistributedSampler(train_set, world, rank, shuffle=True, seed=opts.seed, drop_last=True) if world > 1 else None
    per_process = opts.batch_size // world
    if len(train_set) // world < per_process:  # drop_last would leave no step: an untrained model saved as trained
        raise ValueError(f"the {opts.train_split} split has {len(train_set)} frames, fewer than one batch of {opts.batch_size}: "
                         "lower --batch-size")
    started = time.perf_counter()

    epoch, epoch_started = start_epoch, started
    # seconds of the last validation and checkpoint save, and of those in the current epoch: a time
    # budget must pay for the ones every --val-every / --save-every epochs too
    costs = {"val": 0.0, "save": 0.0}
    extras = 0.0
    while epoch < opts.epochs:
        now = time.perf_counter()
        if opts.minutes and epoch == 2 and start_epoch == 0:
            # the first epoch pays for warm-up: time the second (loader start included), and the
            # validation and save that the first one made for this purpose
            plan = [epochs_in_budget(opts, epoch, now - started, now - epoch_started - extras, costs["val"], costs["save"])]
            if world > 1:
                dist.broadcast_object_list(plan, src=0)  # every process stops after the same epoch
            opts.epochs = plan[0]
        epoch_started, extras = now, 0.0
        train_set.epoch = epoch
        lr = lr_at(opts, epoch)
        for g in optimizer.param_groups:
            g["lr"] = lr
        if sampler is not None:
            sampler.set_epoch(epoch)
            order = None
        else:
            order = torch.Generator().manual_seed(opts.seed * 100003 + epoch)
        loader = DataLoader(train_set, batch_size=per_process, sampler=sampler, shuffle=sampler is None, generator=order,
                            num_workers=opts.workers, drop_last=True, persistent_workers=False)
        steps = len(loader) if opts.max_steps_per_epoch is None else min(len(loader), opts.max_steps_per_epoch)
        net.train()
        t0, seen, loss_sum = time.perf_counter(), 0, 0.0
        bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{opts.epochs}", disable=rank != 0 or not opts.progress, dynamic_ncols=True)
        for step, (x, y) in enumerate(loader):
            if step >= steps:
                break
            x = normalise(x.to(device, non_blocking=True), mean, std).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = training_loss(model, net(x), y, weights, opts)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"epoch {epoch + 1}, step {step + 1}: the loss is {loss.item()}; training stopped, "
                                         f"the last good checkpoint is kept in {out}: lower --lr or use --precision fp32")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            seen += x.shape[0] * world
            loss_sum += loss.item()
            rate = seen / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{rate:.1f}", lr=f"{lr:.2e}")
            bar.update()
        bar.close()
        record: dict[str, Any] = {"epoch": epoch + 1, "lr": lr, "loss": loss_sum / max(1, steps), "seconds": time.perf_counter() - t0}

        measure = bool(opts.minutes) and epoch == 0 and start_epoch == 0  # one of each, timed for the budget
        if rank == 0 and val_ds is not None and ((epoch + 1) % opts.val_every == 0 or epoch + 1 == opts.epochs or measure):
            t = time.perf_counter()
            cm = evaluate_confusion(model, val_ds, val_ds.num_classes, ("gum",), device, dtype, opts.progress, desc="val",
                                    input_size=input_size(opts, val_ds))["gum"]
            s = scores(cm)
            record.update(val_miou=s.miou, val_pixel_acc=s.pixel_acc,
                          val_iou={n: float(v) for n, v in zip(val_ds.class_names, s.iou)})
            costs["val"] = time.perf_counter() - t
            extras += costs["val"]
        history.append(record)
        if rank == 0:
            miou = record.get("val_miou", -1.0)
            metrics = {"epoch": epoch + 1, f"{opts.val_split}_miou": miou if miou >= 0 else None}
            meta = make_meta(opts, model, train_ds, metrics)
            if miou > best:
                best = miou
                save_checkpoint(out / "best.safetensors", model, meta)
            if (epoch + 1) % opts.save_every == 0 or epoch + 1 == opts.epochs or measure:
                t = time.perf_counter()
                save_checkpoint(out / "last.safetensors", model, meta)
                _save_state(state_path, model, optimizer, scaler, epoch + 1, history, best, opts.epochs)
                costs["save"] = time.perf_counter() - t
                extras += costs["save"]
            atomic_write_text(out / "history.json", json.dumps({"options": asdict(opts), "history": history}, indent=1))
            msg = f"epoch {epoch + 1}: loss {record['loss']:.4f}, {record['seconds']:.0f} s"
            if "val_miou" in record:
                msg += f", val mIoU {record['val_miou']:.4f} (best {best:.4f})"
            print(msg, flush=True)
        if world > 1:
            dist.barrier()
        epoch += 1
    return {"history": history, "best": best}


def _save_state(path: Path, model: GUN, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                epoch: int, history: list, best: float, epochs: int) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
             "epoch": epoch, "epochs": epochs, "history": history, "best": best, "rng": {"torch": torch.get_rng_state()}}
    atomic_write(path, lambda tmp: torch.save(state, tmp))  # fsync + rename: a kill never leaves half a state
