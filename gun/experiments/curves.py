"""`gun curves`: learning curves (training loss, validation mIoU) of one or more runs, as a PNG."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(runs: list[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        path = run / "history.json" if run.is_dir() else run
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no history.json (pass a run folder written by gun train)")
        history = json.loads(path.read_text())["history"]
        label = path.parent.name
        ax_loss.plot([h["epoch"] for h in history], [h["loss"] for h in history], label=label)
        val = [h for h in history if h.get("val_miou") is not None]
        ax_miou.plot([h["epoch"] for h in val], [h["val_miou"] for h in val], marker="o", ms=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="Training loss")
    ax_miou.set(xlabel="epoch", ylabel="validation mIoU", title="Validation mIoU")
    for ax in (ax_loss, ax_miou):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
