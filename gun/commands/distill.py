"""`gun distill`: a cheaper guidance module (pooled guide, fewer channels) taught a trained GUN's offsets
(and, with --task, the labels)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="replace a GUN's guidance module by a cheaper one taught its offsets")
    p.add_argument("--checkpoint", required=True, help="the teacher: a GUN with fusion or high-res guidance")
    p.add_argument("--dataset", choices=("cityscapes", "camvid"), required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True, help="the student (.safetensors, float16)")
    p.add_argument("--pool", type=int, choices=(1, 2, 4), default=2,
                   help="average the guide over pool x pool cells first (2: a quarter of the pixels)")
    p.add_argument("--subpixel", action="store_true",
                   help="with --pool 2 or 4: read each cell's guide pixels whole (a strided convolution) and write "
                        "offsets for each of them (the guide's stride) rather than averaging the guide")
    p.add_argument("--channels", type=int, default=16, help="width of the student's hidden maps (default 16)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--l1", type=float, default=1.0, help="weight of the L1 distance to the teacher's offsets")
    p.add_argument("--task", type=float, default=0.0,
                   help="weight of the training loss of the student's GUM decoding against the labels (0: distil only)")
    p.add_argument("--class-weights", choices=("none", "median-freq", "sqrt-median-freq"), default="none",
                   help="task loss: as gun train's")
    p.add_argument("--lovasz", type=float, default=0.0, help="task loss: as gun train's")
    p.add_argument("--offset-far", type=float, default=0.0, help="task loss: as gun train's")
    p.add_argument("--offset-mean", type=float, default=0.0,
                   help="task loss: as gun train's (each image's mean offset: a translation of the whole map)")
    p.add_argument("--edge-weight", type=float, default=0.0, help="task loss: as gun train's")
    p.add_argument("--head", action="store_true",
                   help="the classifier learns too (with --task); a bilinear model: its classifier alone (with --l1 0)")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0],
                   help="see each train frame at these multiples of the model's inference size (default 1)")
    p.add_argument("--init", help="start the guidance module from this student's (same pool and channels)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where the teacher's features are kept and the module trains (default: cuda when available)")
    p.add_argument("--limit", type=int, help="use the first N images of the split (smoke runs)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shlex

    from gun.experiments.distill import distill
    from gun.experiments.train import TrainOptions

    if not 1 <= args.channels <= 4096:
        raise ValueError(f"--channels must be 1..4096, got {args.channels}")
    if args.subpixel and args.pool == 1:
        raise ValueError("--subpixel writes the offsets of each pool x pool cell's pixels: use it with --pool 2 or 4")
    # the command that made the file, for its metadata (every option spelt out, so it reruns as it ran)
    words = ["gun", "distill", "--checkpoint", args.checkpoint, "--dataset", args.dataset, "--data-root", args.data_root,
             "--split", args.split, "--pool", args.pool, *(["--subpixel"] if args.subpixel else []), "--channels", args.channels, "--epochs", args.epochs, "--lr", args.lr,
             "--batch", args.batch, "--seed", args.seed, "--l1", args.l1, "--task", args.task,
             *(["--class-weights", args.class_weights, "--lovasz", args.lovasz, "--offset-far", args.offset_far,
                *(["--offset-mean", args.offset_mean] if args.offset_mean else []), "--edge-weight", args.edge_weight] if args.task else []),
             *(["--head"] if args.head else []), *(["--scales", *args.scales] if args.scales != [1.0] else []),
             *(["--init", args.init] if args.init else []), *(["--limit", args.limit] if args.limit else []), "--out", args.out]
    loss = TrainOptions(class_weights=args.class_weights, lovasz=args.lovasz, offset_far=args.offset_far,
                        offset_mean=args.offset_mean, edge_weight=args.edge_weight, command="")
    meta, l1 = distill(args.checkpoint, args.out, args.dataset, args.data_root, args.split, args.pool, args.channels,
                       args.epochs, args.lr, args.batch, args.seed, args.limit, not args.no_progress,
                       command=shlex.join(map(str, words)), l1=args.l1, task=args.task, loss=loss, init=args.init, device=args.device,
                       head=args.head, scales=tuple(args.scales), subpixel=args.subpixel)
    if meta.config.guidance is None:
        print(f"wrote {args.out} (float16; its classifier fine-tuned)")
    else:
        print(f"wrote {args.out} (float16; guidance pool {meta.config.guidance_pool}{' subpixel' if args.subpixel else ''}, "
              f"{meta.config.guidance_channels} channels"
              f"{', the classifier fine-tuned' if args.head else ''}; last epoch's L1 to the teacher's offsets {l1:.4f} low-res px)")
    return 0
