"""The app as a user starts it: `python main.py` on a real X server (Xvfb), screenshot checked,
and the window fitted to a 1366x768 screen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT, write_video

needs_xvfb = pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (apt-get install xvfb xauth)")
X_ENV = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # the real xcb platform


@needs_xvfb
def test_main_on_xvfb_draws_frames_and_saves_a_screenshot(tmp_path: Path, checkpoint: Path) -> None:
    shot = tmp_path / "window.png"
    clip = write_video(tmp_path / "clip.avi", frames=30, size=(96, 128), fps=30)  # small and fast: a quick test
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "main.py", str(clip),
               "--weights", str(checkpoint), "--frames", "20", "--screenshot", str(shot)]
    result = subprocess.run(command, cwd=ROOT, env=X_ENV, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drew 20 frames" in result.stdout
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] >= 600 and image.shape[1] >= 900
    # not blank: the video frame and the plots put thousands of colours on screen
    assert image.std() > 20
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 1000
    canvas = image[image.shape[0] // 4: image.shape[0] * 3 // 4, image.shape[1] // 5: image.shape[1] * 3 // 5]
    assert canvas.std() > 20


PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication, QToolButton
import main
app = QApplication(sys.argv[:1])
window = main.create_window(main.parse_args(sys.argv[1:]))
def done():
    screen, frame = window.screen().availableGeometry(), window.frameGeometry()
    hidden = [bar.windowTitle() for bar in window.toolbars
              if any(b.isVisible() for b in bar.findChildren(QToolButton, "qt_toolbar_ext_button"))]
    window.grab().save(sys.argv[sys.argv.index("--screenshot") + 1])
    print(json.dumps({"screen": screen.getRect(), "frame": frame.getRect(), "overflowing_toolbars": hidden,
                      "plot": [window.performance.fps_plot.width(), window.performance.fps_plot.height()],
                      "canvas": [window.canvas.width(), window.canvas.height()], "drawn": window.frames_drawn}))
    window.close()
window.framesLimitReached.connect(done)
app.exec()
window.shutdown()
"""


@needs_xvfb
def test_the_whole_window_is_on_a_1366x768_screen(tmp_path: Path, checkpoint: Path, checkpoint_bilinear: Path) -> None:
    weights = tmp_path / "gun_effnet_camvid.safetensors"  # with its twin beside it, as shipped
    shutil.copy(checkpoint, weights)
    shutil.copy(checkpoint_bilinear, tmp_path / "bilinear_effnet_camvid.safetensors")
    shot = tmp_path / "window.png"
    command = ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", sys.executable, "-c", PROBE,
               "--weights", str(weights), "--view", "side-by-side", "--frames", "4", "--screenshot", str(shot)]
    result = subprocess.run(command, cwd=ROOT, env=X_ENV, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    sx, sy, sw, sh = facts["screen"]
    fx, fy, fw, fh = facts["frame"]
    assert (sw, sh) == (1366, 768)
    assert sx <= fx and sy <= fy and fx + fw <= sx + sw and fy + fh <= sy + sh, facts
    assert facts["overflowing_toolbars"] == [], facts
    assert facts["plot"][0] >= 170 and facts["plot"][1] >= 95 and facts["canvas"][0] >= 600, facts
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (fh, fw)
    assert image.std() > 20
