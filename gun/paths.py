"""Where the repository keeps what ships with it: the trained weights and the sample media."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "weights"
ASSETS = ROOT / "assets"
DEFAULT_WEIGHTS = WEIGHTS / "gun_effnet_camvid.safetensors"  # the app's and `gun annotate`'s default
TWIN_WEIGHTS = WEIGHTS / "bilinear_effnet_camvid.safetensors"  # the same network without guidance
