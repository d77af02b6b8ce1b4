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
    with pytest.raises(RuntimeError), VideoSink(tmp_path / "new" / "deeper" / "o.mp4", 10, (128, 96)) as sink:
        assert (tmp_path / "new" / "deeper").is_dir()
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # nor the folders the sink made


def test_sample_video_is_bundled_and_intact() -> None:
    import hashlib

    sample = ROOT / "assets" / "vtest.avi"
    digest = hashlib.sha256(sample.read_bytes()).hexdigest()
    assert digest == "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
    with open_source(sample) as source:
        assert (source.frame_count, source.fps) == (795, 10.0)
        assert source.read().image.shape == (576, 768, 3)


# ---- issue 10: odd paths, damaged files, bounded frames and waits, verified writes -----------------

def test_odd_paths_get_their_own_message(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.mp4")
    os.symlink("b.mp4", tmp_path / "a.mp4")
    os.symlink("a.mp4", tmp_path / "b.mp4")
    os.symlink("gone.mp4", tmp_path / "dangling.mp4")
    (tmp_path / "file").write_bytes(b"x")
    for name, match in (("pipe.mp4", "named pipe"), ("a.mp4", "symbolic link loop"), ("dangling.mp4", "broken symbolic link"),
                        ("file/clip.mp4", "a part of the path is a file")):
        with pytest.raises(SourceError, match=match) as error:
            open_source(tmp_path / name)
        assert "\n" not in str(error.value)


def test_truncated_video_is_reported_with_frames_promised_and_decoded(tmp_path: Path) -> None:
    from conftest import write_video

    whole = write_video(tmp_path / "whole.avi", frames=30, size=(32, 48)).read_bytes()
    (tmp_path / "cut.avi").write_bytes(whole[: len(whole) // 3])
    with VideoFileSource(tmp_path / "cut.avi") as source:
        assert source.frame_count == 30
        with pytest.raises(SourceError, match=r"damaged .* promises 30 frames but only \d+ decode"):
            list(source)


def test_frames_above_the_limit_are_downscaled_on_read_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import write_video

    import gun.io.base

    monkeypatch.setattr(gun.io.base, "MAX_FRAME_PIXELS", 48 * 32)
    with VideoFileSource(write_video(tmp_path / "v.avi", frames=2, size=(64, 96))) as source:
        assert [f.image.shape for f in source] == [(32, 48, 3)] * 2
        assert source.notes == ["v.avi: 96x64 frames are larger than 0.0 MP and are processed at 48x32"]
    # an image with ground truth: the labels follow the pixels (nearest, no new classes)
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    cv2.imwrite(str(tmp_path / "val" / "a.png"), synthetic_frame(0, (64, 96)))
    labels = np.zeros((64, 96), np.uint8)
    labels[:, 48:] = 3
    cv2.imwrite(str(tmp_path / "valannot" / "a.png"), labels)
    frame = open_source(tmp_path / "val").read()
    assert frame.image.shape == (32, 48, 3) and frame.labels.shape == (32, 48)
    assert set(np.unique(frame.labels)) == {0, 3}


def test_image_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    from reliability_corpus import png_header_only

    (tmp_path / "bomb.png").write_bytes(png_header_only(30000, 30000))
    with pytest.raises(SourceError, match="too large to decode safely"):
        open_source(tmp_path / "bomb.png").read()


def test_missing_annotations_are_noted(tmp_path: Path) -> None:
    (tmp_path / "val").mkdir()
    (tmp_path / "valannot").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / "val" / name), synthetic_frame(0))
    cv2.imwrite(str(tmp_path / "valannot" / "a.png"), np.zeros((96, 128), np.uint8))
    source = open_source(tmp_path / "val")
    assert source.notes == ["1 of 2 images have no annotation in valannot/ (first: b.png): they are shown and scored without ground truth"]
    assert [f.labels is None for f in source] == [False, True]


class _Blocked(FrameSource):
    """A source whose read never returns (a camera stuck in its driver)."""

    name = "stuck camera"
    live = True

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def read(self) -> Frame | None:
        self.release.wait(30)
        return None


def test_prefetcher_stop_is_bounded_when_the_source_blocks() -> None:
    import time

    source = _Blocked()
    reader = Prefetcher(source, join_timeout=0.2).start()
    t0 = time.perf_counter()
    assert reader.stop() is False  # did not end: abandoned, not waited for
    assert time.perf_counter() - t0 < 2
    with pytest.raises(SourceError, match="did not answer"):
        reader.start().seek(0)
    source.release.set()
    assert Prefetcher(_Counting(3), join_timeout=5).start().stop() is True


def test_video_sink_refuses_a_file_that_does_not_read_back(tmp_path: Path) -> None:
    from gun.io.sinks import verify_video

    out = tmp_path / "ok.mp4"
    with VideoSink(out, 10, (48, 32)) as sink:
        for i in range(5):
            sink.write(synthetic_frame(i, (32, 48)))
    verify_video(out, 5)
    with pytest.raises(OSError, match=r"does not read back \(5 of 6 frames\)"):
        verify_video(out, 6)
    (tmp_path / "cut.mp4").write_bytes(out.read_bytes()[:-200])
    with pytest.raises(OSError, match="disk full"):
        verify_video(tmp_path / "cut.mp4", 5)


def test_video_sink_removes_stale_partials_of_its_target_only(tmp_path: Path) -> None:
    stale = tmp_path / ".out.999999999-0badf00d.partial.mp4"
    other = tmp_path / ".other.999999999-0badf00d.partial.mp4"
    stale_csv = tmp_path / ".out.999999999-0badf00d.partial.csv"
    for p in (stale, other, stale_csv):
        p.write_bytes(b"left by a killed export")
    with VideoSink(tmp_path / "out.mp4", 10, (48, 32), sidecar=tmp_path / "out.csv") as sink:
        sink.write(synthetic_frame(0, (32, 48)), {"frame": 0})
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "out.csv", "out.mp4"]


def test_check_output_refuses_inputs_folders_and_unwritable_places(tmp_path: Path) -> None:
    from gun.io.files import OutputError, check_output

    source = tmp_path / "in.mp4"
    source.write_bytes(b"video")
    (tmp_path / "link.mp4").symlink_to(source)
    (tmp_path / "dir.mp4").mkdir()
    for out, match in ((source, "is the input"), (tmp_path / "link.mp4", "is the input"), (tmp_path / "." / "in.mp4", "is the input"),
                       (tmp_path / "dir.mp4", "is a folder"), (source / "x.mp4", "is a file, not a folder"),
                       (Path("/proc/self/x.mp4"), "cannot write there")):
        with pytest.raises(OutputError, match=match):
            check_output(out, [source])
    assert check_output(tmp_path / "new" / "deeper" / "o.mp4", [source]) == tmp_path / "new" / "deeper" / "o.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.mp4", "in.mp4", "link.mp4"]  # nothing created by the check
    assert source.read_bytes() == b"video"


def test_atomic_write_leaves_the_target_and_no_partial_on_error(tmp_path: Path) -> None:
    from gun.io.files import atomic_write, atomic_write_text

    target = tmp_path / "state.json"
    atomic_write_text(target, "old")

    def fails(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic_write(target, fails)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_video_module_re_exports_the_split_modules() -> None:
    from gun.io import base, folders, prefetch, sinks, sources, video

    assert video.Frame is base.Frame and video.open_source is sources.open_source and video.VideoSink is sinks.VideoSink
    assert video.Prefetcher is prefetch.Prefetcher and video.ImageFolderSource is folders.ImageFolderSource
    for module in (base, folders, prefetch, sinks, sources, video):
        assert len(Path(module.__file__).read_text().splitlines()) <= 400


def test_a_very_large_image_is_read_downscaled_within_the_limit(tmp_path: Path) -> None:
    """Issue 10, item 5: a 10000 x 10000 still grew the app to 15.5 GB, a 4000 x 3000 video was slow; frames are bounded on read."""
    from gun.io.base import MAX_FRAME_PIXELS

    big = np.zeros((3000, 4000, 3), np.uint8)
    big[:, 2000:] = (0, 0, 255)  # BGR red on the right half
    cv2.imwrite(str(tmp_path / "big.png"), big)
    source = open_source(tmp_path / "big.png")
    frame = source.read()
    h, w = frame.image.shape[:2]
    assert h * w <= MAX_FRAME_PIXELS and abs(w / h - 4000 / 3000) < 0.01
    assert tuple(frame.image[h // 2, w - 10]) == (255, 0, 0) and tuple(frame.image[h // 2, 10]) == (0, 0, 0)
    assert source.notes == [f"big.png: 4000x3000 frames are larger than 8.3 MP and are processed at {w}x{h}"]
