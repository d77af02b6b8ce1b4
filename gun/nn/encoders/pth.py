"""Reading the official ImageNet .pth files: tensors only, never arbitrary pickled objects."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import Tensor


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A plain state_dict from a .pth file, read with weights_only=True (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: refused, not a plain tensor state_dict ({first[:120]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: refused, not a plain tensor state_dict")
    return state
