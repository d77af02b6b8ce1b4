"""The one checkpoint format: a safetensors file whose header carries JSON metadata.

The metadata (under the header key "gun") holds everything needed to rebuild and use the model:
the config (preset, encoder, classes, scales...), class names and colours, input normalisation,
training resolution, dataset, measured metrics, the command that trained it and a licence note.
Loading never unpickles anything: safetensors holds raw tensors only.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gun.nn.config import GUNConfig
from gun.nn.model import GUN, build_model

FORMAT = "gun-checkpoint"
VERSION = 1


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
        if d.pop("format", None) != FORMAT:
            raise ValueError("not a GUN checkpoint")
        if d.pop("version", None) != VERSION:
            raise ValueError(f"unsupported checkpoint version (this gun reads version {VERSION})")
        cfg = d.pop("config")
        cfg = GUNConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
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
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"gun": meta.to_json()})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_meta(path: str | Path) -> CheckpointMeta:
    """The metadata alone, without reading the tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
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


def release(src: str | Path, dst: str | Path, metrics: dict[str, Any] | None = None) -> CheckpointMeta:
    """Copy a training checkpoint to a lean float16 release, merging measured metrics into its metadata."""
    model, meta = load_model(src)
    meta = replace(meta, metrics={**meta.metrics, **(metrics or {})})
    save_checkpoint(dst, model, meta, dtype=torch.float16)
    return meta
