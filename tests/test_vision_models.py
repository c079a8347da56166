"""Prepared vision model files: a missing or corrupt one is named in the error and the status, the others still load."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.assets import cache_dir
from engine.model_files import ModelFilesError
from engine.vision import models
from engine.vision.detector import ObjectDetector
from tests.vision_support import require


@pytest.fixture
def copied_cache(tmp_path, monkeypatch):
    """A private cache holding copies of the prepared detector and face models (with their markers)."""
    require("detector")
    require("face")
    sources = {key: models.model_path(key) for key in ("detector", "face")}
    monkeypatch.setenv("OMNISTREAM_CACHE", str(tmp_path))
    for path in sources.values():
        shutil.copy2(path, cache_dir("vision") / path.name)
        shutil.copy2(path.with_name(path.name + ".verified.json"), cache_dir("vision"))
    return cache_dir("vision")


def test_corrupt_model_is_named_and_the_others_keep_working(copied_cache):
    onnx_file = copied_cache / "nanodet.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(ModelFilesError, match=r"nanodet\.onnx is corrupt"):
        ObjectDetector.load()
    assert models.session("face") is not None
    status = {s.backend: s for s in models.describe_vision_assets()}
    assert not status["vision.detector"].ready and "nanodet.onnx" in status["vision.detector"].detail
    assert status["vision.face"].ready


def test_missing_model_says_how_to_prepare_it(copied_cache):
    (copied_cache / "nanodet.onnx").unlink()
    with pytest.raises(ModelFilesError, match=r"missing: .*nanodet\.onnx.*install\.sh"):
        ObjectDetector.load()


def test_garbage_with_a_matching_marker_fails_to_load_naming_the_file(copied_cache):
    onnx_file = copied_cache / "nanodet.onnx"
    onnx_file.write_bytes(b"not an onnx model")
    marker = onnx_file.with_name("nanodet.onnx.verified.json")
    marker.write_text(json.dumps({"sha256": models.file_sha256(onnx_file)}))
    with pytest.raises(ModelFilesError, match=r"nanodet\.onnx does not load"):
        ObjectDetector.load()
