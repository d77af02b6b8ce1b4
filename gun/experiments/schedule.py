"""The training schedule: the learning rate of each epoch, and how many epochs fit a time budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gun.experiments.train import TrainOptions


def lr_at(opts: TrainOptions, epoch: int) -> float:
    """The paper's schedules: "poly" (power 0.9 to zero at opts.epochs) or "step" (x0.1 every lr_step)."""
    if opts.schedule == "poly":
        return opts.lr * (1 - epoch / opts.epochs) ** 0.9
    return opts.lr * 0.1 ** (epoch // opts.lr_step)


def epochs_in_budget(opts: TrainOptions, done: int, elapsed: float, last_epoch: float,
                     val_seconds: float = 0.0, save_seconds: float = 0.0) -> int:
    """How many epochs in all fit in `opts.minutes`, given `done` epochs in `elapsed` seconds, the
    last one's training seconds, and what one validation and one checkpoint save take: each epoch
    pays its share of those (one every --val-every / --save-every epochs) and the last epoch pays
    both (10% margin on the rest). At least one more epoch (it validates and anneals), never more
    than asked."""
    assert opts.minutes is not None
    per_epoch = last_epoch + (val_seconds / opts.val_every if opts.val_every else 0.0) + save_seconds / opts.save_every
    left = opts.minutes * 60 - elapsed - val_seconds - save_seconds
    more = int(left / (per_epoch * 1.1))
    epochs = min(opts.epochs, done + max(1, more))
    print(f"--minutes {opts.minutes:g}: {per_epoch:.1f} s per epoch (validation {val_seconds:.1f} s, save {save_seconds:.1f} s), "
          f"{epochs} epochs in all", flush=True)
    return epochs
