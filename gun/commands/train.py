"""`gun train`: train a preset on Cityscapes or CamVid (one process, or many under torchrun)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from gun.nn.config import ENCODERS, PRESETS

    p = sub.add_parser("train", help="train a preset (torchrun --nproc_per_node=N for several GPUs)")
    p.add_argument("--preset", choices=list(PRESETS), default="gun")
    p.add_argument("--encoder", choices=ENCODERS, default="drn_d_22")
    p.add_argument("--dataset", choices=("cityscapes", "camvid"), default="cityscapes")
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, help="run folder: checkpoints, history.json, train_state.pt")
    p.add_argument("--epochs", type=int, default=250)
    p.add_argument("--batch-size", type=int, default=8, help="global batch (split over processes)")
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", choices=("step", "poly"), default="step")
    p.add_argument("--lr-step", type=int, default=100, help="epochs between x0.1 steps (schedule step)")
    p.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), default=(896, 896))
    p.add_argument("--scales", type=float, nargs="+", help="branch input scales, largest first (default: the preset's)")
    p.add_argument("--guidance-channels", type=int, help="width of the guidance module's hidden maps (default: the preset's, 32)")
    p.add_argument("--guidance-pool", type=int, choices=(1, 2, 4),
                   help="average the guide over N x N cells before the guidance module (default 1, the paper's)")
    p.add_argument("--guidance-subpixel", action="store_true",
                   help="with --guidance-pool 2 or 4: read each cell's guide pixels whole and predict an offset for each")
    p.add_argument("--no-random-scale", action="store_true")
    p.add_argument("--scale-min", type=float, default=0.5)
    p.add_argument("--scale-max", type=float, default=2.0)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--color-jitter", type=float, default=0.0, help="brightness/saturation/contrast strength (0 = off)")
    p.add_argument("--lighting", type=float, default=0.0, help="PCA lighting noise sigma (paper: 0.1; 0 = off)")
    p.add_argument("--encoder-weights", default="imagenet",
                   help="'imagenet' (Lite0: from its pip package), a .pth file (DRN: drn_d_22-4bd2f8ea.pth), or 'none'")
    p.add_argument("--init", help="start from this gun checkpoint (every tensor of the same name and shape), e.g. an earlier release")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--val-every", type=int, default=1, help="epochs between validations (0 = never)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-scale", type=float, default=1.0,
                   help="see frames at this multiple of the dataset's native size (training scales and inference size)")
    p.add_argument("--class-weights", choices=("none", "median-freq", "sqrt-median-freq"), default="none",
                   help="weight the loss by class frequency in the training labels")
    p.add_argument("--aux-bilinear", type=float, default=0.0,
                   help="GUN: add this x the loss of its logits decoded bilinearly (keeps the offsets from shifting the whole map)")
    p.add_argument("--offset-l1", type=float, default=0.0, help="GUN: add this x the mean |offset| (low-resolution pixels)")
    p.add_argument("--offset-mean", type=float, default=0.0,
                   help="GUN: add this x the length of each image's mean offset (no global shift: offsets steer pixels)")
    p.add_argument("--offset-far", type=float, default=0.0,
                   help="GUN: add this x the mean |offset| of pixels more than a low-resolution cell from any label change")
    p.add_argument("--edge-weight", type=float, default=0.0,
                   help="pixels within --edge-px of a label change count 1 + this in the cross-entropy (thin objects, edges)")
    p.add_argument("--edge-px", type=int, default=3, help="distance for --edge-weight, in training pixels (default 3)")
    p.add_argument("--lovasz", type=float, default=0.0,
                   help="add this x the Lovasz-softmax loss (a surrogate of 1 - IoU: helps thin classes)")
    p.add_argument("--cache", choices=("auto", "yes", "no"), default="auto",
                   help="decode the training split once into memory (auto: when it fits in 2 GiB)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    p.add_argument("--save-every", type=int, default=1, help="epochs between saves of last.safetensors and the resume state")
    p.add_argument("--max-steps", type=int, help="cap steps per epoch (smoke runs)")
    p.add_argument("--minutes", type=float, help="wall-clock budget: after epoch 2, train only the epochs that fit "
                   "(at most --epochs), the schedule fitted to them")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gun.experiments.train import TrainOptions, train

    opts = TrainOptions(
        preset=args.preset, encoder=args.encoder, dataset=args.dataset, data_root=args.data_root, out=args.out,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
        weight_decay=args.weight_decay, schedule=args.schedule, lr_step=args.lr_step, crop=tuple(args.crop),
        scales=tuple(args.scales) if args.scales else None, guidance_channels=args.guidance_channels,
        guidance_pool=args.guidance_pool, guidance_subpixel=args.guidance_subpixel,
        random_scale=None if args.no_random_scale else (args.scale_min, args.scale_max), flip=not args.no_flip,
        color_jitter=args.color_jitter, lighting=args.lighting,
        encoder_weights=None if args.encoder_weights == "none" else args.encoder_weights,
        train_split=args.train_split, val_split=args.val_split, val_every=args.val_every, workers=args.workers,
        precision=args.precision, seed=args.seed, resume=args.resume, save_every=args.save_every, max_steps_per_epoch=args.max_steps, minutes=args.minutes,
        init=args.init, input_scale=args.input_scale, class_weights=args.class_weights, aux_bilinear=args.aux_bilinear, offset_l1=args.offset_l1, offset_mean=args.offset_mean, offset_far=args.offset_far, lovasz=args.lovasz, edge_weight=args.edge_weight, edge_px=args.edge_px, cache=args.cache,
        progress=not args.no_progress,
    )
    train(opts)
    return 0
