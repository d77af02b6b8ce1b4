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


def make_checkpoint(path: Path, guidance: bool = True, seed: int = 0) -> Path:
    """A checkpoint with random weights through the library's own save function. With guidance
    the offset head gets non-zero weights so that GUM and bilinear decoding differ."""
    import torch

    from gun.nn.checkpoint import CheckpointMeta, save_checkpoint
    from gun.nn.config import preset
    from gun.nn.model import build_model

    torch.manual_seed(seed)
    config = preset("gun" if guidance else "bilinear", encoder="efficientnet_lite0", num_classes=len(CLASS_NAMES))
    model = build_model(config)
    with torch.no_grad():
        # calibrate BatchNorm on noise: freshly initialised running statistics make the random
        # network's output spatially constant (one class everywhere); calibrated ones do not
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # cumulative average
        model.train()
        model(torch.rand(4, 3, 128, 128) * 4 - 2)  # sides: multiples of model.input_multiple
        model.eval()
        if guidance:
            torch.nn.init.normal_(model.guidance.head.conv.weight, std=0.1)
            model.guidance.head.conv.bias.copy_(torch.tensor([0.5, -0.4]))
    palette = tuple((37 * i % 256, 91 * i % 256, 53 * i % 256) for i in range(1, len(CLASS_NAMES) + 1))
    meta = CheckpointMeta(config, CLASS_NAMES, palette, model.mean, model.std, preset=config.guidance or "bilinear",
                          dataset="random (tests)", licence="test weights")
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
