"""Shared fixtures. Qt runs offscreen in every test (set before any QApplication exists); tests
write only under pytest's tmp dirs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cv2
import numpy as np
import pytest

CLASS_NAMES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist")


def synthetic_frame(index: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """(H, W, 3) RGB: a gradient with a bright square that moves one step per frame."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    frame = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, 80)], axis=-1).astype(np.uint8)
    s = max(h // 4, 4)
    x0 = (index * 5) % max(w - s, 1)
    frame[h // 3: h // 3 + s, x0: x0 + s] = (250, 250, 40)
    return frame


def write_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 128), fps: float = 10.0,
                fourcc: str = "MJPG") -> Path:
    """A small test video (MJPG .avi by default: exact frame counts and seeking)."""
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for i in range(frames):
        writer.write(cv2.cvtColor(synthetic_frame(i, size), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def calibrated_model(config, seed: int = 0, calibration: tuple[int, int, int] = (4, 128, 128),
                     offset_bias: tuple[float, float] | None = (0.5, -0.4)):
    """A model with random weights that still behaves like a segmenter: BatchNorm statistics
    calibrated on noise (freshly initialised running statistics make a random network's output
    spatially constant, one class everywhere; calibrated ones do not), and, with guidance, an offset
    head with non-zero weights (and `offset_bias`) so that GUM and bilinear decoding differ.
    `calibration`: (batch, height, width) of the noise, sides multiples of the model's input_multiple."""
    import torch

    from gun.nn.model import build_model

    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # cumulative average
        model.train()
        batch, h, w = calibration
        model(torch.rand(batch, 3, h, w) * 4 - 2)
        if model.guidance is not None:
            torch.nn.init.normal_(model.guidance.head.conv.weight, std=0.1)
            if offset_bias is not None:
                bias = model.guidance.head.conv.bias  # 2 channels, or 2 * r * r before a pixel shuffle (c * r * r + k -> c)
                bias.copy_(torch.tensor(offset_bias).repeat_interleave(bias.numel() // 2))
    return model.eval()


def make_checkpoint(path: Path, guidance: bool = True, seed: int = 0, class_names: tuple[str, ...] = CLASS_NAMES,
                    palette: tuple[tuple[int, int, int], ...] | None = None, input_size: tuple[int, int] | None = None) -> Path:
    """A checkpoint of `calibrated_model` through the library's own save function."""
    from gun.nn.checkpoint import CheckpointMeta, save_checkpoint
    from gun.nn.config import preset

    config = preset("gun" if guidance else "bilinear", encoder="efficientnet_lite0", num_classes=len(class_names))
    model = calibrated_model(config, seed)
    if palette is None:
        palette = tuple((37 * i % 256, 91 * i % 256, 53 * i % 256) for i in range(1, len(class_names) + 1))
    meta = CheckpointMeta(config, tuple(class_names), tuple(palette), model.mean, model.std, preset=config.guidance or "bilinear",
                          input_size=input_size, dataset="random (tests)", licence="test weights")
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("weights") / "tiny_gun.safetensors")


@pytest.fixture(scope="session")
def checkpoint_bilinear(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("weights") / "tiny_bilinear.safetensors", guidance=False)


@pytest.fixture(scope="session")
def segmenter(checkpoint: Path):
    from gun.runtime.segmenter import Segmenter

    return Segmenter.from_checkpoint(checkpoint, device="cpu")


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.avi")


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread per test: the tests' tensors are tiny, and on a busy 2-core machine two
    OpenMP threads waiting on each other make a small forward pass up to 100x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
