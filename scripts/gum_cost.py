"""Where the GUM's extra time goes on a CPU: the network with and without its guidance module
(OpenVINO in the precision `auto` picks: bf16 on a CPU with native bf16, else float32; timed
alternately), the offsets' resampling to the frame, and the labels of
each decoder (gun.nn.sampled_labels), for the shipped model at its inference size.

    python scripts/gum_cost.py [CHECKPOINT]   # default: the shipped GUN; nothing else may run
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gun.experiments.bench import paired_ratio, time_alternating, without_guidance
from gun.experiments.export import smooth_frame
from gun.nn.checkpoint import load_model
from gun.nn.geometry import IDENTITY
from gun.nn.layers import channel_argmax
from gun.nn.model import GUNOutput
from gun.nn.sampled_labels import agreed_labels
from gun.runtime.backends import create_backend
from gun.runtime.frames import Prepared, decode_labels, frame_offsets, padded_size

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "gun_effnet_camvid.safetensors"


def median_ms(f: Callable[[], object], runs: int = 15) -> float:
    return statistics.median(time_alternating({"f": f}, 1, runs, torch.device("cpu"))["f"])


def main() -> None:
    model, meta = load_model(sys.argv[1] if len(sys.argv) > 1 else WEIGHTS)
    H, W = meta.input_size or (540, 720)
    x = smooth_frame(padded_size(H, W, model.input_multiple))
    prep = Prepared(x, (H, W), IDENTITY)
    cpu = torch.device("cpu")
    gum_net = create_backend("openvino", model, cpu, "auto")
    plain_net = create_backend("openvino", without_guidance(model).eval(), cpu, "auto")
    with torch.inference_mode():
        low, offsets = gum_net.run(x)
        plain_low, _ = plain_net.run(x)
        gum_out, plain_out = GUNOutput(None, low, offsets), GUNOutput(None, plain_low, None)
        frame_off = frame_offsets(model, gum_out, prep)
        times = time_alternating({"gum": lambda: gum_net.run(x), "bilinear": lambda: plain_net.run(x)}, 1, 20, cpu)
        g, b = statistics.median(times["gum"]), statistics.median(times["bilinear"])
        print(f"network (OpenVINO {gum_net.dtype}, alternating): with guidance {g:.1f} ms, without {b:.1f} ms, "
              f"ratio {paired_ratio(times['gum'], times['bilinear']):.3f} (median of per-round ratios)")
        print(f"offsets resampled to {H}x{W}: {median_ms(lambda: frame_offsets(model, gum_out, prep)):.2f} ms")
        print(f"GUM labels: {median_ms(lambda: decode_labels(model, gum_out, prep, 'gum', frame_off)):.2f} ms, "
              f"bilinear labels: {median_ms(lambda: decode_labels(model, plain_out, prep, 'bilinear')):.2f} ms")
        agreed = float((agreed_labels(channel_argmax(low)) >= 0).float().mean())
        print(f"low-resolution cells whose 2x2 square agrees on a label: {agreed:.1%} (the rest read all channels)")


if __name__ == "__main__":
    main()
