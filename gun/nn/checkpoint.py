"""The one checkpoint format: a safetensors file whose header carries JSON metadata.

The metadata (under the header key "gun") holds everything needed to rebuild and use the model:
the config (preset, encoder, classes, scales...), class names and colours, input normalisation,
training resolution, dataset, measured metrics, the command that trained it and a licence note.
Loading never unpickles anything: safetensors holds raw tensors only. The metadata is checked
field by field (types, ranges, sizes) before any model is built, so a hostile file cannot make
the loader allocate gigabytes; weights that are not finite are refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gun.io.files import atomic_write, path_problem
from gun.nn.config import GUNConfig
from gun.nn.model import GUN, build_model

FORMAT = "gun-checkpoint"
VERSION = 1
MAX_CLASSES = 255  # labels are uint8 and 255 is the ignore value
MAX_WIDTH = 2048  # widest postproc or guidance layer a checkpoint may ask for
MAX_SIDE = 16384  # largest train_size / input_size side


class CheckpointError(ValueError):
    """A file that is not a valid GUN checkpoint; the message is one line saying why."""


@dataclass(frozen=True)
class CheckpointMeta:
    config: GUNConfig
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]  # RGB per class
    mean: tuple[float, float, float]  # x = (rgb / 255 - mean) / std
    std: tuple[float, float, float]
    preset: str = ""
    train_size: tuple[int, int] | None = None  # (H, W) of the dataset's frames
    # (H, W) the model runs at: frames are resized to this area, keeping their aspect ratio
    # (gun.runtime.frames.inference_size); None = at each frame's own size
    input_size: tuple[int, int] | None = None
    dataset: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = ""
    command: str = ""

    def __post_init__(self) -> None:
        n = self.config.num_classes
        if len(self.class_names) != n or len(self.palette) != n:
            raise ValueError(f"{n} classes but {len(self.class_names)} names and {len(self.palette)} colours")

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps({"format": FORMAT, "version": VERSION, **d})

    @classmethod
    def from_json(cls, text: str) -> CheckpointMeta:
        d = json.loads(text)
        if not isinstance(d, dict) or d.pop("format", None) != FORMAT:
            raise ValueError("not a GUN checkpoint")
        if d.pop("version", None) != VERSION:
            raise ValueError(f"unsupported checkpoint version (this gun reads version {VERSION})")
        validate_meta(d)
        cfg = d.pop("config")
        # validated by validate_meta above; JSON lists become the config's tuples
        cfg_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
        cfg = GUNConfig(**cfg_fields)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown metadata fields {sorted(unknown)}")
        d["class_names"] = tuple(d["class_names"])
        d["palette"] = tuple(tuple(int(c) for c in rgb) for rgb in d["palette"])
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        for key in ("train_size", "input_size"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(config=cfg, **d)


def save_checkpoint(path: str | Path, model: GUN, meta: CheckpointMeta, dtype: torch.dtype | None = None) -> None:
    """Write model weights (optionally cast, e.g. float16) with meta; atomic: no half-written file."""
    if meta.config != model.config:
        raise ValueError("metadata config differs from the model's config")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"gun": meta.to_json()}))


def read_meta(path: str | Path) -> CheckpointMeta:
    """The metadata alone, without reading the tensors."""
    path = Path(path)
    problem = path_problem(path, "checkpoint file")
    if problem is not None:
        raise CheckpointError(f"{path}: no such file" if problem.startswith("no such") else problem)
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 0 < n <= 100_000_000:
                raise ValueError("bad header length")
            header = json.loads(f.read(n))
        text = header["__metadata__"]["gun"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: not a GUN checkpoint (expected a .safetensors file written by gun train)") from None
    try:
        return CheckpointMeta.from_json(text)
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: invalid GUN checkpoint metadata: {e}") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[GUN, CheckpointMeta]:
    """Rebuild the model from the file alone; refuse anything that is not a matching checkpoint."""
    meta = read_meta(path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint ({str(e).splitlines()[0]})") from None
    check_finite(state, path)
    model = build_model(meta.config)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{path}: tensors do not match its config ({len(missing)} missing, {len(extra)} unexpected; {what})")
    for k, v in own.items():
        if state[k].shape != v.shape:
            raise CheckpointError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, config expects {tuple(v.shape)}")
    # cast back to the model's dtypes (weights may be stored as float16)
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own}, strict=True)
    return model.to(device).eval(), meta


def check_finite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Refuse NaN or infinite weights and negative BatchNorm variances: they load, then paint one class everywhere."""
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{path}: tensor {name} holds NaN or infinite values: the weights are broken (retrain or use another file)")
        if name.endswith("running_var") and bool((t < 0).any()):
            raise CheckpointError(f"{path}: tensor {name} has negative variances: the weights are broken")


def _fail(field_name: str, what: str, value: object) -> NoReturn:
    text = repr(value)
    raise ValueError(f"{field_name} must be {what}, got {text[:60]}{'...' if len(text) > 60 else ''}")


def _int(v: object, lo: int, hi: int, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        _fail(name, f"an integer in {lo}..{hi}", v)
    return v


def _number(v: object, name: str, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (positive and v <= 0):
        _fail(name, "a finite positive number" if positive else "a finite number", v)
    return float(v)


def _list(v: object, name: str, lo: int, hi: int) -> list:
    if not isinstance(v, list) or not lo <= len(v) <= hi:
        _fail(name, f"a list of {lo}..{hi} entries", v)
    return v


def _string(v: object, name: str, limit: int = 100_000) -> str:
    if not isinstance(v, str) or len(v) > limit:
        _fail(name, f"a string of at most {limit} characters", v)
    return v


def validate_meta(d: dict[str, Any]) -> None:
    """Check the metadata's types, ranges and sizes (ValueError naming the first bad field), so that
    nothing a model is built from is trusted unchecked: widths are bounded (a `postproc` of 40000
    channels would allocate gigabytes), colours are bytes, the normalisation is finite with std > 0."""
    cfg = d.get("config")
    if not isinstance(cfg, dict):
        _fail("config", "an object", cfg)
    unknown = set(cfg) - {f.name for f in fields(GUNConfig)}
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    n = _int(cfg.get("num_classes", 19), 1, MAX_CLASSES, "config.num_classes")
    for key in ("encoder", "fusion"):
        if key in cfg:
            _string(cfg[key], f"config.{key}", 100)
    if cfg.get("guidance") is not None:
        _string(cfg["guidance"], "config.guidance", 100)
    if "shared" in cfg and not isinstance(cfg["shared"], bool):
        _fail("config.shared", "true or false", cfg["shared"])
    if "scales" in cfg:
        for i, s in enumerate(_list(cfg["scales"], "config.scales", 1, 4)):
            _number(s, f"config.scales[{i}]", positive=True)
    if "postproc" in cfg:
        for i, w in enumerate(_list(cfg["postproc"], "config.postproc", 0, 4)):
            _int(w, 1, MAX_WIDTH, f"config.postproc[{i}]")
    if "guidance_channels" in cfg:
        _int(cfg["guidance_channels"], 1, MAX_WIDTH, "config.guidance_channels")
    if "guidance_pool" in cfg:
        _int(cfg["guidance_pool"], 1, 4, "config.guidance_pool")
    if "guidance_subpixel" in cfg and not isinstance(cfg["guidance_subpixel"], bool):
        _fail("config.guidance_subpixel", "true or false", cfg["guidance_subpixel"])
    if "offset_bound" in cfg:
        _number(cfg["offset_bound"], "config.offset_bound", positive=True)
    names = _list(d.get("class_names"), "class_names", n, n)
    for i, name in enumerate(names):
        _string(name, f"class_names[{i}]", 200)
    for i, rgb in enumerate(_list(d.get("palette"), "palette", n, n)):
        for c in _list(rgb, f"palette[{i}]", 3, 3):
            _int(c, 0, 255, f"palette[{i}] entries")
    for key in ("mean", "std"):
        for i, v in enumerate(_list(d.get(key), key, 3, 3)):
            _number(v, f"{key}[{i}]", positive=key == "std")
    for key in ("train_size", "input_size"):
        if d.get(key) is not None:
            for v in _list(d[key], key, 2, 2):
                _int(v, 1, MAX_SIDE, f"{key} sides")
    for key in ("preset", "dataset", "licence", "command"):
        if key in d:
            _string(d[key], key)
    if "metrics" in d and not isinstance(d["metrics"], dict):
        _fail("metrics", "an object", d["metrics"])


def release(src: str | Path, dst: str | Path, metrics: dict[str, Any] | None = None) -> CheckpointMeta:
    """Copy a training checkpoint to a lean float16 release, merging measured metrics into its metadata."""
    model, meta = load_model(src)
    meta = replace(meta, metrics={**meta.metrics, **(metrics or {})})
    save_checkpoint(dst, model, meta, dtype=torch.float16)
    return meta
