"""`gun bench`: batch-1 inference speed as the field measures it: GUM against bilinear decoding,
backend against backend, and against the device's own floor.

Protocol: `--warmup` untimed runs, then `--runs` timed runs, each between two device
synchronisations (torch.cuda.synchronize on CUDA), reported as the median (and 90th percentile) in
milliseconds. Every (backend, decoder) pair is timed alternately in one loop (the order flips every
iteration), so all of them see the same machine state. The device's name and, on CPU, the thread
count are reported with the numbers (ONNX Runtime and OpenVINO get the same thread count as torch).

Backends (gun.runtime.backends): torch (eager; `--fold-bn` folds BatchNorm into the convolutions,
`--channels-last` runs NHWC, `--cuda-graphs` replays a captured graph, `--compile` uses
torch.compile: all four for torch only), onnxruntime and openvino (the same ONNX graph, exported
before timing), auto. Precision: float32, bfloat16/float16 (autocast for torch, the inference
precision hint for OpenVINO), or auto (bf16 on a CPU with native bf16, float32 on other CPUs,
float16 on CUDA); each row reports the precision its backend really ran.

What one timed run includes, from a normalised input tensor (batch 1, padded to the model's input
multiple) to the label map at the frame's size:
- gum: the network with its guidance module, the offsets resampled to the frame, and the labels of
  the GUM's bilinear sampling of the float32 logits, as the app computes them (frames.decode_labels:
  on a CPU in label space where the four source cells agree, else argmax of the sampled logits;
  `--gum-mode nearest`: argmax at low resolution, then equation 2 gathers labels).
- bilinear: the same network without the guidance module (a twin with the same weights, so it is
  not computed), and the labels of the bilinear upsampling of the float32 logits, alike.
Excluded: reading, resizing and normalising the frame, colouring. GFLOPs come from
gun.nn.profile.count_flops (convolutions and matmuls of one forward). `--roofline` measures the
device's dense matmul rate in each precision used, in the same run (gun.experiments.roofline), and
reports floor = GFLOPs / rate and each median as a multiple of it.

    gun bench --preset gun --encoder drn_d_22 --size 1024x2048 --device cuda --dtype float16 --channels-last --cuda-graphs --roofline
    gun bench --checkpoint weights/gun_effnet_camvid.safetensors --size 384x480 --device cpu --backend torch onnxruntime openvino --roofline
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gun.experiments.roofline import MatmulRate, floor_ms, matmul_rate
from gun.nn.checkpoint import load_model
from gun.nn.config import GUNConfig, preset
from gun.nn.geometry import IDENTITY
from gun.nn.gum import guided_upsample_labels
from gun.nn.layers import channel_argmax
from gun.nn.model import GUN, GUNOutput, build_model
from gun.nn.profile import count_flops
from gun.runtime.backends import Backend, check_names, create_backend, dtype_name, resolve_backend, resolve_precision
from gun.runtime.backends.hardware import BF16_FLAGS, cpu_flags
from gun.runtime.frames import Prepared, decode_labels, frame_offsets, padded_size

INCLUDES = {
    "gum": "network incl. guidance module + labels of the GUM sampling of float32 logits",
    "gum-nearest": "network incl. guidance module + low-res argmax + nearest GUM on labels (eq. 2)",
    "bilinear": "same network without the guidance module + labels of bilinear upsampling of float32 logits",
}
EXCLUDES = "frame reading, resizing and normalisation, colouring"


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
    # CPUs of one model name differ in what decides bf16 speed (EPYCs with and without AVX-512 both
    # read "AMD EPYC")
    bf16 = next((flag for flag in BF16_FLAGS if flag in cpu_flags()), "no native bf16")
    return f"{cpu_model()} ({n} thread{'s' if n > 1 else ''}, {bf16})"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def unguided(config: GUNConfig) -> GUNConfig:
    """The same architecture without a guidance module (nor its options)."""
    return replace(config, guidance=None, guidance_pool=1, guidance_subpixel=False)


def without_guidance(model: GUN) -> GUN:
    """The same network, same weights, built without its guidance module (bilinear decoding)."""
    twin = build_model(unguided(model.config))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("guidance.")}
    twin.load_state_dict(state, strict=True)
    return twin


def make_runner(backend: Backend, model: GUN, decoder: str, x: Tensor, size: tuple[int, int], gum_mode: str = "bilinear") -> Callable[[], Tensor]:
    """input on device -> (1, H, W) label map at the frame's size, through `backend` and torch decoding."""
    prep = Prepared(x, size, IDENTITY)

    def run() -> Tensor:
        low, offsets = backend.run(x)
        out = GUNOutput(None, low, offsets)
        frame_off = frame_offsets(model, out, prep) if decoder == "gum" and gum_mode == "nearest" else None
        if frame_off is not None:  # None without guidance: the GUM is bilinear then, as decode() does
            return guided_upsample_labels(channel_argmax(low), frame_off, model.logits_grid)
        return decode_labels(model, out, prep, "gum" if decoder == "gum" else "bilinear")

    return run


def time_alternating(runners: Mapping[str, Callable[[], object]], warmup: int, runs: int, device: torch.device) -> dict[str, list[float]]:
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


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of a[i] / b[i], for two runners timed alternately (time_alternating)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


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
              channels_last: bool = False, gum_mode: str = "bilinear", name: str = "", backends: Sequence[str] = ("torch",),
              cuda_graphs: bool = False, compile: bool = False, roofline: bool = False) -> dict[str, Any]:
    """Time every (backend, decoder) of `model` at batch 1 on frames of size (H, W); returns the
    report `gun bench` writes: results[backend][decoder] = timings."""
    if dtype != "auto":
        resolve_precision("torch", device, dtype)  # one-line error for an unknown name
    if warmup < 0 or runs < 1:
        raise ValueError(f"need --warmup >= 0 and --runs >= 1, got {warmup} and {runs}")
    if gum_mode not in ("bilinear", "nearest"):
        raise ValueError(f"unknown GUM mode {gum_mode!r}: choose bilinear or nearest")
    if "gum" in decoders and model.guidance is None:
        raise ValueError("this model has no guidance module, so no GUM decoder: use --decoder bilinear")
    check_names(list(backends))
    concrete = [resolve_backend(b, device, resolve_precision(b, device, dtype)) for b in backends]
    if len(set(concrete)) != len(concrete):
        raise ValueError(f"--backend {' '.join(backends)} names {concrete[0]} twice (auto is {concrete[-1]} here)")
    model = model.eval()
    shape = padded_size(size[0], size[1], model.input_multiple)
    variants = {d: (model if d == "gum" else without_guidance(model).eval()) for d in decoders}
    x = torch.randn(1, 3, *shape, device=device)
    runners: dict[str, Callable[[], Tensor]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for requested, b in zip(backends, concrete):
        for d in decoders:
            backend = create_backend(b, variants[d], device, dtype, fold_bn=fold_bn, channels_last=channels_last,
                                     cuda_graphs=cuda_graphs, compile=compile)
            runners[f"{b}/{d}"] = make_runner(backend, variants[d], d, x, size, gum_mode)
            with torch.inference_mode():
                runners[f"{b}/{d}"]()  # export / compile / capture before timing; then `dtype` is what really runs
            options = getattr(backend, "options", {})
            rows.setdefault(b, {})[d] = {"dtype": dtype_name(backend.dtype), "requested": requested,
                                         "bn_layers_folded": getattr(backend, "folded", 0), **options}
    times = time_alternating(runners, warmup, runs, device)

    rates: dict[str, MatmulRate] = {}
    if roofline:
        for dt in sorted({r["dtype"] for per in rows.values() for r in per.values()}):
            rates[dt] = matmul_rate(device, getattr(torch, dt))
    flops = {d: count_flops(model.config if d == "gum" else unguided(model.config), shape) for d in decoders}
    for b, per in rows.items():
        for d, row in per.items():
            include = INCLUDES["gum-nearest" if d == "gum" and gum_mode == "nearest" else d]
            row.update(summarise(times[f"{b}/{d}"]), gflops=flops[d] / 1e9, includes=include, ms_all=times[f"{b}/{d}"])
            if row["dtype"] in rates:
                row["floor_ms"] = floor_ms(flops[d], rates[row["dtype"]]["tflops"])
                row["multiple_of_floor"] = row["ms_median"] / row["floor_ms"]
    report: dict[str, Any] = {
        "device": device_name(device), "device_type": device.type, "dtype": dtype, "size": list(size),
        "input_shape": list(shape), "batch": 1, "preset": name, "encoder": model.config.encoder,
        "scales": list(model.config.scales), "classes": model.config.num_classes, "gflops": flops[decoders[0]] / 1e9,
        "backends": concrete, "decoders": list(decoders), "results": rows, "folded_bn": fold_bn,
        "channels_last": channels_last, "cuda_graphs": cuda_graphs, "compile": compile, "threads": torch.get_num_threads(),
        "cudnn_benchmark": device.type == "cuda", "warmup": warmup, "runs": runs, "gum_mode": gum_mode,
        "excludes": EXCLUDES, "torch": torch.__version__, "roofline": rates or None,
        "cpu_flags_bf16": sorted(f for f in ("amx_bf16", "avx512_bf16") if f in _flags()),
    }
    if "gum" in decoders and "bilinear" in decoders:
        # the median of each round's ratio: a GUM run and its bilinear run are neighbours in time, so a
        # machine that drifts (shared hosts swing by a quarter within a minute) cancels out of each pair
        report["ratio_gum_over_bilinear"] = {b: paired_ratio(per["gum"]["ms_all"], per["bilinear"]["ms_all"]) for b, per in rows.items()}
    return report


def _flags() -> frozenset[str]:
    from gun.runtime.backends.hardware import cpu_flags

    return cpu_flags()


def format_table(report: dict[str, Any]) -> str:
    h, w = report["size"]
    yes_no = {True: "yes", False: "no"}
    setting = (f"{report['device']}, batch 1 at {h}x{w} (input {report['input_shape'][0]}x{report['input_shape'][1]}), "
               f"torch options: BN folded {yes_no[report['folded_bn']]}, channels_last {yes_no[report['channels_last']]}, "
               f"CUDA graphs {yes_no[report['cuda_graphs']]}, compile {yes_no[report['compile']]}; "
               f"{report['runs']} runs after {report['warmup']} warm-up, alternating")
    header = f"{'backend':<12}{'decoder':<10}{'dtype':<10}{'median ms':>10}{'p90 ms':>9}{'FPS':>9}{'GFLOPs':>8}{'floor ms':>10}{'x floor':>9}"
    lines = [setting, header]
    for b, per in report["results"].items():
        for d, r in per.items():
            floor = f"{r['floor_ms']:>10.2f}{r['multiple_of_floor']:>9.1f}" if "floor_ms" in r else f"{'-':>10}{'-':>9}"
            lines.append(f"{b:<12}{d:<10}{r['dtype']:<10}{r['ms_median']:>10.2f}{r['ms_p90']:>9.2f}{r['fps']:>9.1f}{r['gflops']:>8.2f}{floor}")
    for b, ratio in (report.get("ratio_gum_over_bilinear") or {}).items():
        lines.append(f"GUM / bilinear time ({b}): {ratio:.3f} (median of the per-round ratios, timed alternately in one run)")
    for dt, rate in (report.get("roofline") or {}).items():
        lines.append(f"matmul rate {dt}: {rate['tflops']:.3f} TFLOP/s ({rate['n']}^3, best of 5, this run)")
    lines.append(f"excluded: {report['excludes']}")
    return "\n".join(lines)


def markdown_rows(report: dict[str, Any], command: str, paper: str = "") -> list[str]:
    """README speed-table rows: device | backend | dtype | input | decoder | median ms | FPS | x floor | paper | command."""
    h, w = report["size"]
    out = []
    for b, per in report["results"].items():
        for d, r in per.items():
            floor = f"{r['multiple_of_floor']:.1f}" if "multiple_of_floor" in r else "-"
            out.append(f"| {report['device']} | {b} | {r['dtype']} | {h}x{w} | {'GUM' if d == 'gum' else 'bilinear'} | "
                       f"{r['ms_median']:.1f} | {r['fps']:.1f} | {floor} | {paper} | `{command}` |")
    return out
