"""Segmenter: a loaded model plus its pre- and post-processing, timed stage by stage.

    seg = Segmenter.from_checkpoint("weights/gun_effnet_camvid.safetensors", device="auto")
    result = seg(rgb_frame)          # gun.runtime.result.FrameResult of numpy arrays
    result.labels_gum, result.labels_bilinear, result.offsets, result.timings
    result = seg.decode(seg.infer(rgb_frame), bilinear=False)   # the same in two steps, GUM labels only

Resolution: frames go through gun.runtime.frames, exactly as in `gun eval`: resized to the checkpoint's
input size (its area, the frame's aspect ratio), normalised, padded to the model's input multiple;
the GUM then decodes straight onto the frame's own pixels, so every map comes back at the frame's
size, aligned with it. `input_size` overrides the checkpoint's (None there = the frame's own size).

Both decoders come from one encoder pass: the backend (gun.runtime.backends: torch, onnxruntime,
openvino; "auto" = the fastest installed for the device) gives the low-resolution logits and the
offsets, which are then upsampled twice in torch, by the GUM and bilinearly, to labels
(gun.nn.sampled_labels: label space except near boundaries; exactly argmax of the upsampled logits);
on a CPU with a core to spare, a helper thread takes a share of that. Backend, device and
precision switch at run time: `seg.to(device, dtype, backend)`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from gun.nn.checkpoint import CheckpointMeta, load_model
from gun.nn.gum import guided_upsample_labels
from gun.nn.layers import channel_argmax
from gun.nn.model import GUN, GUNOutput
from gun.runtime.backends import Backend, check_names, create_backend, dtype_name
from gun.runtime.device import resolve_device
from gun.runtime.frames import Prepared, decode, decode_labels, frame_offsets, prepare, resolve_input_size, to_tensor
from gun.runtime.result import FrameResult

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
GumMode = Literal["bilinear", "nearest"]


class Segmenter:
    """A model ready for frames: `seg(rgb) -> FrameResult`.

    backend: "auto" (default: OpenVINO or ONNX Runtime on a CPU, eager torch with fp16 and CUDA
    graphs on CUDA), "torch", "onnxruntime" or "openvino". dtype: "auto" (bf16 on a CPU with
    native bf16, float32 on other CPUs, float16 on CUDA), float32, bfloat16 or float16; the
    upsampling decoders always run in float32. `self.dtype` is what the network really runs in.
    gum_mode "bilinear" decodes like training did (equation 4 on the logits, then argmax);
    "nearest" (equation 2) gathers labels at low resolution, C times fewer bytes, slightly different.
    """

    def __init__(self, model: GUN, meta: CheckpointMeta, device: str | torch.device = "auto",
                 dtype: str | torch.dtype = "auto", gum_mode: GumMode = "bilinear",
                 path: str | Path | None = None, input_size: tuple[int, int] | str | None = None,
                 backend: str = "auto") -> None:
        if gum_mode not in ("bilinear", "nearest"):
            raise ValueError(f"unknown GUM mode {gum_mode!r}: choose bilinear or nearest")
        self.meta = meta
        self.input_size = resolve_input_size(meta.input_size, input_size)  # None: each frame's own size
        self.path = Path(path) if path is not None else None
        self.gum_mode = gum_mode
        self.model = model.eval()
        self._requested: tuple[str, str | torch.dtype] = (backend, dtype)
        self.backend: Backend
        self.device = torch.device("cpu")
        self._helper: ThreadPoolExecutor | None = None  # takes a share of the decoding (CPU): decode()
        self.to(device, dtype, backend)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto",
                        dtype: str | torch.dtype = "auto", gum_mode: GumMode = "bilinear",
                        input_size: tuple[int, int] | str | None = None, backend: str = "auto") -> Segmenter:
        """Load a checkpoint (raises gun.nn.checkpoint.CheckpointError for a bad file)."""
        device = resolve_device(device)
        model, meta = load_model(path, device=device)
        return cls(model, meta, device, dtype, gum_mode, path, input_size, backend)

    def to(self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
           backend: str | None = None) -> Segmenter:
        """Switch device, precision and/or backend (the app does at run time); None keeps the
        current choice. On an error (one line, ValueError/RuntimeError) nothing changes."""
        name = backend if backend is not None else self._requested[0]
        check_names([name])
        precision = dtype if dtype is not None else self._requested[1]
        target = resolve_device(device) if device is not None else self.device
        cuda = target.type == "cuda"
        # on CUDA: BN folded, channels-last, and CUDA graphs when every frame has one input size
        built = create_backend(name, self.model, target, precision, fold_bn=cuda, channels_last=cuda,
                               cuda_graphs=cuda and self.input_size is not None)
        self.backend, self.device, self._requested = built, target, (name, precision)
        self.model.to(target)  # the decoders' grids and the torch backend live on the device
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The precision the network runs in (OpenVINO reports float32 when the CPU lacks bf16)."""
        return self.backend.dtype

    @property
    def backend_name(self) -> str:
        return self.backend.name

    # -- facts about the model, for legends and status lines --------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        return self.meta.class_names

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        return self.meta.palette

    @property
    def has_guidance(self) -> bool:
        return self.model.config.guidance is not None

    @property
    def description(self) -> str:
        cfg = self.model.config
        name = self.path.name if self.path is not None else (self.meta.preset or "model")
        guidance = f"GUM ({cfg.guidance})" if cfg.guidance else "bilinear only"
        return f"{name}: {cfg.encoder}, {cfg.num_classes} classes, {guidance} | {self.device.type} {self.backend.name} {dtype_name(self.dtype)}"

    # -- inference --------------------------------------------------------------------------------
    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __call__(self, image: np.ndarray, probabilities: bool = False) -> FrameResult:
        """Segment one (H, W, 3) RGB uint8 frame; maps come back at H x W."""
        return self.decode(self.infer(image), probabilities)

    @torch.inference_mode()
    def infer(self, image: np.ndarray) -> Inferred:
        """The first half of `__call__`: the frame prepared and run through the network. A caller
        can do its own work on the other core while `decode` upsamples (the app scores so)."""
        timings: dict[str, float] = {}
        with _stage(timings, "preprocess", self._sync):
            prep = prepare(to_tensor(image, self.device), self.meta.mean, self.meta.std, self.model.input_multiple,
                           self.input_size)
        with _stage(timings, "inference", self._sync):
            low, low_offsets = self.backend.run(prep.x)
        out = GUNOutput(None, low.to(self.device), low_offsets.to(self.device) if low_offsets is not None else None)
        return Inferred(out, prep, timings)

    @torch.inference_mode()
    def decode(self, inferred: Inferred, probabilities: bool = False, beside: bool = True,
               bilinear: bool = True) -> FrameResult:
        """The second half of `__call__`: the labels (and the offsets) at the frame's size.
        `bilinear=False` skips the bilinear labels of a GUN (`labels_bilinear` is then None): the
        app decodes them only for the views that show them and for scoring.

        On a CPU the network has both cores but decoding is one thread's work, so a helper thread
        takes a share: the bilinear labels while this thread decodes the GUM's, or without them the
        GUM's top half of the rows. `beside=False` keeps everything on this thread, for a caller
        whose own work has the other core meanwhile."""
        model, out, prep = self.model, inferred.out, inferred.prep
        timings = dict(inferred.timings)
        helper = beside and self._core_to_spare()
        with _stage(timings, "upsampling", self._sync):
            # labels straight from the logits in label space where the source cells agree (exact)
            plain = None
            if bilinear or out.offsets is None:  # without guidance they are the GUM's too
                plain = self._start(helper, decode_labels, model, out, prep, "bilinear")
            offsets = frame_offsets(model, out, prep)  # (1, 2, H, W) or None
            placement = model.logits_grid.within(prep.target)
            labels_gum = None
            if offsets is not None and self.gum_mode == "nearest":
                labels_gum = guided_upsample_labels(channel_argmax(out.low_logits), offsets, placement)[0]
            elif offsets is not None:
                H = prep.size[0]
                split = H // 2 if helper and plain is None else 0  # rows the helper decodes (none of one row)
                top = self._start(True, decode_labels, model, out, prep, "gum", offsets, slice(0, split)) if split else None
                bottom = decode_labels(model, out, prep, "gum", offsets, slice(split, H))
                labels_gum = torch.cat([top()[0], bottom[0]]) if top is not None else bottom[0]
            labels_bilinear = plain()[0] if plain is not None else None
            probs = None
            if probabilities:
                probs = decode(model, out, prep, "gum", offsets, self.gum_mode).softmax(1)[0]
            result = FrameResult(
                labels_gum=_numpy_labels(labels_gum if labels_gum is not None else labels_bilinear),
                labels_bilinear=_numpy_labels(labels_bilinear) if labels_bilinear is not None else None,
                offsets=offsets[0].cpu().numpy() if offsets is not None else None,
                low_logits=out.low_logits[0].cpu().numpy(),
                low_grid=(placement.stride[1], placement.stride[0], placement.origin[1], placement.origin[0]),
                probabilities=probs.cpu().numpy() if probs is not None else None,
                gum_mode=self.gum_mode,
            )
        result.timings = timings
        return result

    def _core_to_spare(self) -> bool:
        """Whether a helper thread may decode beside this one: on a CPU where torch's team leaves a
        core free (the app's does: gun.runtime.device.leave_a_core_free). Two OpenMP teams sharing
        cores stall at their barriers."""
        return self.device.type == "cpu" and 2 * torch.get_num_threads() <= (os.cpu_count() or 1)

    def _start(self, on_helper: bool, fn: Callable[..., torch.Tensor], *args: object) -> Callable[[], torch.Tensor]:
        """fn(*args), on the helper thread or at once here; call the result for its value."""
        if not on_helper:
            value = fn(*args)
            return lambda: value
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="gun-decode")
        return self._helper.submit(_without_grad, fn, *args).result


class Inferred(NamedTuple):
    """One frame through the network, not yet decoded (Segmenter.infer)."""

    out: GUNOutput  # the low-resolution logits and offsets, float32 on the Segmenter's device
    prep: Prepared  # where the frame sits in the network's input
    timings: dict[str, float]  # ms: preprocess, inference


def _numpy_labels(labels: torch.Tensor | None) -> np.ndarray:
    assert labels is not None  # a GUN has GUM labels; a model without guidance has bilinear ones
    return labels.to(torch.uint8).cpu().numpy()


def _without_grad(fn: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
    with torch.inference_mode():  # inference mode is per thread
        return fn(*args)


@contextlib.contextmanager
def _stage(timings: dict[str, float], name: str, sync: Callable[[], None]) -> Iterator[None]:
    sync()
    t0 = time.perf_counter()
    yield
    sync()
    timings[name] = (time.perf_counter() - t0) * 1e3
