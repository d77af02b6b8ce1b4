"""The frame sources, prefetcher and sink under their former module name (re-exports only).

New code imports from the modules that define them: gun.io.base (Frame, FrameSource, SourceError,
read_image), gun.io.sources (video files, cameras, open_source), gun.io.folders (images, dataset
folders), gun.io.prefetch (Prefetcher) and gun.io.sinks (VideoSink).
"""

from gun.io.base import (
    IMAGE_EXTENSIONS,
    MAX_FRAME_PIXELS,
    VIDEO_EXTENSIONS,
    WEIGHTS_EXTENSIONS,
    Frame,
    FrameSource,
    SourceError,
    read_image,
    read_label_map,
)
from gun.io.folders import CityscapesFolderSource, ImageFolderSource, ImageSource, cityscapes_label_path, is_cityscapes_folder
from gun.io.prefetch import Prefetcher
from gun.io.sinks import VideoSink
from gun.io.sources import CameraSource, VideoFileSource, camera_index, list_cameras, open_source

__all__ = [
    "IMAGE_EXTENSIONS", "MAX_FRAME_PIXELS", "VIDEO_EXTENSIONS", "WEIGHTS_EXTENSIONS", "CameraSource", "CityscapesFolderSource",
    "Frame", "FrameSource", "ImageFolderSource", "ImageSource", "Prefetcher", "SourceError", "VideoFileSource", "VideoSink",
    "camera_index", "cityscapes_label_path", "is_cityscapes_folder", "list_cameras", "open_source", "read_image", "read_label_map",
]
