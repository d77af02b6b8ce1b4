"""The app as a user starts it: `python main.py` on a real X server (Xvfb), screenshot checked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, write_video


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
def test_main_on_xvfb_draws_frames_and_saves_a_screenshot(tmp_path: Path, checkpoint: Path) -> None:
    shot = tmp_path / "window.png"
    clip = write_video(tmp_path / "clip.avi", frames=30, size=(96, 128), fps=30)  # small and fast: a quick test
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # the real xcb platform
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "main.py", str(clip),
               "--weights", str(checkpoint), "--frames", "20", "--screenshot", str(shot)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drew 20 frames" in result.stdout
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] >= 600 and image.shape[1] >= 900
    # not blank: the video frame and the plots put thousands of colours on screen
    assert image.std() > 20
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000
    canvas = image[image.shape[0] // 4: image.shape[0] * 3 // 4, : image.shape[1] // 2]
    assert canvas.std() > 20
