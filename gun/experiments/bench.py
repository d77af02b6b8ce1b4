"""`gun bench`: batch-1 inference speed as the field measures it, GUM against bilinear decoding.

Protocol: model.eval() under torch.inference_mode, `--warmup` untimed runs, then `--runs` timed
runs, each between two device synchronisations (torch.cuda.synchronize on CUDA), reported as the
median (and 90th percentile) in milliseconds; cudnn.benchmark on CUDA; the device's name and, on
CPU, the thread count are reported with the numbers. Precision: float32 runs the model as it is,
bfloat16/float16 run it under autocast. `--fold-bn` folds every BatchNorm into its convolution
first (gun.nn.fold), as deployment runtimes do; `--channels-last` uses NHWC memory format.

What one timed run includes, from an input tensor already on the device (normalised, batch 1) to
the label map on the device:
- gum: the whole network (encoder branches, fusion, classifier, guidance module with its offsets at
  output size), the GUM sampling the low-resolution logits in float32, and the argmax
  (`--gum-mode nearest`: argmax at low resolution, then equation 2 gathers labels).
- bilinear: the same network with the guidance module removed (same weights, a twin built
  without it, so it is not computed), bilinear upsampling of the float32 logits, and the argmax.
Excluded from both: reading and normalising the frame, host-to-device and device-to-host copies,
colouring. With `--decoder both` the two are timed alternately in one loop (the order flips every
iteration), so both see the same machine state; compare them through `ratio_gum_over_bilinear`.
GFLOPs come from gun.nn.profile.count_flops (convolutions and matmuls of one forward).

    gun bench --preset gun --encoder drn_d_22 --size 1024x2048 --device cuda --dtype float16 --decoder both
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gun.nn.checkpoint import load_model
from gun.nn.config import preset
from gun.nn.fold import fold_batchnorm
from gun.nn.gum import guided_upsample, guided_upsample_labels
from gun.nn.layers import channel_argmax, resize
from gun.nn.model import GUN, GUNOutput, build_model
from gun.nn.profile import count_flops
from gun.runtime.device import DTYPES

INCLUDES = {
    "gum": "network incl. guidance module + GUM sampling of float32 logits + argmax",
    "gum-nearest": "network incl. guidance module + low-res argmax + nearest GUM on labels (eq. 2)",
    "bilinear": "same network without the guidance module + bilinear upsampling of float32 logits + argmax",
}
EXCLUDES = "frame reading/normalisation, host<->device copies, colouring"
FOLD_EXAMPLE = (128, 128)  # input size of the one pass that finds the conv-BN pairs


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"{cpu_model()} ({n} thread{'s' if n > 1 else ''})"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def without_guidance(model: GUN) -> GUN:
    """The same network, same weights, built without its guidance module (bilinear decoding)."""
    twin = build_model(replace(model.config, guidance=None))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("guidance.")}
    twin.load_state_dict(state, strict=True)
    return twin


def make_runners(models: dict[str, GUN], x: Tensor, dtype: torch.dtype, gum_mode: str = "bilinear") -> dict[str, Callable[[], Tensor]]:
    """One callable per decoder: input on device -> (1, H, W) label map on device."""
    size = (x.shape[-2], x.shape[-1])
    amp = dtype != torch.float32

    def network(model: GUN) -> GUNOutput:
        with torch.autocast(x.device.type, dtype=dtype, enabled=amp):
            return model(x, full=False)

    def gum() -> Tensor:
        out = network(models["gum"])
        if gum_mode == "nearest":
            return guided_upsample_labels(channel_argmax(out.low_logits), out.offsets.float())
        return channel_argmax(guided_upsample(out.low_logits.float(), out.offsets.float(), "bilinear"))

    def bilinear() -> Tensor:
        out = network(models["bilinear"])
        return channel_argmax(resize(out.low_logits.float(), size))

    runners = {"gum": gum, "bilinear": bilinear}
    return {name: runners[name] for name in models}


def time_alternating(runners: dict[str, Callable[[], Tensor]], warmup: int, runs: int, device: torch.device) -> dict[str, list[float]]:
    """Milliseconds of each run per runner; runners alternate, their order flipping each iteration."""
    names = list(runners)
    times: dict[str, list[float]] = {n: [] for n in names}
    with torch.inference_mode():
        for _ in range(warmup):
            for n in names:
                runners[n]()
        synchronize(device)
        for i in range(runs):
            for n in (names if i % 2 == 0 else names[::-1]):
                synchronize(device)
                t0 = time.perf_counter()
                runners[n]()
                synchronize(device)
                times[n].append(1000 * (time.perf_counter() - t0))
    return times


def summarise(ms: Sequence[float]) -> dict[str, float]:
    median = statistics.median(ms)
    return {"ms_median": median, "ms_p90": float(np.percentile(ms, 90)), "ms_mean": statistics.fmean(ms),
            "ms_min": min(ms), "fps": 1000.0 / median}


def load_bench_model(checkpoint: str | None, preset_name: str | None, encoder: str | None, classes: int | None,
                     scales: Sequence[float] | None) -> tuple[GUN, str]:
    """(model, preset name): from a checkpoint (architecture and weights) or a preset (random weights:
    speed does not depend on them). --scales may re-scale the branches of either."""
    if checkpoint is not None:
        given = [f for f, v in (("--preset", preset_name), ("--encoder", encoder), ("--classes", classes)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: the architecture comes from --checkpoint; drop them (or drop --checkpoint)")
        model, meta = load_model(checkpoint, "cpu")
        if scales is not None:
            rescaled = build_model(replace(model.config, scales=tuple(scales)))
            try:
                rescaled.load_state_dict(model.state_dict(), strict=True)
            except RuntimeError:
                raise ValueError(f"--scales {list(scales)}: this checkpoint's branches do not fit {len(scales)} scales") from None
            model = rescaled
        return model, meta.preset
    name = preset_name or "gun"
    overrides: dict[str, Any] = {"encoder": encoder or "drn_d_22", "num_classes": classes or 19}
    if scales is not None:
        overrides["scales"] = tuple(scales)
    return build_model(preset(name, **overrides)), name


def benchmark(model: GUN, size: tuple[int, int], device: torch.device, dtype: str = "float32",
              decoders: Sequence[str] = ("gum", "bilinear"), warmup: int = 10, runs: int = 50, fold_bn: bool = False,
              channels_last: bool = False, gum_mode: str = "bilinear", name: str = "") -> dict[str, Any]:
    """Time each decoder of `model` at batch 1 and size (H, W); returns the report `gun bench` writes."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if warmup < 0 or runs < 1:
        raise ValueError(f"need --warmup >= 0 and --runs >= 1, got {warmup} and {runs}")
    if gum_mode not in ("bilinear", "nearest"):
        raise ValueError(f"unknown GUM mode {gum_mode!r}: choose bilinear or nearest")
    if "gum" in decoders and model.guidance is None:
        raise ValueError("this model has no guidance module, so no GUM decoder: use --decoder bilinear")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = model.eval()
    variants: dict[str, GUN] = {}
    folded: dict[str, int] = {}  # BatchNorm layers folded per variant
    for d in decoders:
        m = (model if d == "gum" else without_guidance(model)).eval().to(device)
        if fold_bn:
            m, folded[d] = fold_batchnorm(m, torch.randn(1, 3, *FOLD_EXAMPLE, device=device))
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
        variants[d] = m
    x = torch.randn(1, 3, *size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    times = time_alternating(make_runners(variants, x, DTYPES[dtype], gum_mode), warmup, runs, device)

    report: dict[str, Any] = {
        "device": device_name(device),
        "device_type": device.type,
        "dtype": dtype,
        "autocast": dtype != "float32",
        "size": list(size),
        "batch": 1,
        "preset": name,
        "encoder": model.config.encoder,
        "scales": list(model.config.scales),
        "classes": model.config.num_classes,
        "gflops": count_flops(model.config, size) / 1e9,
        "folded_bn": fold_bn,
        "bn_layers_folded": folded,
        "channels_last": channels_last,
        "threads": torch.get_num_threads(),
        "cudnn_benchmark": device.type == "cuda",
        "warmup": warmup,
        "runs": runs,
        "gum_mode": gum_mode,
        "excludes": EXCLUDES,
        "torch": torch.__version__,
    }
    for d in decoders:
        cfg = model.config if d == "gum" else replace(model.config, guidance=None)
        includes = INCLUDES["gum-nearest" if d == "gum" and gum_mode == "nearest" else d]
        report[d] = {**summarise(times[d]), "gflops": count_flops(cfg, size) / 1e9, "includes": includes, "ms_all": times[d]}
    if "gum" in decoders and "bilinear" in decoders:
        report["ratio_gum_over_bilinear"] = report["gum"]["ms_median"] / report["bilinear"]["ms_median"]
    return report


def format_table(report: dict[str, Any]) -> str:
    decoders = [d for d in ("gum", "bilinear") if d in report]
    h, w = report["size"]
    yes_no = {True: "yes", False: "no"}
    setting = (f"{report['device']}, {report['dtype']}, batch 1 at {h}x{w}, BN folded: {yes_no[report['folded_bn']]}, "
               f"channels_last: {yes_no[report['channels_last']]}, {report['runs']} runs after {report['warmup']} warm-up")
    lines = [setting,
             f"{'decoder':<10}{'median ms':>11}{'p90 ms':>9}{'FPS':>9}{'GFLOPs':>9}  includes"]
    for d in decoders:
        r = report[d]
        lines.append(f"{d:<10}{r['ms_median']:>11.2f}{r['ms_p90']:>9.2f}{r['fps']:>9.1f}{r['gflops']:>9.2f}  {r['includes']}")
    if "ratio_gum_over_bilinear" in report:
        lines.append(f"GUM / bilinear time: {report['ratio_gum_over_bilinear']:.3f} (measured alternately in one run)")
    lines.append(f"excluded: {report['excludes']}")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str | Path) -> None:
    """Bar chart of the median time per decoder, whiskers to the 90th percentile, FPS on the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decoders = [d for d in ("gum", "bilinear") if d in report]
    med = [report[d]["ms_median"] for d in decoders]
    p90 = [report[d]["ms_p90"] for d in decoders]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    bars = ax.bar(["GUM" if d == "gum" else "bilinear" for d in decoders], med, color=["tab:blue", "tab:orange"][: len(decoders)],
                  yerr=[[0] * len(med), [p - m for p, m in zip(p90, med)]], capsize=6)
    for bar, d in zip(bars, decoders):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() / 2, f"{report[d]['ms_median']:.1f} ms\n{report[d]['fps']:.1f} FPS",
                ha="center", va="center", color="white", fontsize=10, fontweight="bold")
    h, w = report["size"]
    ax.set_ylabel("time per frame (ms, median; whisker = p90)")
    ax.set_title(f"{report['preset'] or 'model'} {report['encoder']} at {h}x{w}, {report['dtype']}"
                 f"{', BN folded' if report['folded_bn'] else ''}\n{report['device']}", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
