"""`gun export`: a model as an ONNX graph (opset >= 17, the GUM as GridSample), checked against
PyTorch with ONNX Runtime before it is written.

    gun export --checkpoint weights/gun_effnet_camvid.safetensors --out gun.onnx
    gun export --preset all --encoder all --size 256x512 --out onnx/        # every architecture

The graph takes one normalised frame (1, 3, H, W), H and W multiples of the model's input multiple
(the size is rounded up to one, as gun.runtime.frames pads frames), and gives, with --head labels,
the GUM-decoded (or bilinear, without guidance) label map (1, H, W) at the input's size; with
--head network the low-resolution logits and offsets the backends use. The check runs ONNX Runtime
in float32 on a smooth random frame and requires the labels (of the low-resolution logits, for
--head network) to equal PyTorch's on at least 99.9% of the pixels; otherwise nothing is written.
Class names, mean and std go into the graph's metadata.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gun.io.files import atomic_write
from gun.nn.model import GUN
from gun.runtime.backends.onnx_export import HEADS, OPSET, Head, export_onnx
from gun.runtime.frames import padded_size

MIN_AGREEMENT = 0.999


def smooth_frame(shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """A normalised-looking input (1, 3, H, W): random colours at 1/16 resolution, upsampled, so the
    network sees regions and edges rather than white noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, 3, max(1, shape[0] // 16), max(1, shape[1] // 16), generator=g)
    return F.interpolate(coarse, size=shape, mode="bilinear", align_corners=False) * 1.5


def reference_labels(model: GUN, x: torch.Tensor, head: Head) -> np.ndarray:
    """PyTorch's labels for the check: decoded at the input's size, or of the low-resolution logits."""
    with torch.inference_mode():
        out = model.cpu().eval()(x, full=head == "labels")
        logits = out.logits if head == "labels" else out.low_logits
    return logits.argmax(1).numpy()


def check_with_onnxruntime(data: bytes, model: GUN, x: torch.Tensor, head: Head) -> dict[str, Any]:
    """Run the graph with ONNX Runtime (CPU, float32) and compare its labels with PyTorch's."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    outs = session.run(None, {"x": x.numpy()})
    ours = outs[0] if head == "labels" else outs[0].argmax(1)
    theirs = reference_labels(model, x, head)
    if ours.shape != theirs.shape:
        raise ValueError(f"ONNX Runtime gave labels of shape {ours.shape}, PyTorch {theirs.shape}")
    return {"runtime": f"onnxruntime {ort.__version__}", "agreement": float((ours == theirs).mean()), "pixels": int(theirs.size)}


def with_metadata(data: bytes, props: dict[str, str]) -> bytes:
    import onnx

    graph = onnx.load_from_string(data)
    for k, v in props.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = k, v
    return graph.SerializeToString()


def export_model(model: GUN, size: tuple[int, int], path: str | Path | None, head: Head = "labels", opset: int = OPSET,
                 check: bool = True, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export `model` for frames of `size` (rounded up to the input multiple), check it, write it
    atomically to `path` (None: check only). Returns the report; raises ValueError (nothing written)
    when the check fails."""
    import onnx

    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}: choose one of {', '.join(HEADS)}")
    shape = padded_size(size[0], size[1], model.input_multiple)
    t0 = time.perf_counter()
    data = export_onnx(model, shape, head, opset)
    seconds = time.perf_counter() - t0
    cfg = model.config
    info = dict(info or {})
    props = {"gun_head": head, "gun_input_shape": f"{shape[0]}x{shape[1]}", "gun_mean": json.dumps(list(model.mean)),
             "gun_std": json.dumps(list(model.std)), "gun_config": repr(cfg),
             **{f"gun_{k}": (v if isinstance(v, str) else json.dumps(v)) for k, v in info.items()}}
    data = with_metadata(data, props)
    ops = sorted({n.op_type for n in onnx.load_from_string(data).graph.node})
    report: dict[str, Any] = {"path": str(path) if path is not None else None, "head": head, "opset": opset,
                              "input_shape": [1, 3, *shape], "frame_size": list(size), "encoder": cfg.encoder,
                              "scales": list(cfg.scales), "guidance": cfg.guidance, "export_s": seconds,
                              "bytes": len(data), "ops": ops, "grid_sample": "GridSample" in ops, **info}
    if check:
        result = check_with_onnxruntime(data, model, smooth_frame(shape), head)
        report["check"] = result
        if result["agreement"] < MIN_AGREEMENT:
            raise ValueError(f"the ONNX graph's labels equal PyTorch's on only {100 * result['agreement']:.3f}% of the pixels "
                             f"(need {100 * MIN_AGREEMENT:.1f}%): not written")
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    return report


def format_report(report: dict[str, Any]) -> str:
    h = report["input_shape"]
    check = report.get("check")
    verdict = f", labels equal to PyTorch on {100 * check['agreement']:.3f}% of {check['pixels']} pixels" if check else ""
    where = report["path"] or "(not written)"
    name = report.get("preset") or "model"
    return (f"{name} {report['encoder']} scales {report['scales']}: {where} ({report['bytes'] / 1e6:.1f} MB, opset {report['opset']}, "
            f"input {h[2]}x{h[3]}, head {report['head']}, GridSample: {'yes' if report['grid_sample'] else 'no'}, "
            f"exported in {report['export_s']:.1f} s{verdict})")
