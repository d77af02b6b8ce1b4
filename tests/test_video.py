"""Frame sources and the atomic video sink."""

from __future__ import annotations

import csv
import queue
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import synthetic_frame

from gun.io import sources
from gun.io.video import (
    CameraSource,
    CityscapesFolderSource,
    Frame,
    FrameSource,
    ImageFolderSource,
    ImageSource,
    Prefetcher,
    SourceError,
    VideoFileSource,
    VideoSink,
    list_cameras,
    open_source,
)

ROOT = Path(__file__).resolve().parent.parent


def test_video_file_reads_rgb_frames_with_fps_and_count(video: Path) -> None:
    with VideoFileSource(video) as source:
        assert source.fps == pytest.approx(10.0)
        assert source.frame_count == 12
        frames = list(source)
    assert len(frames) == 12
    assert [f.index for f in frames] == list(range(12))
    assert frames[3].timestamp == pytest.approx(0.3)
    assert frames[0].image.shape == (96, 128, 3) and frames[0].image.dtype == np.uint8
    # RGB order: the synthetic frame's red channel grows left to right
    expected = synthetic_frame(0)
    assert np.abs(frames[0].image.astype(int) - expected).mean() < 6
    assert frames[0].labels is None


def test_video_seek_gives_the_same_frame_as_reading_through(video: Path) -> None:
    with VideoFileSource(video) as source:
        frames = [f.image for f in source]
        source.seek(7)
        frame = source.read()
        assert frame.index == 7
        assert np.array_equal(frame.image, frames[7])
        source.seek(0)
        assert np.array_equal(source.read().image, frames[0])
        source.seek(1000)  # clamps to the last frame
        assert source.read().index == 11


def test_file_that_opens_but_decodes_nothing_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AV1 files open with this OpenCV but return no frames: say so instead of playing nothing."""

    class NoFrames:
        def __init__(self, *args: object) -> None:
            pass

        def isOpened(self) -> bool:
            return True

        def get(self, prop: int) -> float:
            return 24.0 if prop == cv2.CAP_PROP_FPS else 100.0

        def read(self) -> tuple[bool, None]:
            return False, None

        def release(self) -> None:
            pass

    path = tmp_path / "av1.mp4"
    path.write_bytes(b"\0" * 64)
    monkeypatch.setattr(sources.cv2, "VideoCapture", NoFrames)
    with pytest.raises(SourceError, match="gave no frames") as error:
        VideoFileSource(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, content, match", [
    ("missing.mp4", None, "no such"),
    ("notes.txt", b"not a video at all", "cannot open notes.txt"),
    ("model.safetensors", b"{}", "weights file"),
    ("broken.png", b"not a png", "cannot read image"),
])
def test_bad_sources_fail_with_one_line(tmp_path: Path, name: str, content: bytes | None, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=match) as error:
        source = open_source(path)
        source.read()
    assert "\n" not in str(error.value)


def test_image_and_folder_sources(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in (2, 0, 1):
        cv2.imwrite(str(folder / f"img_{i}.png"), cv2.cvtColor(synthetic_frame(i), cv2.COLOR_RGB2BGR))
    (folder / "readme.txt").write_text("ignored")
    image = open_source(folder / "img_1.png")
    assert isinstance(image, ImageSource) and image.frame_count == 1
    assert np.array_equal(image.read().image, synthetic_frame(1))
    assert image.read() is None
    source = open_source(folder)
    assert isinstance(source, ImageFolderSource) and source.frame_count == 3
    names = [f.name for f in source]
    assert names == ["img_0.png", "img_1.png", "img_2.png"]
    source.seek(2)
    assert np.array_equal(source.read().image, synthetic_frame(2))


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)


def test_camvid_layout_folder_has_ground_truth(tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    cv2.imwrite(str(tmp_path / "val" / "a.png"), synthetic_frame(0))
    labels = np.array([[0, 3], [10, 11]], np.uint8).repeat(48, 0).repeat(64, 1)
    cv2.imwrite(str(tmp_path / "valannot" / "a.png"), labels)
    frame = open_source(tmp_path / "val").read()
    assert frame.labels is not None and frame.labels.shape == (96, 128)
    assert frame.labels[0, 0] == 0 and frame.labels[0, -1] == 3 and frame.labels[-1, 0] == 10
    assert frame.labels[-1, -1] == 255  # Void is ignored


def test_cityscapes_folder_maps_label_ids_to_train_ids(tmp_path: Path) -> None:
    city = tmp_path / "leftImg8bit" / "val" / "lindau"
    gt = tmp_path / "gtFine" / "val" / "lindau"
    city.mkdir(parents=True)
    gt.mkdir(parents=True)
    for name in ("lindau_000001_000019", "lindau_000000_000019"):
        cv2.imwrite(str(city / f"{name}_leftImg8bit.png"), synthetic_frame(0, (64, 128)))
    label_ids = np.zeros((64, 128), np.uint8)
    label_ids[:, :32] = 7  # road -> 0
    label_ids[:, 32:64] = 26  # car -> 13
    label_ids[:, 64:96] = 24  # person -> 11
    cv2.imwrite(str(gt / "lindau_000000_000019_gtFine_labelIds.png"), label_ids)
    for spec in (tmp_path, tmp_path / "leftImg8bit" / "val"):
        source = open_source(spec)
        assert isinstance(source, CityscapesFolderSource)
        first, second = list(source)
        assert first.name == "lindau_000000_000019_leftImg8bit.png"
        assert second.labels is None  # no gtFine file for this one
        assert first.labels[0, 0] == 0 and first.labels[0, 40] == 13 and first.labels[0, 70] == 11
        assert first.labels[0, 100] == 255  # unlabeled


def test_camera_that_does_not_open_says_so_in_one_line() -> None:
    with pytest.raises(SourceError, match="camera 63 is not available") as error:
        CameraSource(63)
    assert "\n" not in str(error.value)
    with pytest.raises(SourceError, match="camera 62"):
        open_source("camera:62")
    with pytest.raises(SourceError, match="bad camera"):
        open_source("webcam:front")
    assert isinstance(list_cameras(2), list)


def test_file_backed_camera_is_live_and_reports_its_end(video: Path) -> None:
    camera = CameraSource(video)
    assert camera.live and not camera.seekable and camera.frame_count is None
    frames = [camera.read() for _ in range(12)]
    assert frames[-1].index == 11
    with pytest.raises(SourceError, match="stopped delivering frames"):
        camera.read()
    camera.close()


class _Counting(FrameSource):
    def __init__(self, n: int, live: bool = False, fail_at: int | None = None) -> None:
        self.n, self.live, self.fail_at, self.i, self.name = n, live, fail_at, 0, "counting"

    def read(self) -> Frame | None:
        if self.fail_at is not None and self.i == self.fail_at:
            raise SourceError("camera unplugged")
        if self.i >= self.n:
            return None
        self.i += 1
        return Frame(np.zeros((4, 4, 3), np.uint8), self.i - 1, 0.0)


def test_prefetcher_delivers_in_order_then_none() -> None:
    reader = Prefetcher(_Counting(7)).start()
    got = []
    while (item := reader.get(timeout=5)) is not None:
        got.append(item[0].index)
        assert item[1] >= 0  # decode ms
    assert got == list(range(7))
    assert reader.get(timeout=5) is None
    reader.stop()


def test_prefetcher_drops_stale_frames_of_live_sources_and_passes_errors() -> None:
    reader = Prefetcher(_Counting(1000, live=True, fail_at=50)).start()
    with pytest.raises(SourceError, match="unplugged"):
        for _ in range(1000):
            if reader.get(timeout=5) is None:
                break
    assert reader.dropped > 0
    reader.stop()
    with pytest.raises(queue.Empty):
        Prefetcher(_Counting(0)).get(timeout=0.01)  # never started: nothing arrives


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


def test_video_sink_round_trip_with_sidecar(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "out.mp4"
    with VideoSink(out, fps=12, size=(128, 96), sidecar=out.with_suffix(".csv")) as sink:
        assert not out.exists()  # only the temporary file exists while writing
        for i in range(9):
            sink.write(synthetic_frame(i), {"frame": i, "inference_ms": 1.5 * i})
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (128, 96)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12)
    ok, first = cap.read()
    assert ok and np.abs(cv2.cvtColor(first, cv2.COLOR_BGR2RGB).astype(int) - synthetic_frame(0)).mean() < 8
    cap.release()
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == 9 and rows[2]["inference_ms"] == "3.0"
    assert _leftovers(out.parent) == []


def test_video_sink_pads_odd_sizes_instead_of_rescaling(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    frame = synthetic_frame(0, (75, 101))
    with VideoSink(out, 10, (101, 75)) as sink:
        sink.write(frame)
    cap = cv2.VideoCapture(str(out))
    ok, image = cap.read()
    assert ok and image.shape == (76, 102, 3)
    assert np.abs(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)[:75, :101].astype(int) - frame).mean() < 8


def test_video_sink_leaves_nothing_on_error_or_cancel(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoSink(out, 10, (128, 96), sidecar=tmp_path / "out.csv") as sink:
        sink.write(synthetic_frame(0), {"frame": 0})
        raise RuntimeError("boom")
    with VideoSink(out, 10, (128, 96)) as sink:
        sink.write(synthetic_frame(0))
        sink.cancel()
    with pytest.raises(ValueError, match="expects 128x96"), VideoSink(out, 10, (128, 96)) as sink:
        sink.write(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames"), VideoSink(out, 10, (128, 96)):
        pass
    assert list(tmp_path.iterdir()) == []


def test_sample_video_is_bundled_and_intact() -> None:
    import hashlib

    sample = ROOT / "assets" / "vtest.avi"
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert digest == "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
    with open_source(sample) as source:
        assert (source.frame_count, source.fps) == (795, 10.0)
        assert source.read().image.shape == (576, 768, 3)
